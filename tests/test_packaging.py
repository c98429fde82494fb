"""mlreg installed the way users install it: the wheel (PEP 517 build of this tree) in fresh
virtual environments on Python 3.10 to 3.13, the core alone, with the sklearn extra and with
every extra, each running the CLI's main path (tests/data/smoke.py). Also what the wheel
and the sdist hold.

The wheel and sdist are built once per session (shared by the xdist workers). The
dependencies come from a wheelhouse kept in the test virtualenv (``sys.prefix``): each
environment is installed from it with ``--no-index``, and when that finds something
missing, ``pip download`` (pinned by constraints.txt) fills it first. Each environment is
removed when its test ends.
"""

from __future__ import annotations

import email
import fcntl
import glob
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

import mlreg

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / "constraints.txt"
SMOKE = ROOT / "tests" / "data" / "smoke.py"
WHEELHOUSE = Path(sys.prefix) / "mlreg-wheelhouse"
DATA_FILES = {
    "share/man/man1": ("man", "*.1"),
    "share/bash-completion/completions": ("completions", "mlreg.bash"),
    "share/zsh/site-functions": ("completions", "_mlreg"),
    "share/fish/vendor_completions.d": ("completions", "mlreg.fish"),
}


def find_python(version: str) -> str:
    """The interpreter of a supported Python version: pyenv's, else python3.X on PATH (a
    pyenv shim there may not run, so each candidate is asked its version)."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = sorted(glob.glob(str(pyenv / "versions" / f"{version}.*" / "bin" / "python")), reverse=True)
    candidates += filter(None, [shutil.which(f"python{version}")])
    for python in candidates:
        probe = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                               capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return python
    pytest.fail(f"Python {version} is supported but not installed here (tried {candidates or 'nothing'} and "
                f"python{version} on PATH): install it, e.g. pyenv install {version}")


@contextmanager
def locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def run(cmd: list[str], log: Path, **kwargs) -> None:
    """Run a step with its output in ``log``; on failure the test fails with the log's end."""
    with open(log, "a") as out:
        out.write(f"$ {' '.join(map(str, cmd))}\n")
        out.flush()
        proc = subprocess.run([str(c) for c in cmd], stdout=out, stderr=subprocess.STDOUT, **kwargs)
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        pytest.fail(f"{' '.join(map(str, cmd[:4]))} ... exited {proc.returncode}; end of {log}:\n{tail}")


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [f for f in out.splitlines() if (ROOT / f).is_file()]


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The wheel and sdist, built once per session from a copy of the work tree's files
    (what a clean clone has, plus uncommitted work) with `python -m build`."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    out = shared / "mlreg-dist"
    with locked(shared / "mlreg-dist.lock"):
        if not (out / "done").exists():
            src = shared / "mlreg-src"
            shutil.rmtree(src, ignore_errors=True)
            for rel in tracked_files():
                (src / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / rel, src / rel)
            out.mkdir(exist_ok=True)
            run([sys.executable, "-m", "build", "--no-isolation", "--outdir", out / "dist", src], out / "build.log")
            (out / "done").write_text("")
    wheels = list((out / "dist").glob("mlreg-*.whl"))
    sdists = list((out / "dist").glob("mlreg-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, list((out / "dist").iterdir())
    return {"wheel": wheels[0], "sdist": sdists[0]}


def extras_of(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as z:
        meta = email.message_from_bytes(z.read(f"mlreg-{mlreg.__version__}.dist-info/METADATA"))
    return [e for e in meta.get_all("Provides-Extra") or [] if e != "test"]


def constraints_for(where: Path, pins: list[str]) -> Path:
    """constraints.txt, with ``pins`` (``name==version``) in place of its own for those names."""
    if not pins:
        return CONSTRAINTS
    names = {p.split("==")[0].lower() for p in pins}
    kept = [line for line in CONSTRAINTS.read_text().splitlines() if line.split("==")[0].strip().lower() not in names]
    path = where / "constraints.txt"
    path.write_text("\n".join(kept + pins) + "\n")
    return path


def fill_wheelhouse(python: str, requirement: str, constraints: Path) -> None:
    """Download what ``requirement`` needs on ``python`` into the wheelhouse (pip download,
    pinned by ``constraints``); one download at a time across xdist workers."""
    with locked(WHEELHOUSE / ".lock"):
        run([sys.executable, "-m", "pip", "--python", python, "download", "--no-cache-dir", "--dest", WHEELHOUSE,
             "-c", constraints, requirement], WHEELHOUSE / "download.log")
        for own in WHEELHOUSE.glob("mlreg-*"):
            own.unlink()  # the wheel under test is always the one just built


def install(python: str, extras: list[str], pins: list[str], wheel: Path, where: Path) -> Path:
    """A fresh virtual environment with the wheel and ``extras`` installed from the wheelhouse
    (filled first when it lacks something); its python."""
    requirement = f"mlreg{'[' + ','.join(extras) + ']' if extras else ''} @ {wheel.as_uri()}"
    constraints = constraints_for(where, pins)
    venv = where / "venv"
    log = where / "install.log"
    run([python, "-m", "venv", "--without-pip", venv], log)
    py = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", py]
    cmd = [*pip, "install", "--no-cache-dir", "--no-compile", "--no-index", "--find-links", WHEELHOUSE,
           "-c", constraints, requirement]
    WHEELHOUSE.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as out:  # pip resolves everything before it installs anything
        complete = subprocess.run([str(c) for c in cmd], stdout=out, stderr=subprocess.STDOUT).returncode == 0
    if not complete:
        fill_wheelhouse(python, requirement, constraints)
        run(cmd, log)
    run([*pip, "check"], log)
    return py


# (Python, extras, model): the core on every supported Python; frameworks on the main one;
# "core-pandas3": the core with pandas 3, what `pip install mlreg` gets on 3.11 and later
# (constraints.txt pins pandas 2 for the development environment)
ENVIRONMENTS = [
    ("3.10", "core", "custom"),
    ("3.11", "core", "custom"),
    ("3.12", "core", "custom"),
    ("3.13", "core", "custom"),
    ("3.13", "core-pandas3", "custom"),
    ("3.11", "sklearn", "sklearn"),
    ("3.11", "all", "sklearn"),
]
PINS = {"core-pandas3": ["pandas==3.1.1"]}


@pytest.mark.parametrize(("version", "extras", "model"), ENVIRONMENTS, ids=[f"{e}-py{v}" for v, e, _ in ENVIRONMENTS])
def test_installed_wheel_runs_the_cli_main_path(dist, tmp_path: Path, version: str, extras: str, model: str) -> None:
    python = find_python(version)
    chosen = {"sklearn": ["sklearn"], "all": extras_of(dist["wheel"])}.get(extras, [])
    try:
        py = install(python, chosen, PINS.get(extras, []), dist["wheel"], tmp_path)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        for pin in PINS.get(extras, []):
            name, version_pinned = pin.split("==")
            got = subprocess.run([py, "-c", f"from importlib.metadata import version; print(version({name!r}))"],
                                 capture_output=True, text=True, env=env, check=True).stdout.strip()
            assert got == version_pinned, (name, got)
        proc = subprocess.run([py, SMOKE, tmp_path / "smoke", "--model", model], capture_output=True, text=True,
                              cwd=tmp_path, env=env, timeout=900)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.strip().splitlines()[-1].startswith("smoke: 15 steps passed"), proc.stdout
        # installed from the wheel, not from this tree
        where = subprocess.run([py, "-c", "import mlreg; print(mlreg.__file__)"], capture_output=True, text=True,
                               cwd=tmp_path, env=env, check=True).stdout
        assert where.startswith(str(tmp_path / "venv")), where
        # the data files land under the environment's prefix, where man and the shells look
        assert (tmp_path / "venv" / "share" / "man" / "man1" / "mlreg.1").is_file()
    finally:
        shutil.rmtree(tmp_path / "venv", ignore_errors=True)


def test_wheel_holds_the_package_man_pages_and_completions_only(dist) -> None:
    version = mlreg.__version__
    with zipfile.ZipFile(dist["wheel"]) as z:
        names = set(z.namelist())
        data = {n: z.read(n) for n in names if n.startswith(f"mlreg-{version}.data/")}
        meta = email.message_from_bytes(z.read(f"mlreg-{version}.dist-info/METADATA"))
    sources = {f for f in tracked_files() if f.startswith("mlreg/") and f.endswith(".py")}
    package = {n for n in names if n.startswith("mlreg/")}
    assert package == sources  # every module, and nothing else (no tests, caches or stray files)
    info = {n for n in names if n.startswith(f"mlreg-{version}.dist-info/")}
    assert {n.split("/", 1)[1] for n in info} == {"METADATA", "WHEEL", "RECORD", "entry_points.txt", "top_level.txt"}
    expected = {}
    for target, (folder, pattern) in DATA_FILES.items():
        for f in sorted((ROOT / folder).glob(pattern)):
            expected[f"mlreg-{version}.data/data/{target}/{f.name}"] = f.read_bytes()
    assert data == expected
    assert names == package | info | set(data)
    assert meta["Version"] == version
    from packaging.specifiers import SpecifierSet

    assert SpecifierSet(meta["Requires-Python"]) == SpecifierSet(">=3.10,<3.14")
    supported = sorted(v for v, extras, _model in ENVIRONMENTS if extras == "core")
    assert [c.rsplit(" ", 1)[1] for c in meta.get_all("Classifier") if c.startswith("Programming Language :: Python :: 3.")] == supported


def test_sdist_holds_what_builds_the_wheel(dist) -> None:
    with tarfile.open(dist["sdist"]) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    files = {n for n in names if n.split("/")[0] != "mlreg.egg-info"} - {"PKG-INFO", "setup.cfg"}
    tracked = set(tracked_files())
    wanted = {f for f in tracked if f.startswith(("mlreg/", "man/", "completions/"))}
    wanted |= {"README.md", "pyproject.toml", "MANIFEST.in"}
    dirs = {n for n in files if n not in tracked and any(f.startswith(n + "/") for f in tracked)}
    assert files - dirs == wanted
