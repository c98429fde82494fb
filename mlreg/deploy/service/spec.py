"""What a server process needs to serve one model: a plain, JSON-serializable dict.

The deploying process (or `mlreg serve`) fetches the model package to a local directory
and hands the server this spec; every server process (each worker, and a worker that
restarts) verifies ``package_dir`` against the package's recorded checksums before it
unpickles anything, without opening the registry. The spec never holds a secret: the bearer
token reaches the server through the ``MLREG_SERVICE_TOKEN`` environment variable.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from mlreg.errors import InvalidInput
from mlreg.package import MANIFEST
from mlreg.records import ModelRow
from mlreg.runtime.scorer import Scorer
from mlreg.runtime.spec import PackageSpec, ScoringSpec

#: the environment variable holding the bearer token (server and client side)
TOKEN_ENV = "MLREG_SERVICE_TOKEN"
DEFAULT_ENDPOINT = "predict"
DEFAULT_MAX_REQUEST_BYTES = 100 * 1024 * 1024
RESERVED_PATHS = {"health", "metadata"}
_ENDPOINT = re.compile(r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$")


def default_workers() -> int:
    """2 x cores + 1, as the seed's ``num_workers`` default."""
    return 2 * (os.cpu_count() or 1) + 1


def check_endpoint(value: Any) -> str:
    """The predict route's path, without its leading slash."""
    text = str(value).strip().lstrip("/") if value is not None else ""
    if not text or not _ENDPOINT.match(text) or any(p in (".", "..") for p in text.split("/")):
        raise InvalidInput(
            f"option endpoint must be a URL path of letters, digits, '_', '-', '.' and '/', got {value!r}"
        )
    if text in RESERVED_PATHS:
        raise InvalidInput(f"option endpoint cannot be {text!r}: GET /{text} is a route of every service")
    return text


def _build(scoring: ScoringSpec, package_dir: Path, **settings: Any) -> dict[str, Any]:
    scoring.model_signature()  # a method without a signature cannot be served
    package = scoring.package
    return {
        "model_id": package.model_id,
        "model_name": package.model_name,
        "model_version": package.model_version,
        "model_type": package.model_type,
        "package": package.to_json(),  # what each server process verifies before it loads
        "package_dir": str(Path(package_dir).resolve()),
        "target_method": scoring.target_method,
        "signature": dict(scoring.signature),
        "deployment": settings.get("deployment", scoring.deployment),
        "endpoint": check_endpoint(settings.get("endpoint") or DEFAULT_ENDPOINT),
        "max_request_bytes": int(settings.get("max_request_bytes") or DEFAULT_MAX_REQUEST_BYTES),
        "output_with_input_features": bool(settings.get("output_with_input_features", False)),
        "auth": bool(settings.get("auth", False)),
        # None: batch concurrent requests when the model type is row-wise (see payloads)
        "batch_requests": settings.get("batch_requests"),
    }


def from_scoring(scoring: ScoringSpec, **settings: Any) -> dict[str, Any]:
    """The server spec of a scoring spec; its package is fetched and verified first."""
    from mlreg.runtime import loading

    return _build(scoring, loading.verified(scoring.package, what=scoring.label), **settings)


def from_verified(scoring: ScoringSpec, package_dir: Path, **settings: Any) -> dict[str, Any]:
    """The server spec of a scoring spec whose package was just fetched to ``package_dir``
    and verified."""
    return _build(scoring, package_dir, **settings)


def from_package(
    package_dir: str | Path,
    model_name: str,
    model_version: str,
    target_method: str = "predict",
    **settings: Any,
) -> dict[str, Any]:
    """A spec for a package directory (what `mlreg load` and a build context hold),
    checked against the checksums its manifest records."""
    path = Path(package_dir)
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"{path} is not a model package: it has no {MANIFEST}") from None
    except (OSError, ValueError) as e:
        raise InvalidInput(f"cannot read {path / MANIFEST}: {e}") from None
    if not isinstance(manifest, dict) or (manifest.get("name"), manifest.get("version")) != (model_name, model_version):
        held = f"{manifest.get('name')}/{manifest.get('version')}" if isinstance(manifest, dict) else "nothing readable"
        raise InvalidInput(f"the package in {path} holds model {held}, not {model_name}/{model_version}")
    row = ModelRow(str(manifest.get("id")), model_name, model_version, str(manifest.get("type")),
                   str(path.resolve()), manifest, dict(manifest.get("files") or {}))
    package = PackageSpec.of(row, stage=str(path.resolve().parent), database=path.name)  # read from ``path`` only
    scoring = ScoringSpec.of(row, target_method, package)
    from mlreg.runtime import loading

    return _build(scoring, loading.verified(package, path, what=f"{model_name}/{model_version} in {path}"), **settings)


def load_scorer(spec: dict[str, Any]) -> Scorer:
    """The scorer of a server spec. The package directory is verified against the
    recorded checksums first, in this very process (a worker that restarts checks it
    again), and the bytes checked are the ones unpickled."""
    from mlreg.runtime import loading

    package = PackageSpec.from_json(spec["package"])
    scoring = ScoringSpec(package, spec["target_method"], spec["signature"], spec.get("deployment"))
    model = loading.load(package, Path(spec["package_dir"]), what=f"{scoring.label} (served)", warn=False)
    return Scorer(scoring, model)
