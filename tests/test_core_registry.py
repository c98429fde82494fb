"""The registry core: the seed's examples translated, both APIs, history, delete, integrity."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import mlreg
from mlreg import model_registry
from mlreg.errors import AlreadyExists, IntegrityError, InvalidInput, MlregError, NotFound
from tests.fixtures.models import SumModel

X = np.arange(12, dtype=float).reshape(4, 3)


def log(registry, name="my_model", version="101", **kw):
    kw.setdefault("sample_input_data", X)
    return registry.log_model(model=SumModel(), model_name=name, model_version=version, **kw)


def test_create_is_idempotent_and_warns(session):
    assert model_registry.create_model_registry(session=session, database_name="MODEL_REGISTRY") is True
    with pytest.warns(model_registry.RegistryExistsWarning, match="already exists"):
        assert model_registry.create_model_registry(session=session) is False


def test_missing_registry_names_the_fix(session):
    with pytest.raises(NotFound, match=r"create_model_registry.*`mlreg create`"):
        model_registry.ModelRegistry(session=session)
    reg = model_registry.ModelRegistry(session=session, create_if_not_exists=True)
    assert reg.store.path.is_file()


def test_seed_walkthrough(registry):
    model_id = registry.log_model(
        model=SumModel(), model_name="my_model", model_version="101",
        description="My awesome ML model",
        tags={"stage": "testing", "classifier_type": "svm.SVC", "svc_gamma": 0.5, "svc_C": 1},
        sample_input_data=X,
    )
    lm = registry.list_models()
    rows = lm.select("ID, NAME, CREATION_TIME, TAGS").order("CREATION_TIME DESC").fetchall()
    assert [r[0] for r in rows] == [model_id]
    name, tags, metrics = lm.filter(f"ID = '{model_id}'").select("NAME, TAGS, METRICS").fetchall()[0]
    assert name == "my_model"
    assert json.loads(tags) == {"stage": "testing", "classifier_type": "svm.SVC", "svc_gamma": "0.5", "svc_C": "1"}
    assert json.loads(metrics) == {}

    model = model_registry.ModelReference(registry=registry, model_name="my_model", model_version="101")
    assert model.get_model_description() == "My awesome ML model"
    model.set_model_description("A better description than the one I provided originally")
    assert model.get_model_description() == "A better description than the one I provided originally"
    model.set_tag("minor_version", "1")
    model.remove_tag("classifier_type")
    model.set_tag("stage", "prod")
    assert registry.list_models().select("NAME, VERSION, TAGS->>'stage' AS stage").fetchall() == [("my_model", "101", "prod")]

    cm = np.array([[5, 1], [2, 7]])
    model.set_metric("test_accuracy", 0.93)
    model.set_metric("dataset_test", {"accuracy": 0.93})
    model.set_metric("confusion_matrix", cm)
    assert model.get_metrics() == {"test_accuracy": 0.93, "dataset_test": {"accuracy": 0.93}, "confusion_matrix": [[5, 1], [2, 7]]}

    clf = model.load_model()
    assert clf.predict(X).tolist() == SumModel().predict(X).tolist()

    ops = registry.get_history().select("OPERATION, ATTRIBUTE_NAME, KEY").fetchall()
    assert ops[0] == ("SET", "REGISTRATION", None)
    assert ("DROP", "TAG", "classifier_type") in ops
    assert model.get_model_history().count("*").fetchall()[0][0] == len(ops)


def test_both_apis_give_equal_results(registry):
    log(registry)
    ref = model_registry.ModelReference(registry, "my_model", "101")
    ref.set_tag("a", "1")
    registry.set_tag(model_name="my_model", model_version="101", tag_name="b", tag_value="2")
    ref.set_metric("m", [1, 2])
    registry.set_metric("my_model", "101", "n", {"x": None})
    for method, args in [
        ("get_tags", ()), ("get_tag_value", ("a",)), ("has_tag", ("b",)), ("has_tag", ("zz",)),
        ("get_metrics", ()), ("get_metric_value", ("m",)), ("has_metric", ("n",)),
        ("get_model_description", ()),
    ]:
        assert getattr(ref, method)(*args) == getattr(registry, method)("my_model", "101", *args), method
    assert ref.has_tag("a", "1") and not ref.has_tag("a", "2")
    for name in ("remove_tag", "remove_metric"):
        assert callable(getattr(ref, name)) and callable(getattr(registry, name))


def test_every_relational_method_has_a_written_out_twin():
    import inspect

    # every public method of the registry that names a model version has its twin
    relational = {
        name for name, fn in inspect.getmembers(model_registry.ModelRegistry, inspect.isfunction)
        if not name.startswith("_") and {"model_name", "model_version"} <= set(inspect.signature(fn).parameters)
    } - {"log_model"}  # a reference exists only once the model is logged
    assert relational >= {
        "get_model_description", "set_model_description", "get_tags", "get_tag_value", "has_tag",
        "remove_tag", "set_tag", "get_metrics", "get_metric_value", "has_metric", "remove_metric",
        "set_metric", "set_tags", "set_metrics", "get_model_history", "load_model", "deploy", "predict",
        "list_deployments", "get_deployment", "delete_deployment", "delete_model",
    }
    for name in relational:
        twin = getattr(model_registry.ModelReference, name)
        assert twin.__qualname__ == f"ModelReference.{name}", name
        assert twin.__doc__, name
        assert inspect.signature(twin).return_annotation is not inspect.Signature.empty, name


def test_duplicate_is_refused_before_writing(registry):
    log(registry)
    before = registry.stage.root.iterdir() and sorted(p.name for p in registry.stage.root.iterdir())
    with pytest.raises(AlreadyExists, match=r"Model my_model/101 already exists\. Unable to log the model\. .*mlreg show my_model 101"):
        log(registry)
    assert sorted(p.name for p in registry.stage.root.iterdir()) == before


def test_missing_tag_and_metric_list_what_there_is(registry):
    log(registry, tags={"a": "1", "b": "2"}, metrics={"acc": 1.0})
    with pytest.raises(NotFound, match=r'has no tag named zz\. Full list of tags: \["a", "b"\]'):
        registry.remove_tag("my_model", "101", "zz")
    with pytest.raises(KeyError):  # NotFound refines KeyError
        registry.get_tag_value("my_model", "101", "zz")
    with pytest.raises(NotFound, match=r'has no metric named loss\. Full list of metrics: \["acc"\]'):
        registry.get_metric_value("my_model", "101", "loss")


def test_nan_and_infinity_round_trip(registry):
    log(registry, metrics={"nan": float("nan"), "inf": float("inf"), "ninf": -math.inf})
    m = registry.get_metrics("my_model", "101")
    assert math.isnan(m["nan"]) and m["inf"] == math.inf and m["ninf"] == -math.inf


def test_history_records_every_kind_of_change_and_outlives_deletion(registry):
    log(registry, description="d0", tags={"t": "1"}, metrics={"m": 1})
    registry.set_model_description("my_model", "101", "d1")
    registry.set_tag("my_model", "101", "t", "2")
    registry.remove_tag("my_model", "101", "t")
    registry.set_metric("my_model", "101", "m", 2)
    registry.remove_metric("my_model", "101", "m")
    registry.delete_model("my_model", "101")
    rows = registry.get_history().select("OPERATION, ATTRIBUTE_NAME, KEY, OLD_VALUE, NEW_VALUE").fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("SET", "REGISTRATION", None), ("SET", "DESCRIPTION", ""), ("SET", "TAG", "t"), ("SET", "METRIC", "m"),
        ("SET", "DESCRIPTION", ""), ("SET", "TAG", "t"), ("DROP", "TAG", "t"), ("SET", "METRIC", "m"),
        ("DROP", "METRIC", "m"), ("DROP", "DELETION", None),
    ]
    assert (rows[5][3], rows[5][4]) == ('"1"', '"2"')
    assert registry.get_history().columns == [
        "EVENT_TIMESTAMP", "EVENT_ID", "MODEL_ID", "MODEL_NAME", "MODEL_VERSION", "ROLE", "OPERATION",
        "ATTRIBUTE_NAME", "KEY", "OLD_VALUE", "NEW_VALUE",
    ]


def test_delete_with_and_without_artifact(registry):
    id1 = log(registry, version="1")
    id2 = log(registry, version="2")
    ref = model_registry.ModelReference(registry, "my_model", "1")
    registry.delete_model(model_name="my_model", model_version="1")
    assert not registry.stage.exists(id1)
    with pytest.raises(NotFound, match="The model my_model/1 does not exist in the current registry."):
        ref.get_tags()
    registry.delete_model(model_name="my_model", model_version="2", delete_artifact=False)
    assert registry.stage.exists(id2)
    assert [e.name for e in registry.gc(dry_run=True)] == [id2]
    assert registry.stage.exists(id2)
    registry.gc()
    assert not registry.stage.exists(id2)
    assert registry.list_models().count("*").fetchall()[0][0] == 0
    log(registry, version="1")  # a deleted version can be logged again


def test_tampered_package_is_refused_on_load(registry):
    mid = log(registry)
    pkl = registry.stage.root / mid / "model" / "model.pkl"
    pkl.write_bytes(pkl.read_bytes() + b"x")
    with pytest.raises(IntegrityError, match=r"failed its checksum check \(changed: model/model.pkl\)"):
        registry.load_model("my_model", "101")
    assert registry.verify()[0].changed == ["model/model.pkl"]


def test_list_models_columns_and_no_lock_held(registry, session):
    log(registry, tags={"stage": "prod"})
    lm = registry.list_models()
    for col in ("ID", "NAME", "VERSION", "TYPE", "URI", "CREATION_TIME", "CREATION_ROLE", "CREATION_CONTEXT",
                "CREATION_ENVIRONMENT_SPEC", "DESCRIPTION", "TAGS", "METRICS", "INPUT_SPEC", "OUTPUT_SPEC"):
        assert col in lm.columns
    # a different process can write while we hold the relation
    code = (
        "import mlreg; from mlreg import model_registry as m; "
        "r = m.ModelRegistry(mlreg.connect()); r.set_tag('my_model', '101', 'x', 'y')"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert lm.select("TAGS->>'stage'").fetchall()[0] == ("prod",)
    ctx = json.loads(lm.select("CREATION_CONTEXT").fetchall()[0][0])
    assert set(ctx) >= {"user", "host", "cwd", "git", "ci"}
    env = json.loads(lm.select("CREATION_ENVIRONMENT_SPEC").fetchall()[0][0])
    assert env["python"].count(".") == 2 and env["mlreg"] == mlreg.__version__


def test_code_paths_make_local_classes_loadable_in_a_fresh_process(registry, tmp_path):
    src = tmp_path / "src" / "mymodels"
    src.mkdir(parents=True)
    (src / "__init__.py").write_text("class Doubler:\n    def predict(self, X):\n        return [2 * sum(r) for r in X]\n")
    code = (
        "import sys; sys.path.insert(0, 'src'); import mymodels, mlreg; from mlreg import model_registry as m; "
        "r = m.ModelRegistry(mlreg.connect()); "
        "r.log_model(mymodels.Doubler(), 'dbl', '1', code_paths=['src/mymodels'], "
        "signatures={'predict': {'inputs': [{'name': 'a', 'type': 'DOUBLE'}], 'outputs': [{'name': 'y', 'type': 'DOUBLE'}]}})"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, cwd=tmp_path)
    load = "import mlreg; from mlreg import model_registry as m; print(m.ModelRegistry(mlreg.connect()).load_model('dbl', '1').predict([[1, 2]]))"
    out = subprocess.run([sys.executable, "-c", load], check=True, timeout=60, capture_output=True, text=True, cwd=tmp_path / "src" / "..")
    assert out.stdout.strip() == "[6]"


def test_environment_mismatch_warns_once_listing_differences(registry):
    mid = log(registry, pip_requirements=["numpy"])
    row = registry.get_model("my_model", "101")
    assert row.manifest["environment"]["packages"]["numpy"] == np.__version__
    # rewrite the recorded version (and its checksum) as if logged elsewhere
    from mlreg.store.duckdb.file import RegistryFile

    manifest = dict(row.manifest)
    manifest["environment"] = dict(manifest["environment"], packages={"numpy": "0.0.1"}, python="2.7.0")
    with RegistryFile(registry.store.path).write() as con:
        con.execute("UPDATE models SET manifest = ? WHERE id = ?", [json.dumps(manifest), mid])
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        registry.load_model("my_model", "101")
    msgs = [str(w.message) for w in rec if issubclass(w.category, model_registry.EnvironmentWarning)]
    assert len(msgs) == 1
    assert "python 2.7.0 recorded" in msgs[0] and f"numpy 0.0.1 recorded, {np.__version__} installed" in msgs[0]


def test_signature_arguments(registry):
    with pytest.raises(InvalidInput, match="Signatures and sample_input both cannot be None at the same time"):
        registry.log_model(SumModel(), "m", "1")
    with pytest.raises(InvalidInput, match="cannot be specified at the same time"):
        registry.log_model(SumModel(), "m", "1", sample_input_data=X, signatures={"predict": {"inputs": [], "outputs": []}})
    from mlreg.model_signature import ModelSignature

    with pytest.raises(InvalidInput, match="not a single ModelSignature"):
        registry.log_model(SumModel(), "m", "1", signatures=ModelSignature())
    assert registry.list_models().count("*").fetchall()[0][0] == 0


def test_package_layout_and_options(registry):
    mid = log(registry, pip_requirements=["numpy>=1"], conda_dependencies=["conda-forge::numpy"],
              options={"embed_local_ml_library": True})
    root = registry.stage.root / mid
    manifest = json.loads((root / "MANIFEST.json").read_text())
    assert manifest["type"] == "custom" and manifest["target_methods"] == ["predict"]
    assert (root / "env" / "requirements.txt").read_text() == "numpy>=1\n"
    assert "conda-forge::numpy" in (root / "env" / "conda.yml").read_text()
    assert (root / "mlreg" / "registry" / "registry.py").is_file()
    assert set(manifest["files"]) | {"MANIFEST.json"} == set(registry.get_model("my_model", "101").files)
    with pytest.raises(InvalidInput, match="unknown option"):
        log(registry, version="2", options={"bogus": 1})


BAD_NAMES = ["", "x" * 256, "../x", "a/b", "a b", "it's", 'q"', "nul\x00", ".hidden", "/abs"]


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_bad_names_are_refused_and_change_nothing(registry, bad):
    log(registry)
    before = registry.store.path.read_bytes()
    stage_before = sorted(p.name for p in registry.stage.root.iterdir())
    with pytest.raises(InvalidInput):
        log(registry, name=bad)
    with pytest.raises(InvalidInput):
        log(registry, version=bad)
    with pytest.raises(InvalidInput):
        registry.set_tag("my_model", bad or "", "v", "x") if bad == "" else registry.set_tag(bad, "101", "t", "x")
    assert registry.store.path.read_bytes() == before
    assert sorted(p.name for p in registry.stage.root.iterdir()) == stage_before


def test_newer_registry_is_refused(registry):
    log(registry)
    from mlreg.store.duckdb.file import RegistryFile

    with RegistryFile(registry.store.path).write() as con:
        con.execute("INSERT INTO schema_migrations (version, name, mlreg_version) VALUES (99, 'm099_future', '9.0.0')")
    with pytest.raises(MlregError, match=r"schema version 99, written by mlreg 9\.0\.0.*upgrade mlreg to 9\.0\.0"):
        registry.list_models()
    with pytest.raises(MlregError, match="upgrade mlreg"):
        model_registry.create_model_registry(registry.session)


def test_garbage_registry_file_is_an_integrity_error(session):
    path = Path(session.store_url())
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a database at all" * 100)
    with pytest.raises(IntegrityError):
        model_registry.ModelRegistry(session).list_models()


def test_import_mlreg_is_light():
    code = "import sys, mlreg; from mlreg import model_registry; print(sorted(m for m in ('pandas', 'numpy', 'pyarrow', 'sklearn') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_nul_in_a_metric_key_is_refused_and_changes_nothing(registry):
    # found by hypothesis in CI: NUL was refused in values but accepted in nested keys
    log(registry)
    before = registry.store.path.read_bytes()
    for value in ({"\x00": None}, {"a": {"b\x00": 1}}, [{"\x00": 1}]):
        with pytest.raises(InvalidInput, match="NUL character"):
            registry.set_metric("my_model", "101", "m", value)
    assert registry.store.path.read_bytes() == before


def test_set_tags_and_set_metrics_write_one_event_each_in_one_unit_of_work(registry):
    log(registry, tags={"stage": "dev"})
    ref = model_registry.ModelReference(registry, "my_model", "101")
    ref.set_tags({"stage": "prod", "owner": "ann", "n": 3})
    registry.set_metrics("my_model", "101", {"acc": 0.9, "cm": np.array([[1, 2], [3, 4]]), "nan": float("nan")})
    assert ref.get_tags() == {"n": "3", "owner": "ann", "stage": "prod"}
    metrics = ref.get_metrics()
    assert metrics["acc"] == 0.9 and metrics["cm"] == [[1, 2], [3, 4]] and math.isnan(metrics["nan"])
    rows = registry.get_model_history("my_model", "101").fetchall()
    cols = registry.get_history().columns
    changes = [dict(zip(cols, r)) for r in rows]
    tail = [(c["ATTRIBUTE_NAME"], c["KEY"], c["OLD_VALUE"], c["NEW_VALUE"]) for c in changes][-6:]
    assert tail == [("TAG", "stage", '"dev"', '"prod"'), ("TAG", "owner", None, '"ann"'), ("TAG", "n", None, '"3"'),
                    ("METRIC", "acc", None, "0.9"), ("METRIC", "cm", None, "[[1,2],[3,4]]"), ("METRIC", "nan", None, "NaN")]
    assert len({c["EVENT_TIMESTAMP"] for c in changes[-3:]}) == 1  # one unit of work


@pytest.mark.parametrize("call, error", [
    (lambda r: r.set_tags("my_model", "101", {"good": "1", "bad=name": "2"}), "invalid tag name 'bad=name'"),
    (lambda r: r.set_tags("my_model", "101", {"good": "1", "bad": [1]}), "tag"),
    (lambda r: r.set_tags("my_model", "101", {}), "tags must not be empty"),
    (lambda r: r.set_tags("my_model", "101", [("a", "b")]), "tags must be a mapping"),
    (lambda r: r.set_metrics("my_model", "101", {"good": 1, "bad": {"\x00": 1}}), "NUL character"),
    (lambda r: r.set_metrics("my_model", "101", {"": 1}), "metric name must not be empty"),
])
def test_set_tags_and_metrics_refuse_bad_input_and_change_nothing(registry, call, error):
    log(registry)
    before = registry.store.path.read_bytes()
    with pytest.raises(InvalidInput, match=error):
        call(registry)
    assert registry.store.path.read_bytes() == before
    with pytest.raises(NotFound):
        registry.set_tags("my_model", "999", {"a": "b"})


def test_reads_inside_reading_share_one_attachment_and_one_state(registry, monkeypatch, hermetic_env):
    """What `mlreg list` does for the listing and its aliases: one shared lock and one
    attachment for every read in the block; nobody writes meanwhile; no write inside."""
    from mlreg.store.duckdb.file import RegistryFile
    from tests.fixtures.cli import MLREG_BIN, subprocess_env

    log(registry)
    attached = []
    real_attach = RegistryFile._attach
    monkeypatch.setattr(RegistryFile, "_attach", lambda self, *a: (attached.append(a), real_attach(self, *a))[1])
    with registry.reading():
        assert registry.get_tags("my_model", "101") == {}
        with registry.reading():  # nested
            rows = registry.versions.listing_text("my_model", None, ["NAME", "VERSION"], None)
        assert rows.rows == [("my_model", "101")]
        assert registry.models.held_aliases(["my_model"]) == {("my_model", "101"): ["DEFAULT", "FIRST", "LAST"]}
        assert registry.list_models().count("*").fetchall() == [(1,)]  # a snapshot's copy, taken in the block
        other = subprocess.run([str(MLREG_BIN), "tag", "set", "my_model", "101", "a=1"], capture_output=True,
                               text=True, env=subprocess_env({"MLREG_LOCK_TIMEOUT": "0.2"}), timeout=120)
        assert other.returncode == 5 and "is busy" in other.stderr  # the block holds its shared lock
        with pytest.raises(RuntimeError, match=r"a write to .* inside reading\(\)"):
            registry.set_tag("my_model", "101", "a", "1")
    assert len(attached) == 1
    registry.set_tag("my_model", "101", "a", "1")
    assert registry.get_tags("my_model", "101") == {"a": "1"} and len(attached) == 3


def test_a_batch_of_writes_reads_its_own_writes_and_ends_checkpointed(registry):
    log(registry)
    with registry.batch():
        for i in range(5):
            registry.set_tag("my_model", "101", "i", str(i))
            assert registry.get_tag_value("my_model", "101", "i") == str(i)
        with registry.batch():  # nested
            registry.set_metric("my_model", "101", "m", 1)
        with pytest.raises(NotFound):  # an error inside leaves the batch usable
            registry.set_tag("my_model", "nope", "a", "b")
        registry.set_tags("my_model", "101", {"a": "1", "b": "2"})
        assert registry.list_models().select("TAGS").fetchall()[0][0] == '{"a":"1","b":"2","i":"4"}'
        registry.set_tag("my_model", "101", "after_list", "x")
    wal = registry.store.path.with_name(registry.store.path.name + ".wal")
    assert not wal.exists()  # detached, checkpointed when the batch ended
    assert registry.get_tags("my_model", "101") == {"a": "1", "after_list": "x", "b": "2", "i": "4"}
    assert len(registry.get_model_history("my_model", "101").fetchall()) == 10
