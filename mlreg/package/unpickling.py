"""Unpickling a model, with one-line errors that say why it cannot be read and what to do.

Each error is raised at the step that failed, for that step's own exception types (no
catch-all); where the cause is a likelihood the message says "probably":

- a module the pickle names is not installed (``find_class`` could not import it);
- a module the pickle names lacks the class or function (another version of the library,
  or a class of the script that pickled it);
- Python code pickled by value (cloudpickle: functions and classes of ``__main__``) that
  another Python version compiled: its bytecode means something else here, and building or
  running it can crash the interpreter, so it is refused before the code object is built
  (the arguments do not fit this Python's ``CodeType``, or the bytecode holds an opcode or
  an inline-cache layout this Python does not have: ``bytecode_fits``). A logged model
  also records its Python version, and loading it elsewhere warns (deploying refuses);
- a file that ends before the pickle does (``EOFError``, or the C unpickler's "pickle data
  was truncated") or is otherwise not a pickle (``UnpicklingError``).

``Unpickler`` is the C unpickler; only the lookup of globals goes through Python.
"""

from __future__ import annotations

import dis
import opcode
import pickle
import platform
import sys
import types
from typing import Any, Callable

from mlreg.errors import InvalidInput

#: top-level modules whose distribution is an extra of mlreg's (the install hint names it)
EXTRAS = {
    "sklearn": "sklearn", "joblib": "sklearn", "xgboost": "xgboost", "lightgbm": "lightgbm",
    "torch": "torch", "tensorflow": "tensorflow", "keras": "tensorflow", "mlflow": "mlflow",
    "snowflake": "snowpark",
}


class UnreadableModel(InvalidInput):
    """A model that cannot be unpickled in this environment (exit 1)."""


def _python() -> str:
    return ".".join(platform.python_version_tuple()[:2])


def _distribution(module: str) -> tuple[str, str] | None:
    """(distribution, installed version) of an importable top-level module, if it has one."""
    from importlib import metadata

    top = module.split(".", 1)[0]
    for dist in metadata.packages_distributions().get(top, []):
        try:
            return dist, metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def missing_module(what: str, module: str) -> UnreadableModel:
    top = module.split(".", 1)[0]
    extra = EXTRAS.get(top)
    hint = (f"pip install 'mlreg[{extra}]'" if extra else
            "install the package that provides it (or put it on the path, e.g. with --code-path)")
    return UnreadableModel(f"cannot read {what}: it needs the Python module {module!r}, which is not installed here: {hint}")


def missing_name(what: str, module: str, name: str) -> UnreadableModel:
    if module == "__main__":
        return UnreadableModel(
            f"cannot read {what}: it refers to {name}, a class or function of the script that pickled it (__main__), "
            "which is not defined here: pickle the model with cloudpickle (it saves such code with the "
            "model), or move the class to a module and import it"
        )
    found = _distribution(module)
    which = f"the installed {found[0]} {found[1]}" if found else f"the installed module {module}"
    return UnreadableModel(
        f"cannot read {what}: it refers to {module}.{name}, which {which} does not have: it was probably pickled with "
        "another version of it; install the version it was pickled with (`mlreg show` lists the versions "
        "recorded with a logged model)"
    )


def other_python(what: str) -> UnreadableModel:
    py = _python()
    return UnreadableModel(
        f"cannot read {what}: it holds Python code (a function or class pickled by value) compiled by another Python "
        f"version than this Python {py}: load it with the Python version that pickled it, or pickle "
        f"(log) it again with Python {py}"
    )


def truncated(what: str, detail: str) -> UnreadableModel:
    return UnreadableModel(
        f"cannot read {what}: it ends before its pickle does ({detail}): it was probably cut short while being written, "
        "copied or downloaded; write or copy it again"
    )


def not_a_pickle(what: str, detail: str) -> UnreadableModel:
    return UnreadableModel(f"cannot read {what}: it is damaged or not a pickle ({detail}): write or copy it again")


