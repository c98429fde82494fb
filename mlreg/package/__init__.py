"""Model packages: the directory a model is stored as on the stage.

    MANIFEST.json        readable without unpickling anything
    model/...            the serialized model (handler-specific)
    code/<dir>/...       copies of ``code_paths``
    env/requirements.txt pip requirements, env/conda.yml conda dependencies
    mlreg/...            an embedded copy of mlreg (``embed_local_ml_library``)
"""

MANIFEST = "MANIFEST.json"
FORMAT_VERSION = 1
