"""Reading a model from a file or directory, for ``mlreg log MODEL``.

The reader is chosen by ``type_name`` when given, else by the file's suffix, else by
its first bytes. Whatever goes wrong while reading becomes one ``InvalidInput`` line
that names the file. Unpickling runs code from the file: log only files you trust.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, Callable

from mlreg.errors import InvalidInput, MlregError
from mlreg.handlers.base import ModelHandler, one_line

_SUFFIXES = {
    ".pkl": "pickle", ".pickle": "pickle", ".pk": "pickle", ".cloudpickle": "pickle", ".joblib": "pickle",
    ".json": "xgboost", ".ubj": "xgboost",
    ".txt": "lightgbm",
    ".pt": "torch", ".pth": "torch", ".torchscript": "torch", ".pt2": "torch",
    ".keras": "keras", ".h5": "keras",
}
_BY_TYPE = {
    "sklearn": "pickle", "snowpark": "pickle", "custom": "pickle",
    "xgboost": "xgboost", "lightgbm": "lightgbm", "pytorch": "torch", "tensorflow": "keras",
}
_WHAT = {
    "pickle": "a pickle/joblib file", "xgboost": "an XGBoost model", "lightgbm": "a LightGBM text model",
    "torch": "a PyTorch model", "keras": "a Keras model",
}
# joblib's compressed formats, and pickle's protocol 2+ opcode
_JOBLIB_COMPRESSED = (b"ZF", b"\x78", b"\x1f\x8b", b"\xfd7zXZ", b"BZh", b"\x04\x22\x4d\x18")
_PICKLE_MAGIC = (b"\x80", *_JOBLIB_COMPRESSED)


def _sniff(path: Path) -> str | None:
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(b"PK\x03\x04"):
        try:
            names = zipfile.ZipFile(path).namelist()
        except zipfile.BadZipFile:
            return None
        if "config.json" in names and any(n.endswith(".weights.h5") for n in names):
            return "keras"
        if any(n.endswith(("data.pkl", "constants.pkl", "/archive_format")) for n in names):
            return "torch"
        return None
    if head.startswith(b"tree\n") or head.startswith(b"tree\r\n"):
        return "lightgbm"
    if head.startswith(b"{"):
        return "xgboost"
    if head.startswith(_PICKLE_MAGIC):
        return "pickle"
    return None


def _read_pickle(path: Path) -> Any:
    """A pickle through mlreg's unpickler (its errors say why a file cannot be read);
    joblib's own formats (compressed, or arrays after their wrappers) through joblib."""
    from mlreg.package import unpickling

    what = f"model file {path}"
    with open(path, "rb") as f:
        if not f.read(16).startswith(_JOBLIB_COMPRESSED):
            f.seek(0)
            try:
                return unpickling.load(f, what, joblib_aware=True)
            except unpickling.UsesJoblib:
                pass
    try:
        import joblib
    except ModuleNotFoundError as e:
        raise unpickling.missing_module(what, e.name or "joblib") from None
    try:
        return joblib.load(path)
    except ModuleNotFoundError as e:
        raise unpickling.missing_module(what, e.name or "?") from None
    except EOFError as e:
        raise unpickling.truncated(what, str(e) or "end of file") from None


def _read_xgboost(path: Path) -> Any:
    import json

    import xgboost

    booster = xgboost.Booster(model_file=str(path))
    sklearn_attrs = booster.attr("scikit_learn")
    kind = json.loads(sklearn_attrs).get("_estimator_type") if sklearn_attrs else None
    classes = {"classifier": xgboost.XGBClassifier, "regressor": xgboost.XGBRegressor, "ranker": xgboost.XGBRanker}
    cls = classes.get(kind) if isinstance(kind, str) else None
    if cls is None:
        return booster
    model = cls()
    model.load_model(str(path))
    return model


def _read_lightgbm(path: Path) -> Any:
    import lightgbm

    return lightgbm.Booster(model_file=str(path))


