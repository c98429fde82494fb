"""Every example of the seed page, as the README gives it, runs on mlreg: the blocks between
``<!-- SEED-EXAMPLES -->`` markers are run in order, in one namespace, against a real
registry (a real warehouse function, a real service process on loopback).

The namespace holds what a seed user has at hand (a fitted SVC ``clf``, its
hyperparameters, train and test data); before a block that names a model version or a
deployment the seed assumes exists (``my_model/102``, ``my_model/100``,
``my_deployment``), the harness makes it. Each block's effect is then checked.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import pytest

README = Path(__file__).resolve().parent.parent / "README.md"

pytestmark = pytest.mark.usefixtures("process_guard")


def seed_blocks() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("<!-- SEED-EXAMPLES -->", 1)[1].split("<!-- /SEED-EXAMPLES -->", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_readme_gives_every_example_of_the_seed_page():
    """The page's own lines (as the scraped text has them) appear in the README's blocks."""
    code = "\n".join(seed_blocks())
    for line in [
        'model.set_tag(tag_name="stage", tag_value="production")',
        'registry.set_tag(model_name="my_model", model_version="102", tag_name="stage", tag_value="production")',
        "session = Session.builder.configs(SnowflakeLoginOptions()).create()",
        'result = model_registry.create_model_registry(session=session, database_name="MODEL_REGISTRY")',
        'registry = model_registry.ModelRegistry(session=session, database_name="MODEL_REGISTRY")',
        "model_id = registry.log_model(model=clf,",
        'description="My awesome ML model",',
        'tags={"stage": "testing", "classifier_type": "svm.SVC",',
        '"svc_gamma": svc_gamma, "svc_C": svc_C},',
        "model_list = registry.list_models()",
        '"CREATION_TIME", ascending=False).show()',
        'model_list.filter(model_list["ID"] == model_id).select(',
        '"NAME", "TAGS", "METRICS").show()',
        'model = model_registry.ModelReference(registry=registry, model_name="my_model", model_version="101")',
        'model.set_model_description("A better description than the one I provided originally")',
        'model.set_tag("minor_version", "1")',
        'model.set_tag("stage", "prod")',
        "lm = registry.list_models()",
        "lm.select('NAME', 'VERSION', functions.parse_json(lm[\"TAGS\"]).getField(\"stage\")).show()",
        "test_accuracy = metrics.accuracy_score(test_labels, prediction)",
        "test_confusion_matrix = metrics.confusion_matrix(test_labels, prediction)",
        'model.set_metric("test_accuracy", test_accuracy)',
        'model.set_metric("dataset_test", {"accuracy": test_accuracy})',
        'model.set_metric("confusion_matrix", test_confusion_matrix)',
        'target_method="predict",    # the name of the model\'s method, usually predict',
        'result_dataframe = model.predict("my_warehouse_predict", test_dataframe)',
        '"compute_pool": "my_pool",',
        'result_dataframe = model.predict("my_spcs_predict", test_dataframe)',
        "clf = model.load_model()",
        "results = clf.predict(test_features)",
        'registry.delete_model(model_name="my_model", model_version="100")',
        'registry.delete_model(model_name="my_model", model_version="100", delete_artifact=False)',
    ]:
        assert line in code, line
    assert "snowflake" not in code  # only the imports changed: no Snowflake module is needed


@pytest.fixture
def seed_user(registry: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What a seed user has at hand: an SVC trained on iris, its data and predictions."""
    from sklearn import datasets, svm

    # the service of the SPCS example: one worker (the seed's default is 2 x cores + 1)
    monkeypatch.setattr("mlreg.deploy.service.platform.default_workers", lambda: 1)
    (Path.cwd() / "config.toml").write_text('[connections.ci]\nrole = "ci"\n', encoding="utf-8")
    iris = datasets.load_iris(as_frame=True)
    X, y = iris.data, iris.target
    train_features, test_features = X.iloc[::2].reset_index(drop=True), X.iloc[1::2].reset_index(drop=True)
    train_labels, test_labels = y.iloc[::2], y.iloc[1::2]
    svc_gamma, svc_C = 0.25, 1.0
    clf = svm.SVC(gamma=svc_gamma, C=svc_C).fit(train_features, train_labels)
    return {
        "clf": clf, "svc_gamma": svc_gamma, "svc_C": svc_C, "train_features": train_features,
        "test_features": test_features, "test_labels": test_labels, "prediction": clf.predict(test_features),
        "test_dataframe": test_features,
    }


