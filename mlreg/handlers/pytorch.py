"""PyTorch: ``torch.nn.Module`` (saved whole with ``torch.save`` and cloudpickle, so a
class defined in a notebook or script comes along), TorchScript modules (saved with
``torch.jit.save``: loadable without the Python class, even from C++) and
``torch.export`` programs (``torch.export.save``; export with a dynamic batch dimension
to score any number of rows).

Each input feature is one positional tensor argument of the method (Snowpark ML's
layout); a module whose ``forward`` takes a single argument gets all scalar features
stacked into one (N, k) tensor. Models are loaded on the CPU, in eval mode.
"""

from __future__ import annotations

import inspect
import warnings
from pathlib import Path
from typing import Any, Sequence

from mlreg.data import tables
from mlreg.data.inference import features_of
from mlreg.errors import InvalidInput
from mlreg.handlers.base import ModelHandler, has_class

MODULE = "torch.nn.modules.module.Module"
SCRIPT_MODULE = "torch.jit._script.ScriptModule"
EXPORTED = "torch.export.exported_program.ExportedProgram"  # torch.export, TorchScript's successor
MODEL_FILE = "model/model.pt"
EXPORTED_FILE = "model/model.pt2"


def _float_dtype(model: Any) -> Any:
    params = model.parameters() if hasattr(model, "parameters") else model.state_dict.values()
    for p in params:
        if p.is_floating_point():
            return p.dtype
    return None


def positional_arity(model: Any, method: str) -> int | None:
    """How many positional tensors the method takes (None when it cannot be told)."""
    if has_class(model, EXPORTED):
        args, _kwargs = model.example_inputs or ((), {})
        return len(args) if args else None
    fn = getattr(model, method, None)
    schema = getattr(fn, "schema", None)
    if schema is not None:  # TorchScript
        return len([a for a in schema.arguments if a.name != "self" and not a.kwarg_only])
    try:
        params = inspect.signature(fn).parameters.values()  # type: ignore[arg-type]  # None: TypeError
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return None
    return len([p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty])


class PyTorchHandler(ModelHandler):
    type_name = "pytorch"
    packages = ("torch",)

    @classmethod
    def can_handle(cls, model: Any) -> bool:
        return not isinstance(model, type) and has_class(model, MODULE, EXPORTED)

    def target_methods(self, model: Any) -> list[str]:
        methods = ["forward"]
        if has_class(model, EXPORTED):
            return methods
        for m in ("predict", "predict_proba", "transform"):
            if callable(getattr(model, m, None)):
                methods.append(m)
        return methods

    def save(self, model: Any, writer: Any) -> dict[str, Any]:
        import torch

        if has_class(model, EXPORTED):
            torch.export.save(model, str(writer.path(EXPORTED_FILE)))
            writer.add_file(EXPORTED_FILE)
            return {"format": "torch-export", "files": [EXPORTED_FILE]}
        if has_class(model, SCRIPT_MODULE):
            with warnings.catch_warnings():  # torch 2.10+ deprecates TorchScript; its users know
                warnings.simplefilter("ignore", DeprecationWarning)
                torch.jit.save(model, str(writer.path(MODEL_FILE)))
            writer.add_file(MODEL_FILE)
            return {"format": "torchscript", "files": [MODEL_FILE]}
        import cloudpickle

        with writer.open(MODEL_FILE) as f:
            torch.save(model, f, pickle_module=cloudpickle)
        return {"format": "torch-cloudpickle", "files": [MODEL_FILE]}

    def load(self, package_dir: Path, info: dict[str, Any]) -> Any:
        import torch

        path = package_dir / info.get("files", [MODEL_FILE])[0]
        fmt = info.get("format")
        if fmt == "torchscript":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                model = torch.jit.load(str(path), map_location="cpu")
        elif fmt == "torch-cloudpickle":
            from mlreg.package import pickles  # the bytes verify_dir checked, not the file again

            model = torch.load(pickles.kept_stream(path) or str(path), map_location="cpu", weights_only=False)
        elif fmt == "torch-export":
            return torch.export.load(str(path))
        else:
            raise InvalidInput(f"unknown pytorch package format {fmt!r}")
        model.eval()
        return model

    def prepare_sample(self, model: Any, sample: Any) -> Any:
        return tables.tensor_sample(sample)

    def to_native(self, model: Any, method: str, frame: Any, signature: Any) -> list[Any]:
        arrays = tables.feature_arrays(frame, signature.inputs)
        return _fit_arity(arrays, signature.inputs, positional_arity(model, method))

    def call(self, model: Any, method: str, data: Any) -> Any:
        import numpy as np
        import torch

        if tables.is_frame(data):
            feats = features_of(data, "input_feature")
            data = _fit_arity(tables.feature_arrays(data, feats), feats, positional_arity(model, method))
        dtype = _float_dtype(model)
        args = []
        for x in data if isinstance(data, (list, tuple)) else [data]:
            if not isinstance(x, torch.Tensor):
                x = torch.from_numpy(np.ascontiguousarray(np.asarray(x)))
            if x.is_floating_point() and dtype is not None and x.dtype != dtype:
                x = x.to(dtype)  # float64 data for a float32 network, as pandas and numpy give it
            args.append(x)
        if has_class(model, EXPORTED):
            model = model.module()
        fn = model if method == "forward" else getattr(model, method)
        with torch.no_grad():
            return fn(*args)


def _fit_arity(arrays: list[Any], features: Sequence[Any], arity: int | None) -> list[Any]:
    import numpy as np

    if arity is None or arity == len(arrays):
        return arrays
    if arity == 1 and all(f.shape is None for f in features):
        return [np.column_stack(arrays)]
    raise InvalidInput(f"the model's method takes {arity} tensors but the signature has {len(arrays)} features")
