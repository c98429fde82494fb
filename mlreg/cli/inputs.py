"""The MODEL argument of ``mlreg log``: a model file or directory, or a ``module:attribute``
reference imported with the working directory on ``sys.path`` (a CLI convention: Python
users pass the object itself). The data files a command reads (sample input, signatures,
metric values, batch input) are read by the library's ``mlreg.data.readers``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from mlreg.errors import InvalidInput


def _cwd_on_path() -> None:
    cwd = str(Path.cwd())
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def _import_reference(spec: str) -> Any:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise InvalidInput(f"model {spec!r}: no such file, and not a module:attribute reference")
    _cwd_on_path()
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidInput(f"model {spec!r}: cannot import module {module_name!r}: {exc}") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise InvalidInput(f"model {spec!r}: module {module_name!r} has no attribute {attr!r}") from None
    return obj


def read_model(spec: str, type_name: str | None = None) -> Any:
    """MODEL of ``mlreg log``: a model file or directory (read by the handlers), or
    ``module:attribute``. The working directory is on sys.path for both."""
    from mlreg import handlers

    _cwd_on_path()
    if Path(spec).exists():
        return handlers.load_model_file(spec, type_name)
    if ":" in spec and not spec.startswith(("/", ".")):
        return _import_reference(spec)
    raise InvalidInput(f"model file {spec} does not exist (nor is it a module:attribute reference)")
