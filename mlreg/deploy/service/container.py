"""A container build context for a service: Dockerfile, requirements, the model
package (checked with ``sha256sum -c`` while building) and a copy of mlreg, with
``python -m mlreg serve NAME VERSION --package model`` as the entrypoint.

    context/
      Dockerfile  requirements.txt  model.sha256  model/...  vendor/mlreg/...

Host, port and workers come from ``MLREG_SERVICE_HOST`` (0.0.0.0 in the image),
``MLREG_SERVICE_PORT`` (8080) and ``MLREG_SERVICE_WORKERS``; the bearer token, if any,
from ``MLREG_SERVICE_TOKEN`` at run time (never baked into the image).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import warnings
from pathlib import Path
from typing import Any

from mlreg.errors import InvalidInput, MlregError
from mlreg.package import MANIFEST
from mlreg.runtime.spec import PackageSpec, ScoringSpec

MARKER = ".mlreg-build-context"
PORT = 8080
#: what the server needs besides the model's own packages (distribution names)
SERVER_PACKAGES = ("typer", "rich", "duckdb", "cloudpickle", "pyarrow", "pandas", "numpy", "starlette", "uvicorn")


def _pip_requirements(package_dir: Path) -> list[str]:
    """The pip requirements the model was logged with (from its verified manifest)."""
    try:
        manifest = json.loads((Path(package_dir) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InvalidInput(f"cannot read the manifest of the package in {package_dir}: {e}") from None
    return [str(r) for r in manifest.get("pip_requirements", [])]


def _requirements(package: PackageSpec, pip_requirements: list[str]) -> list[str]:
    from mlreg.provenance import installed_version

    pins: dict[str, str] = {}
    for name in SERVER_PACKAGES:
        version = installed_version(name)
        pins[name.lower()] = f"{name}=={version}" if version else name
    for name, version in sorted((package.environment.get("packages") or {}).items()):
        pins[name.lower()] = f"{name}=={version}"
    lines = sorted(pins.values(), key=str.lower)
    lines += [r for r in pip_requirements if r.split("=")[0].split("<")[0].split(">")[0].strip().lower() not in pins]
    return lines


def _dockerfile(package: PackageSpec, *, target_method: str, endpoint: str, workers: int,
                prebuilt_image: str | None, min_instances: int, max_instances: int) -> str:
    python = str(package.environment.get("python") or "3.11")
    base = prebuilt_image or f"python:{'.'.join(python.split('.')[:2])}-slim"
    install = ("# the prebuilt image holds the environment already\n" if prebuilt_image else
               "RUN pip install --no-cache-dir -r requirements.txt\n")
    entry = ["python", "-m", "mlreg", "serve", package.model_name, package.model_version, "--package", "model",
             "--target-method", target_method, "--endpoint", endpoint]
    health = ("import os, urllib.request; urllib.request.urlopen("
              "'http://127.0.0.1:%s/health' % os.environ.get('MLREG_SERVICE_PORT', '8080'), timeout=2)")
    return (
        f"# Built by mlreg for model {package.model_name}/{package.model_version} (ID {package.model_id}).\n"
        f"FROM {base}\n"
        "WORKDIR /app\n"
        "COPY requirements.txt ./\n"
        f"{install}"
        "COPY vendor ./vendor\n"
        "COPY model.sha256 ./\n"
        "COPY model ./model\n"
        "RUN cd model && sha256sum --check --quiet ../model.sha256\n"
        f"LABEL org.opencontainers.image.title=\"{package.model_name}\" mlreg.model_id=\"{package.model_id}\" "
        f"mlreg.model_version=\"{package.model_version}\" mlreg.min_instances=\"{min_instances}\" "
        f"mlreg.max_instances=\"{max_instances}\"\n"
        "ENV PYTHONPATH=/app/vendor PYTHONUNBUFFERED=1 MLREG_HOME=/tmp/mlreg \\\n"
        f"    MLREG_SERVICE_HOST=0.0.0.0 MLREG_SERVICE_PORT={PORT} MLREG_SERVICE_WORKERS={workers}\n"
        f"EXPOSE {PORT}\n"
        "USER 10001:10001\n"
        f"HEALTHCHECK --interval=30s --timeout=5s CMD [\"python\", \"-c\", {json.dumps(health)}]\n"
        f"ENTRYPOINT {json.dumps(entry)}\n"
    )


def _prepare(directory: Path) -> None:
    if directory.exists():
        if not directory.is_dir():
            raise InvalidInput(f"build context {directory} exists and is not a directory")
        if (directory / MARKER).is_file():
            shutil.rmtree(directory)  # one we wrote before: replace it whole
        elif any(directory.iterdir()):
            raise InvalidInput(f"build context directory {directory} is not empty; name a new or empty one")
    directory.mkdir(parents=True, exist_ok=True)


def write(
    spec: ScoringSpec,
    package_dir: Path,
    directory: Path,
    *,
    endpoint: str = "predict",
    workers: int = 1,
    prebuilt_image: str | None = None,
    min_instances: int = 1,
    max_instances: int = 1,
) -> Path:
    """Write the build context of ``spec`` (whose verified package is ``package_dir``)."""
    import mlreg

    package = spec.package
    spec.model_signature()  # a method without a signature cannot be served
    directory = Path(directory)
    pip = _pip_requirements(package_dir)
    _prepare(directory)
    for rel in sorted(package.files):
        target = directory / "model" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(package_dir) / rel, target)
    (directory / "model.sha256").write_text("".join(f"{h}  {rel}\n" for rel, h in sorted(package.files.items())),
                                            encoding="utf-8")
    shutil.copytree(Path(mlreg.__file__).resolve().parent, directory / "vendor" / "mlreg",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (directory / "requirements.txt").write_text("\n".join(_requirements(package, pip)) + "\n", encoding="utf-8")
    (directory / "Dockerfile").write_text(_dockerfile(
        package, target_method=spec.target_method, endpoint=endpoint, workers=workers, prebuilt_image=prebuilt_image,
        min_instances=min_instances, max_instances=max_instances), encoding="utf-8")
    (directory / ".dockerignore").write_text("**/__pycache__\n", encoding="utf-8")
    (directory / MARKER).write_text(json.dumps({"model_id": package.model_id}) + "\n", encoding="utf-8")
    return directory


def docker_available(timeout: float = 10.0) -> bool:
    """True when a Docker engine answers (a client alone is not enough)."""
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=timeout).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def build(directory: Path, image: str) -> None:
    proc = subprocess.run(["docker", "build", "-t", image, str(directory)], capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
        raise MlregError(f"docker build of {image} from {directory} failed:\n{tail}")


def write_and_build(spec: ScoringSpec, package_dir: Path, directory: Path, *, image: str, **settings: Any) -> bool:
    """Write the context; build ``image`` when a Docker engine answers. True if built."""
    write(spec, package_dir, directory, **settings)
    if not docker_available():
        warnings.warn(
            f"no Docker engine answered: wrote the build context to {directory}; "
            f"build it with `docker build -t {image} {directory}`",
            stacklevel=3,
        )
        return False
    build(directory, image)
    return True


def write_build_context(
    spec: ScoringSpec,
    directory: str | Path,
    endpoint: str = "predict",
    num_workers: int | None = None,
    prebuilt_image: str | None = None,
    image: str | None = None,
) -> Path:
    """Write a container build context for a model method (``registry.scoring_spec(...)``)
    to ``directory`` (new or empty) and, with ``image``, build it when a Docker engine
    answers. The package is verified before it is copied."""
    from mlreg.deploy.service.spec import check_endpoint, default_workers
    from mlreg.runtime import loading

    package = loading.verified(spec.package, what=spec.label)
    settings: dict[str, Any] = {"endpoint": check_endpoint(endpoint), "workers": num_workers or default_workers(),
                                "prebuilt_image": prebuilt_image}
    if image:
        write_and_build(spec, package, Path(directory), image=image, **settings)
    else:
        write(spec, package, Path(directory), **settings)
    return Path(directory)
