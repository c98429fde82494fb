"""ModelVersion.export writes snowflake-ml-python's model layout: compared with what
snowflake-ml-python (in the test environment) writes for the same model, and read back
by its own packager."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from mlreg.model_registry import create_model_registry
from mlreg.registry import Registry


def files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_export_matches_snowflake_ml_python_layout_and_loads_there(session, tmp_path):
    from sklearn.linear_model import LinearRegression
    from snowflake.ml.model._packager import model_packager

    X = pd.DataFrame({"A": [1.0, 2.0, 3.0], "B": [3.0, 4.0, 5.0]})
    model = LinearRegression().fit(X, [1.0, 2.0, 3.0])
    create_model_registry(session, database_name="ML")
    mv = Registry(session, database_name="ML").log_model(model, model_name="my_model", version_name="v1",
                                                         sample_input_data=X)
    mv.export(tmp_path / "ours")

    theirs = model_packager.ModelPackager(str(tmp_path / "theirs" / "model"))
    theirs.save(name="MY_MODEL", model=model, sample_input_data=X, metadata=None, options={"relax_version": True})

    # the same files, but the sample of the input, which mlreg does not keep
    assert files(tmp_path / "ours") == files(tmp_path / "theirs") - {"model/sample_input_data.json"}
    ours_meta = yaml.safe_load((tmp_path / "ours" / "model" / "model.yaml").read_text())
    their_meta = yaml.safe_load((tmp_path / "theirs" / "model" / "model.yaml").read_text())
    assert set(ours_meta) <= set(their_meta)
    for key in ("name", "model_type", "models", "version", "runtimes"):
        assert ours_meta[key] == their_meta[key], key
    assert ({m: [(s["name"], s["type"]) for s in sig["inputs"]] for m, sig in ours_meta["signatures"].items()}
            == {m: [(s["name"], s["type"]) for s in sig["inputs"]] for m, sig in their_meta["signatures"].items()})
    assert ours_meta["env"]["python_version"] == their_meta["env"]["python_version"]

    loader = model_packager.ModelPackager(str(tmp_path / "ours" / "model"))
    loader.load(as_custom_model=False)
    assert loader.meta.name == "MY_MODEL" and list(loader.model.predict(X)) == list(model.predict(X))
