"""What runs a registered model, in any process: the scoring spec that says which
verified package to load and how to call it (``spec``), the one place a package is
verified and unpickled (``loading``), and the one :class:`~mlreg.runtime.scorer.Scorer`
that validates input against the signature and calls the model (``scorer``).

Every deploy platform, the service's workers, a Spark executor and
``ModelRegistry.load_model`` load models through here, so each of them verifies the
bytes it unpickles. Nothing here knows the registry or its store.
"""
