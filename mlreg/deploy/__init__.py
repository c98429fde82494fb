"""Deployment platforms: where a registered model's target method runs.

``base`` defines the backend interface; ``warehouse`` makes a model a DuckDB SQL
function (``scoring`` holds the loaded models, ``frames`` the input and output kinds);
``service`` runs it as an HTTP server. Backends are imported lazily by platform, so
importing this package costs nothing.
"""