def _read_torch(path: Path) -> Any:
    import warnings

    import torch

    if zipfile.is_zipfile(path) and any(n.endswith("/archive_format") for n in zipfile.ZipFile(path).namelist()):
        return torch.export.load(str(path))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript, deprecated in torch 2.10
            return torch.jit.load(str(path), map_location="cpu")
    except RuntimeError:
        pass  # not TorchScript: a module saved with torch.save
    from mlreg.package import pickles  # the bytes verify_dir checked, not the file again

    model = torch.load(pickles.kept_stream(path) or str(path), map_location="cpu", weights_only=False)
    if isinstance(model, dict):
        raise InvalidInput(
            f"model file {path} holds a dict (a state_dict?), not a module: save the module itself "
            "with torch.save(model, path) or as TorchScript with torch.jit.save"
        )
    return model


def _read_keras(path: Path) -> Any:
    import keras

    return keras.models.load_model(str(path))


_READERS: dict[str, Callable[[Path], Any]] = {
    "pickle": _read_pickle, "xgboost": _read_xgboost, "lightgbm": _read_lightgbm,
    "torch": _read_torch, "keras": _read_keras,
}


def _read_directory(path: Path, type_name: str | None) -> Any:
    if (path / "MLmodel").is_file() and type_name in (None, "mlflow"):
        return path
    if (path / "saved_model.pb").is_file() and type_name in (None, "tensorflow"):
        import tensorflow as tf

        try:
            return tf.saved_model.load(str(path))
        except Exception as e:
            raise InvalidInput(f"cannot read TensorFlow SavedModel {path}: {type(e).__name__}: {one_line(e)}") from e
    raise InvalidInput(
        f"{path} is a directory but neither an MLflow model (no MLmodel file) nor a TensorFlow SavedModel"
        + (f" as --type {type_name} needs" if type_name else "")
    )


def load_model_file(path: Any, type_name: str | None = None, handler: ModelHandler | None = None) -> Any:
    """The model a file or directory holds; ``handler`` (that of ``type_name``, given by
    ``mlreg.handlers.load_model_file``) must accept it."""
    p = Path(path)
    if not p.exists():
        raise InvalidInput(f"model file {p} does not exist")
    if p.is_dir():
        model = _read_directory(p, type_name)
    else:
        if type_name == "mlflow":
            raise InvalidInput(f"{p} is a file; an MLflow model is a directory holding an MLmodel file")
        try:
            if p.stat().st_size == 0:
                raise InvalidInput(f"model file {p} is empty")
            kind = _kind(p, type_name)
        except OSError as e:
            raise InvalidInput(f"cannot read model file {p}: {e.strerror or one_line(e)}") from e
        try:
            model = _READERS[kind](p)
        except MlregError:
            raise
        except Exception as e:
            raise InvalidInput(
                f"cannot read model file {p} as {_WHAT[kind]}: {type(e).__name__}: {one_line(e)}"
            ) from e
    if handler is not None and not handler.can_handle(model):
        raise InvalidInput(f"model file {p} holds a {type(model).__name__}, which is not a {type_name} model")
    return model


def _kind(path: Path, type_name: str | None) -> str:
    sniffed = _sniff(path)
    if type_name is not None:
        kind = _BY_TYPE.get(type_name, "pickle")
        # a pickled XGBoost or LightGBM estimator is still read as a pickle
        return "pickle" if sniffed == "pickle" and kind in ("xgboost", "lightgbm") else kind
    if sniffed in ("torch", "keras", "lightgbm"):  # unmistakable contents win over a suffix
        return sniffed
    found = _SUFFIXES.get(path.suffix.lower()) or sniffed
    if found is None:
        raise InvalidInput(
            f"cannot tell what kind of model file {path} is: name it .pkl/.joblib, .json/.ubj (XGBoost), "
            ".txt (LightGBM), .pt (PyTorch) or .keras, or pass --type"
        )
    return found
