"""Temporary deployments live in the deploying process; permanent ones in the registry,
usable from any later process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from mlreg import model_registry
from tests.fixtures.cli import subprocess_env
from tests.test_warehouse import churn_data, churn_model

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import mlreg
    from mlreg import NotFound, model_registry
    registry = model_registry.ModelRegistry(mlreg.connect())
    out = {}
    for name in sys.argv[1:]:
        try:
            rel = registry.predict_deployment(name, "customers.parquet")
            out[name] = [r[0] for r in rel.fetchall()]
        except NotFound as e:
            out[name] = "NotFound: " + str(e)
    out["sql"] = registry.sql("SELECT count(*) FROM 'customers.parquet' WHERE perm(age, plan) IN (0, 1)").fetchall()[0][0]
    print(json.dumps(out))
    """
)


def test_permanent_is_usable_from_a_new_process_and_temporary_is_not(registry, tmp_path):
    X = churn_data()
    clf = churn_model(X)
    registry.log_model(clf, "churn", "3", sample_input_data=X)
    ref = model_registry.ModelReference(registry, "churn", "3")
    ref.deploy("perm", permanent=True)
    ref.deploy("temp")
    data = churn_data(20, seed=3)
    data.to_parquet(tmp_path / "customers.parquet")

    proc = subprocess.run([sys.executable, "-c", SCRIPT, "perm", "temp"], capture_output=True, text=True,
                          env=subprocess_env(), cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["perm"] == clf.predict(data).tolist()
    assert out["temp"] == "NotFound: deployment temp does not exist in this registry; deployments: perm"
    assert out["sql"] == 20
    # and in this process, the temporary one is still there
    assert ref.predict("temp", data)["output_feature_0"].tolist() == clf.predict(data).tolist()


def test_a_deployment_deleted_by_another_process_is_gone_here(registry, tmp_path):
    X = churn_data()
    registry.log_model(churn_model(X), "churn", "3", sample_input_data=X)
    registry.deploy("churn", "3", "perm", permanent=True)
    script = "import mlreg; from mlreg import model_registry; r = model_registry.ModelRegistry(mlreg.connect()); r.deployments.delete(r.find_deployment('perm'))"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=subprocess_env(),
                          cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert registry.list_deployments().fetchall() == []
    assert registry.sql("SELECT count(*) FROM deployments").fetchall() == [(0,)]
