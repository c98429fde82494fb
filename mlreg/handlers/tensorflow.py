"""TensorFlow and Keras: ``keras.Model`` (saved as a ``.keras`` file; target method
``predict``) and ``tf.Module`` (saved with ``tf.saved_model.save``; target method
``__call__`` and any other ``tf.function`` among the known method names).

A SavedModel keeps only the traces a ``tf.function`` has made; before saving, every
trace is re-made with a free batch dimension so that the loaded model takes any number
of rows, not just as many as the sample had.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlreg.data import tables
from mlreg.data.inference import features_of
from mlreg.data.signature import ModelSignature
from mlreg.errors import InvalidInput
from mlreg.handlers.base import KNOWN_METHODS, ModelHandler, has_class

KERAS_MODELS = (
    "keras.src.models.model.Model",  # Keras 3
    "keras.engine.training.Model",  # Keras 2 (TensorFlow <= 2.15)
    "tf_keras.src.engine.training.Model",
)
MODULE = "tensorflow.python.module.module.Module"
TRACKABLE = "tensorflow.python.trackable.autotrackable.AutoTrackable"  # tf.Module and loaded SavedModels
KERAS_FILE = "model/model.keras"
SAVED_MODEL_DIR = "model/saved_model"


def is_keras(model: Any) -> bool:
    return has_class(model, *KERAS_MODELS)


def _functions(model: Any) -> list[str]:
    out = []
    for m in KNOWN_METHODS:
        if m == "__call__":
            if callable(model):
                out.append(m)
        elif hasattr(getattr(model, m, None), "get_concrete_function"):
            out.append(m)
    return out


def _check_saveable(model: Any) -> None:
    for m in _functions(model):
        fn = getattr(model, m)
        if not hasattr(fn, "get_concrete_function"):
            raise InvalidInput(f"the module's {m} is not a tf.function, so a SavedModel cannot hold it: decorate it with @tf.function")
        count = getattr(fn, "experimental_get_tracing_count", None)
        restored = not has_class(model, MODULE)  # a loaded SavedModel keeps its traces
        if not restored and getattr(fn, "input_signature", None) is None and count is not None and count() == 0:
            raise InvalidInput(
                f"the module's {m} has never been called, so a SavedModel would hold no code for it: "
                "pass sample_input_data, or give the tf.function an input_signature"
            )


def _free_batch(spec: Any) -> Any:
    import tensorflow as tf

    if isinstance(spec, tf.TensorSpec) and spec.shape.rank:
        return tf.TensorSpec([None, *spec.shape[1:]], spec.dtype, name=spec.name)
    return spec


def relax_traces(model: Any) -> None:
    """Re-trace each traced tf.function of the module with a free batch dimension."""
    import tensorflow as tf

    for name in _functions(model):
        fn = getattr(model, name)
        list_traces = getattr(fn, "_list_all_concrete_functions", None)
        if list_traces is None:
            continue
        for concrete in list(list_traces()):
            args, kwargs = concrete.structured_input_signature
            try:
                fn.get_concrete_function(*tf.nest.map_structure(_free_batch, args), **tf.nest.map_structure(_free_batch, kwargs))
            except Exception:  # noqa: BLE001 - a function whose code needs a fixed batch size keeps its traces
                continue


class TensorFlowHandler(ModelHandler):
    type_name = "tensorflow"
    packages = ("tensorflow", "tensorflow-cpu", "keras")

    @classmethod
    def can_handle(cls, model: Any) -> bool:
        return not isinstance(model, type) and (is_keras(model) or has_class(model, TRACKABLE))

    def target_methods(self, model: Any) -> list[str]:
        if is_keras(model):
            return ["predict"]
        return _functions(model)

    def save(self, model: Any, writer: Any) -> dict[str, Any]:
        if is_keras(model):
            model.save(str(writer.path(KERAS_FILE)))
            writer.add_file(KERAS_FILE)
            return {"format": "keras", "files": [KERAS_FILE]}
        import tensorflow as tf

        _check_saveable(model)
        relax_traces(model)
        target = writer.path(SAVED_MODEL_DIR)
        tf.saved_model.save(model, str(target))
        writer.add_tree(SAVED_MODEL_DIR)
        return {"format": "tf-saved-model", "files": [SAVED_MODEL_DIR]}

    def load(self, package_dir: Path, info: dict[str, Any]) -> Any:
        fmt = info.get("format")
        if fmt == "keras":
            import keras

            return keras.models.load_model(str(package_dir / KERAS_FILE))
        if fmt == "tf-saved-model":
            import tensorflow as tf

            return tf.saved_model.load(str(package_dir / SAVED_MODEL_DIR))
        raise InvalidInput(f"unknown tensorflow package format {fmt!r}")

    def prepare_sample(self, model: Any, sample: Any) -> Any:
        return tables.tensor_sample(sample)

    def to_native(self, model: Any, method: str, frame: Any, signature: Any) -> list[Any]:
        arrays = tables.feature_arrays(frame, signature.inputs)
        if is_keras(model) and len(getattr(model, "inputs", None) or [None]) == 1 and len(arrays) > 1:
            if all(f.shape is None for f in signature.inputs):
                import numpy as np

                return [np.column_stack(arrays)]
        return arrays

    def call(self, model: Any, method: str, data: Any) -> Any:
        if tables.is_frame(data):
            signature = ModelSignature(inputs=features_of(data, "input_feature"))
            data = self.to_native(model, method, data, signature)
        args = list(data) if isinstance(data, (list, tuple)) else [data]
        if is_keras(model):
            return model.predict(args[0] if len(args) == 1 else args, verbose=0)
        import tensorflow as tf

        tensors = [x if isinstance(x, tf.Tensor) else tf.convert_to_tensor(tables.as_numpy(x)) for x in args]
        fn = model if method == "__call__" else getattr(model, method)
        return fn(*tensors)
