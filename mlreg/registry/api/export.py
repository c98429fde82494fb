"""``ModelVersion.export``: a version's package written in snowflake-ml-python's own model
layout, so that its tools read it::

    model/model.yaml                         the model's metadata (signatures, env, models)
    model/env/conda.yml, requirements.txt    its environment
    model/runtimes/cpu/env/...               the same, for the CPU runtime
    model/models/<NAME>/...                  the model's files (model.pkl, ...), copied
    model/code/...                           its code paths, if any

Files are copied from the verified package byte for byte; nothing is unpickled. mlreg
keeps no sample of the input data, so ``sample_input_data.json`` is not written.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlreg.records import ModelRow

#: mlreg model types -> snowflake-ml-python's handler names
_MODEL_TYPES = {"sklearn": "sklearn", "xgboost": "xgboost", "lightgbm": "lightgbm", "pytorch": "pytorch",
                "tensorflow": "tensorflow", "keras": "keras", "mlflow": "mlflow", "custom": "custom"}
_VERSION = "2023-12-01"
#: the snowflake-ml-python release whose layout this writes (and that the tests read it with)
SNOWML_VERSION = "2.6.0"


def _yaml(value: Any, indent: int = 0) -> list[str]:
    """A small YAML writer (block style; strings as JSON, which YAML reads)."""
    pad = "  " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        if not value:
            return [pad + "{}"]
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{k}:")
                lines += _yaml(v, indent + (1 if isinstance(v, dict) else 0))
            else:
                lines.append(f"{pad}{k}: {_scalar(v)}")
    elif isinstance(value, list):
        if not value:
            return [pad + "[]"]
        for item in value:
            sub = _yaml(item, indent + 1)
            lines.append(f"{pad}- {sub[0].strip()}")
            lines += sub[1:]
    else:
        lines.append(pad + _scalar(value))
    return lines


def _scalar(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return json.dumps(v)
    if isinstance(v, dict):
        return "{}"
    if isinstance(v, list):
        return "[]"
    return json.dumps(str(v), ensure_ascii=False)


def write(package: Path, row: ModelRow, name: str, dest: Path) -> None:
    """Write the package (a verified directory) of ``row`` to ``dest/model``."""
    manifest = row.manifest
    root = dest / "model"
    model_dir = root / "models" / name
    model_dir.mkdir(parents=True)
    handler_files = list(manifest.get("handler", {}).get("files", []))
    for rel in sorted(row.files):
        if rel in handler_files or rel.startswith("model/"):
            target = model_dir / rel.removeprefix("model/")
        elif rel.startswith("code/"):
            target = root / rel
        else:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(package / rel, target)
    environment = manifest.get("environment", {})
    python = ".".join(str(manifest.get("python") or environment.get("python", "3")).split(".")[:2])
    pip = list(manifest.get("pip_requirements", []))
    conda = [f"python=={python}.*", *manifest.get("conda_dependencies", []),
             *(f"{k}=={v}" for k, v in sorted(environment.get("packages", {}).items()))]
    conda_yml = _yaml({"channels": ["https://repo.anaconda.com/pkgs/snowflake", "nodefaults"],
                       "dependencies": conda, "name": "snow-env"})
    for env_dir in (root / "env", root / "runtimes" / "cpu" / "env"):
        env_dir.mkdir(parents=True)
        (env_dir / "conda.yml").write_text("\n".join(conda_yml) + "\n")
        (env_dir / "requirements.txt").write_text("".join(f"{r}\n" for r in pip))
    model_type = _MODEL_TYPES.get(row.type, "custom")
    path = handler_files[0].removeprefix("model/") if len(handler_files) == 1 else ""
    signatures = {
        method: {"inputs": [{"name": s["name"], "nullable": True, "type": s["type"]} for s in sig.get("inputs", [])],
                 "outputs": [{"name": s["name"], "nullable": False, "type": s["type"]}
                             for s in sig.get("outputs", [])],
                 "params": []}
        for method, sig in manifest.get("signatures", {}).items()}
    meta = {
        "creation_timestamp": str(datetime.now(timezone.utc).replace(tzinfo=None)),
        "env": {"artifact_repository_map": {}, "conda": "env/conda.yml", "cuda_version": None,
                "pip": "env/requirements.txt", "python_version": python, "resource_constraint": {},
                "snowpark_ml_version": SNOWML_VERSION},
        "function_properties": {}, "metadata": None, "method_options": {}, "min_snowpark_ml_version": "1.0.12",
        "model_type": model_type,
        "models": {name: {"artifacts": {}, "function_properties": {}, "handler_version": _VERSION,
                          "model_type": model_type, "name": name, "options": {}, "path": path}},
        "name": name,
        "runtimes": {"cpu": {"dependencies": {"artifact_repository_map": {}, "conda": "runtimes/cpu/env/conda.yml",
                                              "pip": "runtimes/cpu/env/requirements.txt"},
                             "imports": [], "resource_constraint": {}}},
        "signatures": signatures,
        "version": _VERSION,
    }
    (root / "model.yaml").write_text("\n".join(_yaml(meta)) + "\n")
