"""The small interface every model type implements.

A handler detects its type *without importing the framework* (look at the class's
module name and MRO), saves a model into a package directory, loads it back, lists
the target methods it exposes, and calls a method on tabular input.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

if TYPE_CHECKING:
    from mlreg.model_signature import ModelSignature
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

    def infer_signatures(
        self, model: Any, methods: Sequence[str], sample_input: Any
    ) -> dict[str, "ModelSignature"]:
        """Run each method on at most 10 sample rows and infer input/output specs."""
        from mlreg import model_signature

        sample = model_signature.head(sample_input, 10)
        out = {}
        for method in methods:
            result = self.call(model, method, sample)
            out[method] = model_signature.infer_signature(sample, result)
        return out
