"""Custom Python models: any pickleable object with a target method (cloudpickle).

The catch-all, last in the detection order. It differs from the other pickled types in
one thing: the model is handed its input in the layout of the sample it was logged with
(an array for a numpy sample, whose features are unnamed; a frame for named columns),
not always as a frame. It also offers ``__call__`` when the object has no known method.
"""

from __future__ import annotations

from typing import Any

from mlreg.data import tables
from mlreg.handlers.base import PickledHandler


class CustomHandler(PickledHandler):
    type_name = "custom"

    @classmethod
    def can_handle(cls, model: Any) -> bool:
        return True

    def target_methods(self, model: Any) -> list[str]:
        methods = super().target_methods(model)
        if not methods and callable(model) and not isinstance(model, type):
            methods = ["__call__"]
        return methods

    def to_native(self, model: Any, method: str, frame: Any, signature: Any) -> Any:
        """The input in the form of the sample it was logged with: an array for a numpy
        sample (unnamed features), a frame for named columns."""
        return tables.natural_input(frame, signature.inputs)
