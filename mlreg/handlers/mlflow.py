"""MLflow models in every form a user holds them: an MLflow model directory (a path
holding an ``MLmodel`` file), a loaded pyfunc model (``mlflow.pyfunc.PyFuncModel``) or a
``mlflow.pyfunc.PythonModel`` instance (whose ``predict(self, context, model_input,
params=None)`` takes a context). A directory is copied into the package as it is, so any
MLflow flavor works and MLflow tools can read it back; loading gives the pyfunc model.
MLflow models carry their own signature, which is converted.

A PythonModel instance is saved by MLflow itself (``mlflow.pyfunc.save_model``) into a
directory, which is then handled as any other: MLflow calls its ``load_context`` and
passes the context, here and in every process that loads the package. A pyfunc object
that this handler loaded remembers its directory and is re-saved from it; any other
pyfunc object is saved with cloudpickle.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mlreg.data import tables
from mlreg.data.signature import DataType, FeatureSpec, ModelSignature
from mlreg.errors import InvalidInput
from mlreg.handlers.base import ModelHandler, has_class
from mlreg.package import pickles

PYFUNC = "mlflow.pyfunc.PyFuncModel"
PYTHON_MODEL = "mlflow.pyfunc.model.PythonModel"
MODEL_DIR = "model/mlflow_model"
SOURCE_ATTR = "_mlreg_source_dir"

_COLUMN_TYPES = {
    "boolean": "BOOL", "integer": "INT32", "long": "INT64", "float": "FLOAT", "double": "DOUBLE",
    "string": "STRING", "binary": "BYTES", "datetime": "TIMESTAMP_NTZ",
}


def is_model_dir(obj: Any) -> bool:
    if not isinstance(obj, (str, os.PathLike)):
        return False
    try:
        return Path(obj, "MLmodel").is_file()
    except (OSError, ValueError):
        return False


def is_python_model(obj: Any) -> bool:
    return not isinstance(obj, type) and has_class(obj, PYTHON_MODEL)


def source_dir(model: Any) -> Path | None:
    if is_model_dir(model):
        return Path(model)
    src = getattr(model, SOURCE_ATTR, None)
    return Path(src) if src is not None and is_model_dir(src) else None


def save_python_model(model: Any, path: Path) -> None:
    """A PythonModel instance as an MLflow model directory. Requirements are named, MLflow
    and cloudpickle (MLflow would otherwise load the model in a subprocess to infer them);
    the versions installed here are recorded with the package, as for every model."""
    import warnings

    import mlflow.pyfunc

    with warnings.catch_warnings():  # type-hint and requirement notices: not the user's concern here
        warnings.simplefilter("ignore")
        mlflow.pyfunc.save_model(str(path), python_model=model, pip_requirements=["mlflow", "cloudpickle"])


def convert_schema(schema: Any, prefix: str) -> tuple[Any, ...]:
    """An MLflow Schema (columns or tensors) as mlreg FeatureSpecs."""
    if schema is None:
        return ()
    out = []
    for i, spec in enumerate(schema.inputs):
        name = spec.name or f"{prefix}_{i}"
        if hasattr(spec, "shape"):  # TensorSpec: the first dimension is the batch
            shape = tuple(int(d) for d in spec.shape[1:]) or None
            out.append(FeatureSpec(name, DataType.from_numpy_kind(spec.type), shape))
            continue
        kind = getattr(spec.type, "name", None)
        if kind not in _COLUMN_TYPES:
            raise InvalidInput(
                f"MLflow signature column {name!r} has type {spec.type}, which mlreg cannot describe; pass signatures="
            )
        out.append(FeatureSpec(name, DataType(_COLUMN_TYPES[kind])))
    return tuple(out)


class MLflowHandler(ModelHandler):
    type_name = "mlflow"
    carries_signature = True
    packages = ("mlflow",)

    def __init__(self) -> None:
        self._loaded: dict[str, Any] = {}
        self._saved: dict[int, tuple[Any, Any]] = {}  # id(PythonModel) -> (model, TemporaryDirectory)

    @classmethod
    def can_handle(cls, model: Any) -> bool:
        return is_model_dir(model) or is_python_model(model) or (not isinstance(model, type) and has_class(model, PYFUNC))

    def _as_dir(self, model: Any) -> Any:
        """A PythonModel instance becomes the MLflow directory MLflow saves it to (once per
        instance and handler); anything else stays as it is."""
        if not is_python_model(model):
            return model
        entry = self._saved.get(id(model))
        if entry is None or entry[0] is not model:
            import tempfile

            tmp = tempfile.TemporaryDirectory(prefix="mlreg-mlflow-")
            save_python_model(model, Path(tmp.name) / "model")
            entry = self._saved[id(model)] = (model, tmp)
        return str(Path(entry[1].name) / "model")

    def target_methods(self, model: Any) -> list[str]:
        return ["predict"]

    def model_packages(self, model: Any) -> list[str]:
        """MLflow's own record of what the model needs (its requirements.txt)."""
        from mlreg.provenance import requirement_name

        out = list(self.packages)
        src = source_dir(self._as_dir(model))
        reqs = src / "requirements.txt" if src is not None else None
        if reqs is not None and reqs.is_file():
            for line in reqs.read_text(errors="replace").splitlines():
                name = requirement_name(line) if line.strip() and not line.lstrip().startswith(("#", "-")) else None
                if name and name not in out:
                    out.append(name)
        return out

    def _pyfunc(self, model: Any) -> Any:
        model = self._as_dir(model)
        if not is_model_dir(model):
            return model
        key = str(Path(model).resolve())
        if key not in self._loaded:
            import mlflow.pyfunc

            self._loaded[key] = mlflow.pyfunc.load_model(key, suppress_warnings=True)
        return self._loaded[key]

    def _metadata(self, model: Any) -> Any:
        model = self._as_dir(model)
        if is_model_dir(model):
            from mlflow.models import Model

            return Model.load(str(Path(model, "MLmodel")))
        return model.metadata

    def native_signatures(self, model: Any) -> dict[str, Any] | None:
        sig = self._metadata(model).signature
        if sig is None or sig.inputs is None:
            return None
        return {"predict": ModelSignature(inputs=convert_schema(sig.inputs, "input_feature"),
                                          outputs=convert_schema(sig.outputs, "output_feature"))}

    def save(self, model: Any, writer: Any) -> dict[str, Any]:
        src = source_dir(self._as_dir(model))
        if src is None:
            pickles.dump_model(model, writer)
            return {"format": "cloudpickle", "files": [pickles.MODEL_FILE]}
        writer.copy_tree(src, MODEL_DIR)
        return {"format": "mlflow-model-dir", "files": [MODEL_DIR]}

    def load(self, package_dir: Path, info: dict[str, Any]) -> Any:
        fmt = info.get("format")
        if fmt == "cloudpickle":
            return pickles.load_model(package_dir)
        if fmt != "mlflow-model-dir":
            raise InvalidInput(f"unknown mlflow package format {fmt!r}")
        import mlflow.pyfunc

        path = package_dir / MODEL_DIR
        model = mlflow.pyfunc.load_model(str(path), suppress_warnings=True)
        setattr(model, SOURCE_ATTR, str(path))
        return model

    def to_native(self, model: Any, method: str, frame: Any, signature: Any) -> Any:
        sig = self._metadata(model).signature
        if sig is not None and sig.inputs is not None and sig.inputs.is_tensor_spec():
            arrays = tables.feature_arrays(frame, signature.inputs)
            if len(arrays) == 1 and not sig.inputs.has_input_names():
                return arrays[0]
            return {f.name: a for f, a in zip(signature.inputs, arrays)}
        return frame

    def call(self, model: Any, method: str, data: Any) -> Any:
        return getattr(self._pyfunc(model), method)(data)
