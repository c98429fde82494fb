"""Spark SQL types of a signature's features, as DDL strings (no pyspark import needed).

One output is returned as its own type; several as a struct of the named outputs, as a
warehouse function returns a STRUCT.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlreg.model_signature import FeatureSpec, ModelSignature

#: signature dtype -> Spark SQL type. Unsigned integers take the next wider signed type
#: (UINT64 has none: it is read as BIGINT, as Arrow casts it)
SPARK_TYPES = {
    "INT8": "tinyint", "INT16": "smallint", "INT32": "int", "INT64": "bigint",
    "UINT8": "smallint", "UINT16": "int", "UINT32": "bigint", "UINT64": "bigint",
    "FLOAT": "float", "DOUBLE": "double", "BOOL": "boolean", "STRING": "string",
    "BYTES": "binary", "TIMESTAMP_NTZ": "timestamp_ntz",
}


def quote(name: str) -> str:
    """A column or field name quoted for Spark SQL (backticks)."""
    return "`" + name.replace("`", "``") + "`"


def feature_type(feature: "FeatureSpec") -> str:
    ddl = SPARK_TYPES[feature.dtype.value]
    for _ in feature.shape or ():
        ddl = f"array<{ddl}>"
    return ddl


def return_type(signature: "ModelSignature") -> str:
    """The type a function of this signature returns: the output's, or a struct of them."""
    outputs = signature.outputs
    if len(outputs) == 1:
        return feature_type(outputs[0])
    return "struct<" + ", ".join(f"{quote(f.name)}: {feature_type(f)}" for f in outputs) + ">"


def output_schema(signature: "ModelSignature") -> str:
    """The outputs as the columns of a DataFrame (a DDL schema string)."""
    return ", ".join(f"{quote(f.name)} {feature_type(f)}" for f in signature.outputs)