# -- code objects -----------------------------------------------------------------------------
_OPCODES = frozenset(op for op in dis.opmap.values() if op < 256)
_CACHES: Any = getattr(opcode, "_inline_cache_entries", None)  # 3.11+: list by opcode; 3.13+: dict by name
_CACHE = dis.opmap.get("CACHE")


def _cache_entries(op: int) -> int:
    if _CACHES is None:
        return 0
    if isinstance(_CACHES, dict):
        return int(_CACHES.get(dis.opname[op], 0))
    return int(_CACHES[op])


def bytecode_fits(raw: bytes) -> bool:
    """True when every instruction of the bytecode ``raw`` is an opcode of this Python
    followed by as many inline cache entries as this Python gives it. Measured on the code
    objects of the standard library of 3.10 to 3.13: none of the running version's fails;
    of another version's, 88 % (3.11 and 3.12 read by each other) to 100 % fail, and a
    model's pickled code is refused when any one of its functions fails. (3.10 and 3.11+
    also differ in CodeType's arguments, which are checked first.)"""
    if len(raw) % 2:
        return False
    i, n = 0, len(raw)
    while i < n:
        op = raw[i]
        if op not in _OPCODES or op == _CACHE:
            return False
        caches = _cache_entries(op)
        for j in range(i + 2, i + 2 + 2 * caches, 2):
            if j >= n or raw[j] != _CACHE:
                return False
        i += 2 + 2 * caches
    return True


#: cloudpickle passes CodeType's positional arguments, the bytecode 7th (3.8 to 3.13)
_CODE_ARGS = 16 if sys.version_info < (3, 11) else 18
_CODE_BYTES = 6


def _code_factory(what: str) -> Callable[..., types.CodeType]:
    def make_code(*args: Any) -> types.CodeType:
        # checked before CodeType sees them: another version's bytecode can corrupt memory
        # while the code object is built, not only when it runs
        if (len(args) != _CODE_ARGS or not isinstance(args[_CODE_BYTES], bytes)
                or not bytecode_fits(args[_CODE_BYTES])):
            raise other_python(what)
        return types.CodeType(*args)

    return make_code


def _checked_builtin_type(original: Callable[[str], Any], what: str) -> Callable[[str], Any]:
    """cloudpickle rebuilds a code object as ``_builtin_type("CodeType")(*args)``."""
    def builtin_type(name: str) -> Any:
        return _code_factory(what) if name == "CodeType" else original(name)

    return builtin_type


class UsesJoblib(Exception):
    """The pickle is joblib's format (arrays follow their wrappers): read it with joblib."""


class Unpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose failures to find a global, or to rebuild pickled code, are
    one-line ``UnreadableModel`` errors about ``what`` (e.g. "model file m.pkl")."""

    def __init__(self, file: Any, what: str, buffers: Any = None, joblib_aware: bool = False):
        super().__init__(file, buffers=buffers)
        self.what = what
        self.joblib_aware = joblib_aware

    def find_class(self, module: str, name: str) -> Any:
        if self.joblib_aware and module.split(".", 1)[0] == "joblib":
            raise UsesJoblib(module)
        try:
            obj = super().find_class(module, name)
        except ModuleNotFoundError as e:
            raise missing_module(self.what, e.name or module) from None
        except AttributeError:
            raise missing_name(self.what, module, name) from None
        if name == "_builtin_type" and module.split(".", 1)[0] == "cloudpickle":
            return _checked_builtin_type(obj, self.what)
        return obj


def load(file: Any, what: str, buffers: Any = None, joblib_aware: bool = False) -> Any:
    """Unpickle from the binary file ``file`` (``UsesJoblib`` when ``joblib_aware`` and the
    pickle is joblib's own format)."""
    try:
        return Unpickler(file, what, buffers=buffers, joblib_aware=joblib_aware).load()
    except EOFError as e:
        raise truncated(what, str(e) or "end of file") from None
    except pickle.UnpicklingError as e:
        if "truncated" in str(e):  # the C unpickler's "pickle data was truncated"
            raise truncated(what, str(e)) from None
        raise not_a_pickle(what, str(e)) from None
