"""TensorFlow/Keras: keras.Model (.keras) and tf.Module (SavedModel), saved with the
handler, loaded in a fresh process, predicting the same. TensorFlow is imported once here."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from mlreg import handlers, model_signature  # noqa: E402
from mlreg.errors import InvalidInput  # noqa: E402
from tests.fixtures.models import assert_saved_case, assert_tables_equal, save_and_predict_fresh, save_package, tabular_data  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"),  # inside Keras
]


def _data():
    X, _y = tabular_data(40)
    return X, X.to_numpy().astype("float32")


def keras_sequential():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(2, activation="softmax")])
    X, arr = _data()
    return model, arr[:10], arr[10:]


def keras_dataframe():
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    X, _arr = _data()
    return model, X[:10], X[10:]


def keras_two_inputs():
    keras.utils.set_random_seed(2)
    a, b = keras.Input((3,), name="a"), keras.Input((1,), name="b")
    out = keras.layers.Dense(2)(keras.layers.Concatenate()([a, b]))
    X, arr = _data()
    extra = np.arange(40, dtype="float32").reshape(40, 1)
    return keras.Model([a, b], out), [arr[:10], extra[:10]], [arr[10:], extra[10:]]


class Affine(tf.Module):
    def __init__(self):
        super().__init__()
        self.w = tf.Variable([[1.0], [-2.0], [0.5]])

    @tf.function
    def __call__(self, x):
        return tf.matmul(x, self.w) + 1.0

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32)])
    def predict(self, x):
        return tf.reduce_sum(x, axis=1)


def tf_module():
    X, arr = _data()
    return Affine(), tf.constant(arr[:10]), arr[10:]


CASES = {
    "keras_sequential": (keras_sequential, ["predict"], "keras"),
    "keras_dataframe": (keras_dataframe, ["predict"], "keras"),
    "keras_two_inputs": (keras_two_inputs, ["predict"], "keras"),
    "tf_module": (tf_module, ["predict", "__call__"], "tf-saved-model"),
}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    return save_and_predict_fresh({key: case[0] for key, case in CASES.items()}, tmp_path_factory.mktemp("tf"))


@pytest.mark.parametrize("key", CASES)
def test_fresh_process_predicts_the_same(saved, key):
    _build, methods, fmt = CASES[key]
    assert_saved_case(saved, key, "tensorflow", methods, fmt, rows=30)  # more rows than the tf.function was traced with


def test_signatures(saved):
    built, _ = saved
    assert built["keras_sequential"]["sigs"]["predict"].to_dict() == {
        "inputs": [{"name": "input_feature_0", "type": "FLOAT", "shape": [3]}],
        "outputs": [{"name": "output_feature_0", "type": "FLOAT"}, {"name": "output_feature_1", "type": "FLOAT"}],
    }
    assert [f.name for f in built["keras_dataframe"]["sigs"]["predict"].inputs] == ["a", "b", "c"]
    two = built["keras_two_inputs"]["sigs"]["predict"].to_dict()["inputs"]
    assert two == [{"name": "input_feature_0", "type": "FLOAT", "shape": [3]}, {"name": "input_feature_1", "type": "FLOAT", "shape": [1]}]
    module = built["tf_module"]["sigs"]
    assert module["__call__"].to_dict()["outputs"] == [{"name": "output_feature_0", "type": "FLOAT", "shape": [1]}]
    assert module["predict"].to_dict()["outputs"] == [{"name": "output_feature_0", "type": "FLOAT"}]


def test_tf_tensor_inference():
    sig = model_signature.infer_signature(
        [tf.constant(np.zeros((4, 2, 3), "float32")), tf.constant([1, 2, 3, 4], tf.int64)], tf.constant([True, False, True, True])
    )
    assert sig.to_dict() == {
        "inputs": [{"name": "input_feature_0", "type": "FLOAT", "shape": [2, 3]}, {"name": "input_feature_1", "type": "INT64"}],
        "outputs": [{"name": "output_feature_0", "type": "BOOL"}],
    }


def test_loaded_saved_model_can_be_logged_again(saved, tmp_path):
    built, _ = saved
    b = built["tf_module"]
    root = tmp_path / "first"
    info = save_package(b["handler"], b["model"], root)
    loaded = b["handler"].load(root, info)
    assert handlers.detect(loaded).type_name == "tensorflow"
    again = save_package(b["handler"], loaded, tmp_path / "again")
    reloaded = b["handler"].load(tmp_path / "again", again)
    _X, arr = _data()
    out = b["handler"].predict_table(reloaded, "__call__", arr[:7], b["sigs"]["__call__"])
    assert_tables_equal(out, b["handler"].predict_table(b["model"], "__call__", arr[:7], b["sigs"]["__call__"]))


def test_untraced_module_is_refused(tmp_path):
    handler = handlers.get_handler("tensorflow")
    with pytest.raises(InvalidInput, match="has never been called, so a SavedModel would hold no code for it"):
        save_package(handler, Affine(), tmp_path / "p")
