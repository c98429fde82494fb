"""Helpers shared by the reliability, security, fuzz and schema tests: run the real
`mlreg` console script, and fingerprint a registry's files byte for byte."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping

REPO = Path(__file__).resolve().parents[2]
MLREG = str(Path(sys.executable).with_name("mlreg"))
SIGNATURES = {
    "predict": {
        "inputs": [{"name": "a", "type": "DOUBLE"}, {"name": "b", "type": "DOUBLE"}],
        "outputs": [{"name": "y", "type": "DOUBLE"}],
    }
}


def env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The current (hermetic) environment, with the repository importable so that
    pickles of test models load in a child process."""
    out = dict(os.environ)
    out["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), out.get("PYTHONPATH", "")) if p)
    out.pop("MLREG_FAULT", None)
    out.update(extra or {})
    return out


def mlreg(*args: str, extra_env: Mapping[str, str] | None = None, input: str | None = None,
          timeout: float = 120, check: int | None = None) -> subprocess.CompletedProcess:
    """Run the installed `mlreg` console script; ``check`` asserts its exit code."""
    proc = subprocess.run([MLREG, *args], env=env(extra_env), capture_output=True, text=True,
                          input=input, timeout=timeout)
    if check is not None:
        assert proc.returncode == check, (args, proc.returncode, proc.stdout, proc.stderr)
    return proc


def mlreg_json(*args: str, **kwargs: Any) -> Any:
    proc = mlreg(*args, "--format", "json", check=0, **kwargs)
    return json.loads(proc.stdout)


def assert_one_line_error(stderr: str) -> None:
    """Errors are exactly one line, `Error: ...`, and never a traceback (warnings may precede)."""
    lines = [line for line in stderr.splitlines() if not line.startswith("Warning: ")]
    assert len(lines) == 1 and lines[0].startswith("Error: "), stderr
    assert "Traceback" not in stderr, stderr


def fingerprint(root: Path) -> dict[str, str]:
    """Every file and directory under ``root``: sha256 of files, "dir"/"link" otherwise."""
    out: dict[str, str] = {}
    if not root.exists():
        return out
    for dirpath, dirs, files in os.walk(root):
        for d in dirs:
            p = Path(dirpath) / d
            out[p.relative_to(root).as_posix() + "/"] = "link" if p.is_symlink() else "dir"
        for f in files:
            p = Path(dirpath) / f
            out[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def write_model_pickle(path: Path, model: Any) -> Path:
    import cloudpickle

    with open(path, "wb") as f:
        cloudpickle.dump(model, f)
    return path


def write_signatures(path: Path) -> Path:
    path.write_text(json.dumps(SIGNATURES))
    return path
