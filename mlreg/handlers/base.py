"""The small interface every model type implements.

A handler detects its type *without importing the framework* (look at the class's
module name and MRO), saves a model into a package directory, loads it back, lists
the target methods it exposes, and calls a method on tabular input.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

from mlreg.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

    from mlreg.data.signature import ModelSignature
    from mlreg.package.writer import PackageWriter

# the order users expect to see them in; handlers expose those their model has
KNOWN_METHODS = (
    "predict",
    "predict_proba",
    "predict_log_proba",
    "decision_function",
    "transform",
    "forward",
    "__call__",
)


def class_modules(obj: Any) -> list[str]:
    """Fully qualified names of the object's class and its bases, without importing anything."""
    return [f"{c.__module__}.{c.__qualname__}" for c in type(obj).__mro__]


def module_root(obj: Any) -> str:
    return type(obj).__module__.split(".", 1)[0]


def has_class(obj: Any, *qualified: str) -> bool:
    """True when a class of that fully qualified name is in the object's MRO."""
    names = class_modules(obj)
    return any(q in names for q in qualified)


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


class ModelHandler(ABC):
    """One model type. Subclasses set ``type_name`` (the registry's TYPE column)."""

    type_name: ClassVar[str]
    #: model types that carry their own signature (MLflow) need no sample input
    carries_signature: ClassVar[bool] = False
    #: distributions whose installed version is recorded and compared on load
    packages: ClassVar[Sequence[str]] = ()

    @classmethod
    @abstractmethod
    def can_handle(cls, model: Any) -> bool:
        """True when ``model`` is of this type. Must not import a framework."""

    def model_packages(self, model: Any) -> list[str]:
        """Distributions whose versions matter for this model (recorded in
        CREATION_ENVIRONMENT_SPEC, compared on load): the handler's ``packages`` plus any
        the particular model needs (an MLflow model's requirements, a Pipeline's XGBoost step)."""
        return list(self.packages)

    def target_methods(self, model: Any) -> list[str]:
        return [m for m in KNOWN_METHODS if m != "__call__" and callable(getattr(model, m, None))]

    @abstractmethod
    def save(self, model: Any, writer: "PackageWriter") -> dict[str, Any]:
        """Write the model under ``model/`` of the package; return handler info for the
        manifest (at least ``format`` and ``files``)."""

    @abstractmethod
    def load(self, package_dir: Path, info: dict[str, Any]) -> Any:
        """Load the model saved by :meth:`save`."""

    def call(self, model: Any, method: str, data: Any) -> Any:
        """Call a target method on input data (already validated)."""
        return getattr(model, method)(data)

    def native_signatures(self, model: Any) -> dict[str, "ModelSignature"] | None:
        """Signatures the model carries itself (MLflow); None when it has none."""
        return None

    def prepare_sample(self, model: Any, sample: Any) -> Any:
        """Sample input (already cut to a few rows) in the form the model's methods take:
        e.g. only the columns an estimator was fitted on, or tensors for a network."""
        return sample

    def to_native(self, model: Any, method: str, frame: "pd.DataFrame", signature: "ModelSignature") -> Any:
        """A validated input frame in the form the model's method takes."""
        return frame

    def native_sample(self, model: Any, method: str, sample: Any) -> Any:
        """The prepared sample in the form the method is called with to infer its output
        (the features are inferred from the prepared sample itself)."""
        return sample

    def to_table(self, model: Any, method: str, output: Any, signature: "ModelSignature | None") -> "pd.DataFrame":
        """A method's output as a frame whose columns are the signature's outputs."""
        from mlreg.data import tables  # here, not above: `mlreg --help` imports this module

        names = [f.name for f in signature.outputs] if signature is not None else None
        return tables.output_frame(output, names)

    def predict_table(self, model: Any, method: str, data: Any, signature: "ModelSignature") -> "pd.DataFrame":
        """Validate ``data`` against the signature, call the method, return a frame with
        one named column per output feature, one row per input row."""
        from mlreg.data.validation import validate_input  # startup, as above

        frame = validate_input(data, signature)
        output = self.call(model, method, self.to_native(model, method, frame, signature))
        table = self.to_table(model, method, output, signature)
        if len(table) == len(frame):
            table = table.set_axis(frame.index, axis=0)  # a new frame: the model's output may be the user's
        return table

    def infer_signatures(
        self, model: Any, methods: Sequence[str], sample_input: Any
    ) -> dict[str, "ModelSignature"]:
        """Run each method on at most 10 sample rows and infer input/output specs."""
        from mlreg.data.inference import features_of, head  # startup, as above
        from mlreg.data.signature import ModelSignature

        sample = self.prepare_sample(model, head(sample_input, 10))
        inputs = features_of(sample, "input_feature")
        out = {}
        for method in methods:
            try:
                result = self.call(model, method, self.native_sample(model, method, sample))
            except InvalidInput:
                raise
            except Exception as e:
                raise InvalidInput(
                    f"calling {method} of the {type(model).__name__} on the sample input failed: "
                    f"{type(e).__name__}: {one_line(e)}"
                ) from e
            table = self.to_table(model, method, result, None)
            outputs = features_of(table, "output_feature")
            out[method] = ModelSignature(inputs=inputs, outputs=outputs)
        return out


class PickledHandler(ModelHandler):
    """A model type saved whole with cloudpickle (``model/model.pkl``): for frameworks
    without a portable format of their own. Its methods are called on the validated
    input frame as is. (``CustomHandler``, the catch-all for any Python object, is one of
    these that hands the model its input in the layout of its sample instead.)"""

    def save(self, model: Any, writer: "PackageWriter") -> dict[str, Any]:
        from mlreg.package import pickles  # startup, as above

        pickles.dump_model(model, writer)
        return {"format": "cloudpickle", "files": [pickles.MODEL_FILE]}

    def load(self, package_dir: Path, info: dict[str, Any]) -> Any:
        from mlreg.package import pickles  # startup, as above

        return pickles.load_model(package_dir)