def test_every_seed_example_runs_as_written(registry, seed_user, capsys):
    from mlreg import model_registry

    ns: dict[str, Any] = dict(seed_user)
    original = seed_user["clf"]

    def log(version: str) -> Callable[[], None]:
        def make() -> None:
            if not registry.exists("my_model", version):
                registry.log_model(original, "my_model", version, sample_input_data=seed_user["train_features"])
        return make

    def deploy_my_deployment() -> None:
        model_registry.ModelReference(registry, "my_model", "101").deploy("my_deployment")

    before = {'model_version="102"': log("102"), 'model_version="100"': log("100"),
              '"my_deployment"': deploy_my_deployment}
    blocks = seed_blocks()
    assert len(blocks) == 27
    printed = []
    try:
        for block in blocks:
            for marker, make in before.items():
                if marker in block:
                    make()
            capsys.readouterr()
            exec(compile(block, "README seed example", "exec"), ns)  # noqa: S102 - the README's own code
            printed.append(capsys.readouterr().out)
            check(block, ns, registry, printed[-1])
    finally:
        for dep in registry.list_deployments().select("DEPLOYMENT_NAME").collect():
            registry.deployments.delete(registry.find_deployment(dep.DEPLOYMENT_NAME))


def check(block: str, ns: dict[str, Any], registry: Any, out: str) -> None:
    """What each block must have done."""
    import numpy as np

    if "create_model_registry" in block:
        assert ns["result"] is False  # the fixture created it: not an error, a False and a warning
    if "log_model" in block:
        assert ns["model_id"] == registry.get_model("my_model", "101").id
        assert registry.get_tags("my_model", "101") == {"stage": "testing", "classifier_type": "svm.SVC",
                                                        "svc_gamma": "0.25", "svc_C": "1.0"}
    if 'order_by(\n    "CREATION_TIME"' in block:
        lines = out.splitlines()
        assert [c.strip() for c in lines[1].split("|")[1:-1]] == ['"ID"', '"NAME"', '"CREATION_TIME"', '"TAGS"']
        assert ns["model_id"] in out
    if "model_list.filter" in block:
        assert [c.strip() for c in out.splitlines()[1].split("|")[1:-1]] == ['"NAME"', '"TAGS"', '"METRICS"']
        assert out.count("my_model") == 1
    if 'model_version="102", tag_name' in block:
        assert registry.get_tag_value("my_model", "102", "stage") == "production"
        assert registry.get_tag_value("my_model", "101", "stage") == "production"
    if "get_model_description()" in block:
        assert out == "My awesome ML model\n"
        assert ns["model"].get_model_description() == "A better description than the one I provided originally"
    if "# remove tag" in block:
        assert "minor_version" not in ns["model"].get_tags() and "'stage': 'production'" in out
    if "functions.parse_json" in block:
        lines = out.splitlines()
        assert [c.strip() for c in lines[1].split("|")[1:-1]] == ['"NAME"', '"VERSION"', '"PARSE_JSON(""TAGS"")[\'STAGE\']"']
        rows = sorted(tuple(c.strip() for c in line.split("|")[1:-1]) for line in lines[3:] if line.startswith("|"))
        assert rows == [("my_model", "101", '"prod"'), ("my_model", "102", '"production"')]
    if "print(model.get_metrics())" in block:
        got = ns["model"].get_metrics()
        assert got["test_accuracy"] == ns["test_accuracy"] and got["dataset_test"] == {"accuracy": ns["test_accuracy"]}
        assert got["confusion_matrix"] == ns["test_confusion_matrix"].tolist()
    if "result_dataframe" in block:
        result = ns["result_dataframe"]
        assert isinstance(result, pd.DataFrame) and len(result) == len(ns["test_features"])
        assert np.array_equal(result.iloc[:, 0].to_numpy(), ns["prediction"])
    if "SNOWPARK_CONTAINER_SERVICES" in block:
        dep = registry.get_deployment("my_model", "101", "my_spcs_predict").collect()[0]
        assert (dep.TARGET_PLATFORM, dep.STATUS) == ("service", "running")
        assert '"compute_pool":"my_pool"' in dep.OPTIONS.replace(" ", "")
    if '"my_deployment"' in block:
        names = [r.DEPLOYMENT_NAME for r in ns["model"].list_deployments().collect()]
        assert "my_deployment" not in names and "my_warehouse_predict" in names
    if "results = clf.predict" in block:
        assert np.array_equal(ns["results"], ns["prediction"])
    if 'model_version="100")' in block or 'model_version="100", delete_artifact' in block:
        assert not registry.exists("my_model", "100")
    if "get_history().show()" in block:
        assert out.count('"EVENT_TIMESTAMP"') == 2 and "REGISTRATION" in out  # the first 10 events of each
