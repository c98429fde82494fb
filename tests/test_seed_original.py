"""The original library's own integration scenarios (snowflake-ml-python 1.0.x,
``tests/integ/snowflake/ml/registry``), re-told for mlreg: what a user of the original does,
step by step, against a real registry, real warehouse functions and real service processes.

What differs by design is said where it happens: the duplicate error is mlreg's
``AlreadyExists`` (the original raised the connector's ``DataError``; the message is the
same), and a warehouse deployment's ``details`` name its function.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from mlreg import deploy_platforms, model_registry, model_signature
from mlreg.errors import AlreadyExists, NotFound

pytestmark = pytest.mark.usefixtures("process_guard")


@pytest.fixture(scope="module")
def svc():
    """An SVC with probabilities on iris, as the original's sklearn model factory makes one:
    ``(model, test_features, test_labels)``."""
    from sklearn import datasets, svm

    iris = datasets.load_iris(as_frame=True)
    X = iris.data.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    model = svm.SVC(probability=True, random_state=0).fit(X.iloc[::2], iris.target.iloc[::2])
    return model, X.iloc[1::2].reset_index(drop=True), iris.target.iloc[1::2].reset_index(drop=True)


def test_basic_workflow(registry, svc, tmp_path):
    from sklearn import metrics

    model, test_features, test_labels = svc
    local_prediction, local_proba = model.predict(test_features), model.predict_proba(test_features)
    tags = {"stage": "testing", "classifier_type": "svm.SVC", "num_training_examples": "10"}

    with pytest.raises(KeyError, match="^The model basic_model/v1 does not exist in the current registry.$"):
        model_registry.ModelReference(registry=registry, model_name="basic_model", model_version="v1")
    registry.log_model(model_name="basic_model", model_version="v1", model=model, tags=tags,
                       sample_input_data=test_features, options={"embed_local_ml_library": True})
    with pytest.raises(AlreadyExists, match="^Model basic_model/v1 already exists. Unable to log the model."):
        registry.log_model(model_name="basic_model", model_version="v1", model=model,
                           sample_input_data=test_features)

    ref = model_registry.ModelReference(registry=registry, model_name="basic_model", model_version="v1")
    assert (ref.get_name(), ref.get_version()) == ("basic_model", "v1")

    # metrics: a scalar, a number, a dict and a NumPy matrix
    accuracy = metrics.accuracy_score(test_labels, local_prediction)
    ref.set_metric(metric_name="test_accuracy", metric_value=accuracy)
    ref.set_metric(metric_name="num_training_examples", metric_value=10)
    ref.set_metric(metric_name="dataset_test", metric_value={"accuracy": accuracy})
    matrix = metrics.confusion_matrix(test_labels, local_prediction)
    ref.set_metric(metric_name="confusion_matrix", metric_value=matrix)
    stored = ref.get_metrics()
    np.testing.assert_almost_equal(stored.pop("confusion_matrix"), matrix)
    assert stored == {"test_accuracy": accuracy, "num_training_examples": 10, "dataset_test": {"accuracy": accuracy}}
    ref.remove_metric("confusion_matrix")
    with pytest.raises(NotFound, match="^Model basic_model/v1 has no metric named confusion_matrix."):
        ref.remove_metric(metric_name="confusion_matrix")
    ref.set_metric(metric_name="num_training_examples", metric_value=20)
    assert ref.get_metrics()["num_training_examples"] == 20

    # the listing, as pandas
    listing = registry.list_models().to_pandas()
    mine = listing.loc[listing["ID"] == ref._id].reset_index(drop=True)
    assert (mine.shape[0], mine["NAME"][0], mine["VERSION"][0]) == (1, "basic_model", "v1")

    # tags and description
    assert ref.get_tags() == tags
    ref.set_tag(tag_name="minor_version", tag_value="23")
    assert ref.get_tags() == {**tags, "minor_version": "23"}
    ref.remove_tag(tag_name="minor_version")
    with pytest.raises(NotFound, match="^Model basic_model/v1 has no tag named minor_version."):
        ref.remove_tag(tag_name="minor_version")
    ref.set_tag("stage", "production")
    assert ref.get_tags() == {**tags, "stage": "production"}
    ref.set_model_description(description="My model is better than talkgpt-5!")
    assert ref.get_model_description() == "My model is better than talkgpt-5!"

    # loading
    np.testing.assert_allclose(ref.load_model().predict(test_features), local_prediction)

    # a permanent deployment, and one of predict_proba kept in a stage location of its own
    info = ref.deploy(deployment_name="basic_perm", target_method="predict", permanent=True)
    assert info["details"] == {"function": "basic_perm"} and info["name"] == "basic_perm"
    remote = ref.predict("basic_perm", test_features)
    np.testing.assert_allclose(remote.to_numpy(), np.expand_dims(local_prediction, axis=1))
    location = str(tmp_path / "udf-stage")
    ref.deploy(deployment_name="basic_custom_perm", target_method="predict_proba", permanent=True,
               options={"permanent_udf_stage_location": location})
    np.testing.assert_allclose(ref.predict("basic_custom_perm", test_features).to_numpy(), local_proba)

    deployments = ref.list_deployments().to_pandas()
    assert deployments.shape[0] == 2
    custom = deployments.loc[deployments["DEPLOYMENT_NAME"] == "basic_custom_perm"].reset_index(drop=True)
    assert (custom.shape[0], custom["MODEL_NAME"][0], custom["MODEL_VERSION"][0]) == (1, "basic_model", "v1")
    assert custom["STAGE_PATH"][0] == location
    assert registry.sql("SELECT basic_custom_perm(1.0, 2.0, 3.0, 4.0) IS NOT NULL AS ok").fetchall() == [(True,)]

    ref.delete_deployment(deployment_name="basic_custom_perm")
    deployments = ref.list_deployments().to_pandas()
    assert deployments.shape[0] == 1
    assert (deployments["MODEL_NAME"][0], deployments["MODEL_VERSION"][0],
            deployments["DEPLOYMENT_NAME"][0]) == ("basic_model", "v1", "basic_perm")
    with pytest.raises(Exception, match="basic_custom_perm"):
        registry.sql("SELECT basic_custom_perm(1.0, 2.0, 3.0, 4.0)")

    # a temporary deployment
    ref.deploy(deployment_name="basic_temp", target_method="predict", permanent=False)
    np.testing.assert_allclose(ref.predict("basic_temp", test_features).to_numpy(),
                               np.expand_dims(local_prediction, axis=1))

    history = ref.get_model_history().to_pandas()
    kinds = history.groupby("ATTRIBUTE_NAME").size().to_dict()
    assert kinds["REGISTRATION"] == 1 and kinds["TAG"] == 3 + 3 and kinds["METRIC"] == 4 + 2
    assert kinds["DESCRIPTION"] == 1 and kinds["DEPLOYMENT"] == 3  # two deployed, one deleted

    registry.delete_model(model_name="basic_model", model_version="v1", delete_artifact=True)
    listing = registry.list_models().to_pandas()
    assert listing.loc[listing["ID"] == ref._id].shape[0] == 0
    with pytest.raises(KeyError, match="^The model basic_model/v1 does not exist in the current registry.$"):
        ref.get_tags()


def _snowml_logistic():
    from sklearn import datasets

    from snowflake.ml.modeling.linear_model import LogisticRegression

    iris = datasets.load_iris(as_frame=True)
    df = iris.data.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_").upper())
    inputs = list(df.columns)
    df["TARGET"] = iris.target
    model = LogisticRegression(input_cols=inputs, label_cols=["TARGET"], output_cols=["PREDICTED_TARGET"]).fit(df)
    return model, df[inputs].iloc[:20]


def _snowml_xgb():
    from sklearn import datasets

    from snowflake.ml.modeling.xgboost import XGBClassifier

    bc = datasets.load_breast_cancer(as_frame=True)
    df = bc.data.iloc[:, :6].rename(columns=lambda c: c.replace(" ", "_").upper())
    inputs = list(df.columns)
    df["TARGET"] = bc.target
    model = XGBClassifier(input_cols=inputs, label_cols=["TARGET"], output_cols=["PREDICTED_TARGET"],
                          n_estimators=5).fit(df)
    return model, df[inputs].iloc[:20]


@pytest.mark.parametrize("prepare", [_snowml_logistic, _snowml_xgb], ids=["logistic", "xgb"])
def test_snowml_model(registry, prepare):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, test_features = prepare()
        local_prediction = model.predict(test_features)
        local_proba = model.predict_proba(test_features)
    registry.log_model(model_name="snowml_model", model_version="1", model=model,
                       options={"embed_local_ml_library": True})  # a Snowpark ML model carries its signature
    ref = model_registry.ModelReference(registry=registry, model_name="snowml_model", model_version="1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pd.testing.assert_frame_equal(ref.load_model().predict(test_features), local_prediction)

    info = ref.deploy(deployment_name="snowml_predict", target_method="predict", permanent=False)
    assert info["platform"] is deploy_platforms.TargetPlatform.WAREHOUSE
    remote = ref.predict("snowml_predict", test_features)
    # the original's deployments return the output columns (check_dtype=False there too)
    pd.testing.assert_frame_equal(remote, local_prediction[list(remote.columns)], check_dtype=False)
    ref.deploy(deployment_name="snowml_proba", target_method="predict_proba", permanent=False)
    remote = ref.predict("snowml_proba", test_features)
    pd.testing.assert_frame_equal(remote, local_proba[list(remote.columns)], check_dtype=False)
    registry.delete_model(model_name="snowml_model", model_version="1", delete_artifact=True)


def test_container_services_deployment(registry, svc, monkeypatch):
    """The SPCS scenario: signatures from ``infer_signature``, the seed's platform and options,
    list, delete, and the registry empty afterwards."""
    model, test_features, _ = svc
    local_prediction = model.predict(test_features)
    registry.log_model(model_name="spcs_model", model_version="1", model=model,
                       signatures={"predict": model_signature.infer_signature(test_features, local_prediction)},
                       options={"embed_local_ml_library": True})
    ref = model_registry.ModelReference(registry=registry, model_name="spcs_model", model_version="1")
    ref.deploy(deployment_name="spcs_model_1_deployment", target_method="predict",
               platform=deploy_platforms.TargetPlatform.SNOWPARK_CONTAINER_SERVICES,
               options={"compute_pool": "REGTEST_INFERENCE_CPU_POOL", "min_instances": 1, "max_instances": 2,
                        "num_workers": 1, "endpoint": "predict", "image_repo": "reg/db/schema/repo",
                        "prebuilt_snowflake_image": None, "use_gpu": False})
    remote = ref.predict("spcs_model_1_deployment", test_features)
    assert isinstance(remote, pd.DataFrame)
    np.testing.assert_array_equal(remote.iloc[:, 0].to_numpy(), local_prediction)

    listed = ref.list_deployments().to_pandas()
    assert listed.shape[0] == 1
    assert (listed["MODEL_NAME"][0], listed["MODEL_VERSION"][0], listed["DEPLOYMENT_NAME"][0],
            listed["TARGET_PLATFORM"][0]) == ("spcs_model", "1", "spcs_model_1_deployment", "service")
    options = ref.get_deployment("spcs_model_1_deployment").collect()[0].OPTIONS
    assert '"compute_pool":"REGTEST_INFERENCE_CPU_POOL"' in options.replace(" ", "")
    assert '"image_repo":"reg/db/schema/repo"' in options.replace(" ", "")

    ref.delete_deployment(deployment_name="spcs_model_1_deployment")
    assert ref.list_deployments().to_pandas().shape[0] == 0
    assert registry.list_models().to_pandas().shape[0] == 1
    ref.delete_model(delete_artifact=True)  # the object twin of registry.delete_model
    assert registry.list_models().to_pandas().shape[0] == 0


def test_predict_takes_numpy_and_gives_pandas(registry, svc):
    model, test_features, _ = svc
    registry.log_model(model, "np_model", "1", sample_input_data=test_features)
    ref = model_registry.ModelReference(registry, "np_model", "1")
    ref.deploy("np_predict", target_method="predict_proba")
    out = ref.predict("np_predict", test_features.to_numpy())  # columns in the signature's order
    assert isinstance(out, pd.DataFrame)
    np.testing.assert_allclose(out.to_numpy(), model.predict_proba(test_features))
    out = registry.predict("np_model", "1", "np_predict", test_features.to_numpy().tolist())  # a list of rows
    np.testing.assert_allclose(out.to_numpy(), model.predict_proba(test_features))
    with pytest.raises(ValueError, match=r"input array of shape \(75, 3\) does not match the signature's 4 feature"):
        ref.predict("np_predict", test_features.to_numpy()[:, :3])


def test_reference_twins_and_platform_names(registry, svc, tmp_path):
    import inspect

    model, test_features, _ = svc
    registry.log_model(model, "twin", "1", sample_input_data=test_features)
    ref = model_registry.ModelReference(registry, "twin", "1")
    assert ref.id == registry.get_model("twin", "1").id == ref._id == ref.get_model().id
    assert ref.exists() and ref.describe_model()["NAME"] == "twin"
    assert [r.ok for r in ref.verify()] == [r.ok for r in registry.verify("twin", "1")] == [True]
    assert ref.scoring_spec("predict_proba").target_method == "predict_proba"
    assert ref.export_package(tmp_path / "pkg").id == ref.id and any((tmp_path / "pkg").iterdir())
    for name in ("delete_model", "get_name", "get_version"):
        twin = getattr(model_registry.ModelReference, name)
        assert twin.__qualname__ == f"ModelReference.{name}" and twin.__doc__
    assert "delete_artifact" in inspect.signature(model_registry.ModelReference.delete_model).parameters
    ref.delete_model(delete_artifact=False)
    assert not ref.exists() and not registry.exists("twin", "1")
    with pytest.raises(KeyError, match="^The model twin/1 does not exist in the current registry.$"):
        ref.get_model()
    platform = deploy_platforms.TargetPlatform
    assert platform.SNOWPARK_CONTAINER_SERVICES is platform.SERVICE
    assert list(platform) == [platform.WAREHOUSE, platform.SERVICE, platform.SPARK]  # an alias, not another platform
    from mlreg.deploy.base import platform_of

    assert platform_of("SNOWPARK_CONTAINER_SERVICES") is platform.SERVICE
    assert platform_of("WAREHOUSE") is platform.WAREHOUSE


def test_the_seed_spcs_option_names_are_known():
    from mlreg.deploy.service.platform import check
    from mlreg.errors import InvalidInput

    recorded, _ = check({"compute_pool": "my_pool", "min_instances": 1, "max_instances": 3, "num_workers": 2,
                         "endpoint": "score", "image_repo": "reg/db/schema/repo",
                         "prebuilt_snowflake_image": "reg/db/schema/repo/img:1", "use_gpu": True})
    assert {k: recorded[k] for k in ("compute_pool", "min_instances", "max_instances", "num_workers", "endpoint",
                                     "image_repo", "prebuilt_image", "use_gpu")} == {
        "compute_pool": "my_pool", "min_instances": 1, "max_instances": 3, "num_workers": 2, "endpoint": "score",
        "image_repo": "reg/db/schema/repo", "prebuilt_image": "reg/db/schema/repo/img:1", "use_gpu": True}
    assert "prebuilt_snowflake_image" not in recorded  # one option, recorded under mlreg's name
    with pytest.raises(InvalidInput, match="^options prebuilt_image \\(a\\) and prebuilt_snowflake_image \\(b\\) differ"):
        check({"prebuilt_image": "a", "prebuilt_snowflake_image": "b"})
    with pytest.raises(InvalidInput, match="^option compute_pool must be a non-empty string without spaces"):
        check({"compute_pool": "my pool"})
