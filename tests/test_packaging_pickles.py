"""Models that cannot be read here: one line that says the probable cause and what to do,
exit 1, nothing registered. The pickle from another Python version is made by that Python
(3.13 when the tests run on 3.11, else 3.11); its load runs in a subprocess, since running
another version's bytecode can crash the interpreter."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

from mlreg.package import pickles, unpickling
from tests.test_packaging import find_python

OTHER = "3.13" if sys.version_info[:2] != (3, 13) else "3.11"

MAKE_MODEL = """
import sys
import cloudpickle

def scale(values):
    return [2 * v for v in values]

class Model:
    def predict(self, X):
        return scale(list(X["a"]))

with open(sys.argv[1], "wb") as f:
    cloudpickle.dump(Model(), f)
"""


def other_python_pickle(tmp_path: Path) -> Path:
    """A cloudpickled model (a class of __main__, pickled by value) made by the other Python,
    with this environment's cloudpickle (pure Python) copied beside the script."""
    import cloudpickle

    lib = tmp_path / "other-lib"
    shutil.copytree(Path(cloudpickle.__file__).parent, lib / "cloudpickle")
    script = tmp_path / "make_model.py"
    script.write_text(MAKE_MODEL)
    out = tmp_path / f"model-py{OTHER}.pkl"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME",)}
    env["PYTHONPATH"] = str(lib)
    subprocess.run([find_python(OTHER), str(script), str(out)], check=True, env=env, timeout=120)
    return out


def one_error_line(run: Any) -> str:
    lines = run.stderr.strip().splitlines()
    assert run.exit_code == 1 and len(lines) == 1 and lines[0].startswith("Error: "), run
    return lines[0]


def test_log_refuses_code_pickled_by_another_python(tmp_path: Path, mlreg_bin: Callable[..., Any], sample_csv: Path) -> None:
    model = other_python_pickle(tmp_path)
    assert mlreg_bin("create").exit_code == 0
    run = mlreg_bin("log", model, "--name", "m", "--version", "1", "--sample-input", sample_csv)
    line = one_error_line(run)
    py = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert f"compiled by another Python version than this Python {py}" in line, line
    assert "load it with the Python version that pickled it" in line
    assert mlreg_bin("list", "--format", "json").stdout.strip() == "[]"


def test_package_load_refuses_code_pickled_by_another_python(tmp_path: Path) -> None:
    model = other_python_pickle(tmp_path)
    # pickles.load, the reader of every package's model.pkl, in a process of its own
    code = "import sys; from mlreg.package import pickles; pickles.load(sys.argv[1])"
    proc = subprocess.run([sys.executable, "-c", code, str(model)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc
    assert proc.stderr.strip().splitlines()[-1].startswith("mlreg.package.unpickling.UnreadableModel: cannot read model file "), proc.stderr
    assert "compiled by another Python version" in proc.stderr


def test_same_python_code_loads(tmp_path: Path) -> None:
    import cloudpickle

    class Local:  # defined in a function: cloudpickle saves it by value, bytecode and all
        def predict(self, X):
            return [v + 1 for v in X]

    path = tmp_path / "model.pkl"
    path.write_bytes(cloudpickle.dumps(Local()))
    assert pickles.load(path).predict([1, 2]) == [2, 3]


def test_log_names_a_module_that_is_not_installed(tmp_path: Path, mlreg_bin: Callable[..., Any], sample_csv: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "zz_churn_models.py").write_text("class Churn:\n    def predict(self, X):\n        return X\n")
    model = tmp_path / "model.pkl"
    subprocess.run([sys.executable, "-c", "import pickle, sys, zz_churn_models; "
                    "open(sys.argv[1], 'wb').write(pickle.dumps(zz_churn_models.Churn()))", str(model)],
                   check=True, env={**os.environ, "PYTHONPATH": str(lib)}, timeout=60)
    assert mlreg_bin("create").exit_code == 0
    line = one_error_line(mlreg_bin("log", model, "--name", "m", "--version", "1", "--sample-input", sample_csv))
    assert f"Error: cannot read model file {model}: it needs the Python module 'zz_churn_models', which is not installed here" in line, line
    assert "install the package that provides it" in line


def test_a_framework_module_names_its_extra() -> None:
    err = unpickling.missing_module("model file m.pkl", "xgboost.sklearn")
    assert str(err) == ("cannot read model file m.pkl: it needs the Python module 'xgboost.sklearn', which is not "
                        "installed here: pip install 'mlreg[xgboost]'")


def test_a_name_the_installed_library_lacks_is_another_version(tmp_path: Path) -> None:
    import duckdb

    path = tmp_path / "model.pkl"
    path.write_bytes(b"\x80\x02cduckdb\nNoSuchEstimator\n)\x81.")  # NoSuchEstimator() by reference
    with pytest.raises(unpickling.UnreadableModel) as err:
        pickles.load(path)
    assert str(err.value) == (
        f"cannot read model file {path}: it refers to duckdb.NoSuchEstimator, which the installed duckdb {duckdb.__version__} "
        "does not have: it was probably pickled with another version of it; install the version it was pickled "
        "with (`mlreg show` lists the versions recorded with a logged model)")


def test_a_class_of_the_pickling_script(tmp_path: Path, mlreg_bin: Callable[..., Any], sample_csv: Path) -> None:
    model = tmp_path / "model.pkl"
    subprocess.run([sys.executable, "-c", "import pickle, sys\nclass Script:\n    pass\n"
                    "open(sys.argv[1], 'wb').write(pickle.dumps(Script()))", str(model)], check=True, timeout=60)
    assert mlreg_bin("create").exit_code == 0
    line = one_error_line(mlreg_bin("log", model, "--name", "m", "--version", "1", "--sample-input", sample_csv))
    assert "it refers to Script, a class or function of the script that pickled it (__main__)" in line, line
    assert "pickle the model with cloudpickle" in line


@pytest.mark.parametrize("keep", [0, 40, -1], ids=["empty-pickle-body", "cut-at-40-bytes", "last-byte-missing"])
def test_log_names_a_truncated_file(tmp_path: Path, cli: Callable[..., Any], sample_csv: Path, model_file: Path, keep: int) -> None:
    data = model_file.read_bytes()
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(data[:2] if keep == 0 else data[:keep])
    assert cli("create").exit_code == 0
    line = one_error_line(cli("log", cut, "--name", "m", "--version", "1", "--sample-input", sample_csv))
    assert line.startswith(f"Error: cannot read model file {cut}: it ends before its pickle does ("), line
    assert "write or copy it again" in line
    assert cli("list", "--format", "json").stdout.strip() == "[]"


def test_a_damaged_pickle(tmp_path: Path) -> None:
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"a": 1})[:-1] + b"\xff")
    with pytest.raises(unpickling.UnreadableModel, match=r"is damaged or not a pickle \(invalid load key"):
        pickles.load(path)
