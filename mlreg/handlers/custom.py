"""Custom Python models: any pickleable object with a target method (cloudpickle)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlreg.handlers.base import ModelHandler
from mlreg.package import pickles

PICKLE_FILE = "model/model.pkl"


def dump_pickle(model: Any, writer: Any) -> None:
    # protocol 5 hands a large buffer (a numpy array's data) to the file in one piece, from
    # the array's own memory; the writer hashes it while writing it. The file is a plain
    # pickle followed by an index of its large buffers (mlreg.package.pickles).
    with writer.open(PICKLE_FILE) as f:
        pickles.dump(model, f)


def load_pickle(package_dir: Path) -> Any:
    # each large buffer is read once into memory of its own and the arrays are views of it
    return pickles.load(package_dir / PICKLE_FILE)


class CustomHandler(ModelHandler):
    type_name = "custom"

    @classmethod
    def can_handle(cls, model: Any) -> bool:
        return True

    def target_methods(self, model: Any) -> list[str]:
        methods = super().target_methods(model)
        if not methods and callable(model) and not isinstance(model, type):
            methods = ["__call__"]
        return methods

    def save(self, model: Any, writer: Any) -> dict[str, Any]:
        dump_pickle(model, writer)
        return {"format": "cloudpickle", "files": [PICKLE_FILE]}

    def load(self, package_dir: Path, info: dict[str, Any]) -> Any:
        return load_pickle(package_dir)

    def to_native(self, model: Any, method: str, frame: Any, signature: Any) -> Any:
        """The input in the form of the sample it was logged with: an array for a numpy
        sample (unnamed features), a frame for named columns."""
        from mlreg.handlers import tables

        return tables.natural_input(frame, signature.inputs)
