"""Model signatures: the named, typed features a target method takes and returns.

The public module (``from mlreg import model_signature``, as
``snowflake.ml.model.model_signature``): ``DataType``, ``FeatureSpec``,
``ModelSignature`` and ``infer_signature``, plus ``normalize_signatures`` (what
``log_model(signatures=...)`` accepts) and ``validate_input`` (what a deployment checks
before calling a model). They are implemented in the bottom layer ``mlreg.data``
(``signature``, ``inference``, ``validation``) and re-exported here unchanged; heavy
libraries (pandas, numpy, pyarrow) are imported only when data of that kind is handed in.
"""

from mlreg.data.inference import features_of, head, infer_signature
from mlreg.data.signature import DataType, FeatureSpec, ModelSignature, normalize_signatures
from mlreg.data.validation import validate_input

__all__ = [
    "DataType",
    "FeatureSpec",
    "ModelSignature",
    "features_of",
    "head",
    "infer_signature",
    "normalize_signatures",
    "validate_input",
]
