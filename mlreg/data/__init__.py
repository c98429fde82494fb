"""The bottom layer: the data that goes into and comes out of models.

- ``signature``: DataType, FeatureSpec, ModelSignature (users import them from
  ``mlreg.model_signature``, which re-exports this layer's public names);
- ``inference``: signatures inferred from sample data;
- ``validation``: input checked against a signature and converted to its types;
- ``tables``: pandas, numpy, pyarrow, DuckDB relations, records and tensors turned into
  frames and back;
- ``readers``: the files a user hands over (sample input, batch input, metric values).

Handlers, stages, deployments, the registry and the CLI all build on it; it imports
nothing of mlreg but ``mlreg.errors`` and ``mlreg.names`` (and pandas, numpy, pyarrow or
DuckDB only inside the functions that take such data).
"""
