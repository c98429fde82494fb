"""What a server process needs to serve one model: a plain, JSON-serializable dict.

The deploying process (or `mlreg serve`) resolves and verifies the model package once
and hands the server this spec; server processes and their workers load the model from
``package_dir`` without opening the registry. The spec never holds a secret: the bearer
token reaches the server through the ``MLREG_SERVICE_TOKEN`` environment variable.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlreg.errors import InvalidInput
from mlreg.package import MANIFEST

if TYPE_CHECKING:
    from mlreg.registry.registry import ModelRegistry, ModelRow

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


def _build(manifest: dict[str, Any], package_dir: Path, target_method: str, **settings: Any) -> dict[str, Any]:
    methods = manifest.get("target_methods", [])
    signature = manifest.get("signatures", {}).get(target_method)
    if target_method not in methods or signature is None:
        raise InvalidInput(
            f"model {manifest.get('name')}/{manifest.get('version')} has no target method {target_method!r}; "
            f"it has: {', '.join(methods) or 'none'}"
        )
    return {
        "model_id": manifest.get("id"),
        "model_name": manifest.get("name"),
        "model_version": manifest.get("version"),
        "model_type": manifest.get("type"),
        "handler": manifest.get("handler", {}),
        "code_paths": manifest.get("code_paths", []),
        "package_dir": str(Path(package_dir).resolve()),
        "target_method": target_method,
        "signature": signature,
        "deployment": settings.get("deployment"),
        "endpoint": check_endpoint(settings.get("endpoint") or DEFAULT_ENDPOINT),
        "max_request_bytes": int(settings.get("max_request_bytes") or DEFAULT_MAX_REQUEST_BYTES),
        "output_with_input_features": bool(settings.get("output_with_input_features", False)),
        "auth": bool(settings.get("auth", False)),
        # None: batch concurrent requests when the model type is row-wise (see scoring)
        "batch_requests": settings.get("batch_requests"),
    }


def from_registry(
    registry: "ModelRegistry",
    model_name: str,
    model_version: str,
    target_method: str = "predict",
    **settings: Any,
) -> dict[str, Any]:
    """A spec for a registered model version; its package is verified first."""
    row, path = registry.package_dir(model_name, model_version)
    return from_row(row, path, target_method, **settings)


def from_row(row: "ModelRow", package_dir: Path, target_method: str, **settings: Any) -> dict[str, Any]:
    manifest = dict(row.manifest)
    manifest.update({"id": row.id, "name": row.name, "version": row.version, "type": row.type})
    return _build(manifest, package_dir, target_method, **settings)


def from_package(
    package_dir: str | Path,
    model_name: str,
    model_version: str,
    target_method: str = "predict",
    **settings: Any,
) -> dict[str, Any]:
    """A spec for a package directory (what `mlreg load` and a build context hold)."""
    path = Path(package_dir)
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"{path} is not a model package: it has no {MANIFEST}") from None
    except (OSError, ValueError) as e:
        raise InvalidInput(f"cannot read {path / MANIFEST}: {e}") from None
    if (manifest.get("name"), manifest.get("version")) != (model_name, model_version):
        raise InvalidInput(
            f"the package in {path} holds model {manifest.get('name')}/{manifest.get('version')}, "
            f"not {model_name}/{model_version}"
        )
    return _build(manifest, path, target_method, **settings)


def load_model(spec: dict[str, Any]) -> tuple[Any, Any]:
    """Load the model of a spec: ``(handler, model)``. Unpickles code from the package."""
    import sys

    from mlreg import handlers

    root = Path(spec["package_dir"])
    code_root = str(root / "code")
    if spec.get("code_paths") and code_root not in sys.path:
        sys.path.insert(0, code_root)
    handler = handlers.get_handler(spec["model_type"])
    return handler, handler.load(root, spec.get("handler", {}))
