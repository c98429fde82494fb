"""The one place a model package is verified and unpickled.

A package is fetched from its stage (a local stage's own directory, or a verified copy in
the download cache), checked file by file against the sha256 recorded when it was logged,
and only then unpickled, from the very bytes that were checked (``verify_dir(keep=True)``).
Every process that loads a model goes through :func:`load`: ``load_model``, the
warehouse's functions, each worker of a service, a Spark executor.
"""

from __future__ import annotations

import sys
import threading
import warnings
from pathlib import Path
from typing import Any

from mlreg.errors import EnvironmentWarning as EnvironmentWarning  # defined there: importing it costs nothing
from mlreg.runtime.spec import PackageSpec

_LOCK = threading.RLock()
# (model ID, package directory) -> the loaded model, for loads that may be shared
_MODELS: dict[tuple[str, str], Any] = {}


def environment_differences(package: PackageSpec) -> list[str]:
    from mlreg import provenance

    return provenance.environment_differences(package.environment)


def warn_environment(package: PackageSpec, stacklevel: int = 2) -> None:
    diffs = environment_differences(package)
    if diffs:
        warnings.warn(
            f"model {package.label} was logged in a different environment: " + "; ".join(diffs),
            EnvironmentWarning,
            stacklevel=stacklevel + 1,
        )


def fetch(package: PackageSpec) -> Path:
    """A local directory holding the package's files (not yet verified)."""
    from mlreg.stage import open_stage

    stage = open_stage(package.stage, package.database, package.stage_options)
    return stage.local_dir(package.package_id, dict(package.files), dict(package.blake3))


def verified(package: PackageSpec, path: Path | None = None, what: str | None = None, keep: bool = False) -> Path:
    """The package's local directory, checked against its checksums (IntegrityError
    otherwise). ``keep``: for a load that follows at once (see ``verify_dir``)."""
    from mlreg.package.verify import verify_dir

    path = fetch(package) if path is None else Path(path)
    verify_dir(path, dict(package.files), what or package.label, keep=keep, blake3=package.blake3)
    return path


def _unpickle(package: PackageSpec, path: Path) -> Any:
    from mlreg import handlers

    code_root = str(path / "code")
    if package.code_paths and code_root not in sys.path:
        sys.path.insert(0, code_root)
    return handlers.get_handler(package.model_type).load(path, dict(package.handler))


def load(package: PackageSpec, path: Path | None = None, what: str | None = None, warn: bool = True) -> Any:
    """Verify the package, then unpickle it: a new object on every call. ``path``: a
    local copy of the package to use instead of fetching it from its stage (it is
    verified all the same). Unpickling runs code from the package."""
    path = verified(package, path, what, keep=True)
    if warn:
        warn_environment(package, stacklevel=2)
    return _unpickle(package, path)


def load_shared(package: PackageSpec, path: Path | None = None, what: str | None = None, warn: bool = True) -> Any:
    """:func:`load`, once per process and package location: callers share the object
    (deployments score with it; they never change it)."""
    with _LOCK:
        key = (package.model_id, str(path) if path is not None else package.location)
        if key not in _MODELS:
            _MODELS[key] = load(package, path, what, warn)
        return _MODELS[key]


def forget_models() -> None:
    """Drop every shared model of this process (as a fresh process would start)."""
    with _LOCK:
        _MODELS.clear()
