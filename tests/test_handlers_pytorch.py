"""PyTorch: nn.Module (torch.save + cloudpickle) and TorchScript, saved with the handler,
loaded in a fresh process, predicting the same; tensor signatures and validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlreg.errors import InvalidInput
from tests.fixtures.models import assert_saved_case, save_and_predict_fresh, save_package, tabular_data

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")


class TwoLayer(torch.nn.Module):
    """Importable by reference (tests.test_handlers_pytorch.TwoLayer)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Dropout(0.5), torch.nn.Linear(8, 2))

    def forward(self, x):
        return torch.softmax(self.net(x), dim=1)

    def predict(self, x):
        return self.forward(x).argmax(dim=1)


def local_module():
    class Scorer(torch.nn.Module):  # a <locals> class: cloudpickle stores it by value
        def __init__(self):
            super().__init__()
            torch.manual_seed(1)
            self.lin = torch.nn.Linear(3, 1)

        def forward(self, x):
            return self.lin(x).squeeze(1)

    return Scorer()


class TwoInputs(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5]))

    def forward(self, x, bias):
        return (x * self.w).sum(dim=1) + bias


def _tensors():
    X, _y = tabular_data(40)
    return torch.tensor(X.to_numpy(), dtype=torch.float32), X


def case_module():
    t, _ = _tensors()
    return TwoLayer().eval(), t[:10], t[10:]


def case_local_dataframe():
    _, X = _tensors()
    return local_module(), X[:10], X[10:]


def case_torchscript_numpy():
    t, X = _tensors()
    return torch.jit.script(TwoLayer().eval()), X.to_numpy()[:10], t[10:]


def case_two_inputs():
    t, _ = _tensors()
    bias = torch.arange(40, dtype=torch.float32)
    return TwoInputs(), [t[:10], bias[:10]], [t[10:], bias[10:]]


def case_exported():
    t, _ = _tensors()
    batch = torch.export.Dim("batch")
    program = torch.export.export(TwoLayer().eval(), (t[:10],), dynamic_shapes=({0: batch},))
    return program, t[:10], t[10:]


CASES = {
    "module": (case_module, ["forward", "predict"], "torch-cloudpickle"),
    "local_dataframe": (case_local_dataframe, ["forward"], "torch-cloudpickle"),
    "torchscript_numpy": (case_torchscript_numpy, ["forward"], "torchscript"),
    "two_inputs": (case_two_inputs, ["forward"], "torch-cloudpickle"),
    "exported": (case_exported, ["forward"], "torch-export"),
}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    return save_and_predict_fresh({key: case[0] for key, case in CASES.items()}, tmp_path_factory.mktemp("torch"))


@pytest.mark.parametrize("key", CASES)
def test_fresh_process_predicts_the_same(saved, key):
    _build, methods, fmt = CASES[key]
    assert_saved_case(saved, key, "pytorch", methods, fmt, rows=30)


def test_signatures(saved):
    built, fresh = saved
    sig = built["module"]["sigs"]["forward"].to_dict()
    assert sig == {
        "inputs": [{"name": "input_feature_0", "type": "FLOAT", "shape": [3]}],
        "outputs": [{"name": "output_feature_0", "type": "FLOAT", "shape": [2]}],
    }
    assert built["module"]["sigs"]["predict"].to_dict()["outputs"] == [{"name": "output_feature_0", "type": "INT64"}]
    # a frame's columns stay named features and are stacked into one tensor for forward(x)
    assert [f.name for f in built["local_dataframe"]["sigs"]["forward"].inputs] == ["a", "b", "c"]
    # numpy float64 sample for a float32 network: recorded as given, cast on the way in
    assert built["torchscript_numpy"]["sigs"]["forward"].inputs[0].dtype.value == "DOUBLE"
    two = built["two_inputs"]["sigs"]["forward"].to_dict()["inputs"]
    assert two == [{"name": "input_feature_0", "type": "FLOAT", "shape": [3]}, {"name": "input_feature_1", "type": "FLOAT"}]
    assert fresh["local_dataframe"]["class"].endswith("Scorer")
    assert fresh["torchscript_numpy"]["class"] == "torch.jit._script.RecursiveScriptModule"
    assert fresh["exported"]["class"] == "torch.export.exported_program.ExportedProgram"
    assert built["exported"]["sigs"]["forward"].to_dict() == built["module"]["sigs"]["forward"].to_dict()


def test_dict_sample_names_the_features(saved):
    """A dict of arrays is tabular data, as for TensorFlow: one named feature per key."""
    b = saved[0]["local_dataframe"]
    _, X = _tensors()
    sample = {name: X[name].to_numpy()[:10] for name in X.columns}
    sigs = b["handler"].infer_signatures(b["model"], ["forward"], sample)
    assert [(f.name, f.dtype.value) for f in sigs["forward"].inputs] == [("a", "DOUBLE"), ("b", "DOUBLE"), ("c", "INT64")]


def test_loaded_module_is_in_eval_mode(saved, tmp_path):
    built, _ = saved
    model = TwoLayer().train()
    handler = built["module"]["handler"]
    info = save_package(handler, model, tmp_path / "p")
    loaded = handler.load(tmp_path / "p", info)
    assert not loaded.training and model.training


def test_predict_table_accepts_rows_of_arrays_and_checks_shape(saved):
    built, _ = saved
    b = built["module"]
    t, _ = _tensors()
    rows = {"input_feature_0": [row.numpy() for row in t[:4]]}
    out = b["handler"].predict_table(b["model"], "forward", rows, b["sigs"]["forward"])
    assert list(out.columns) == ["output_feature_0"] and out["output_feature_0"].iloc[0].shape == (2,)
    with pytest.raises(InvalidInput, match=r"feature 'input_feature_0' expects FLOAT array of shape \(3,\), got an array of shape \(2,\) in row 0"):
        b["handler"].predict_table(b["model"], "forward", t[:4, :2], b["sigs"]["forward"])
    with pytest.raises(InvalidInput, match=r"input array of shape \(4, 3\) does not match the signature's 2 feature"):
        two = built["two_inputs"]
        two["handler"].predict_table(two["model"], "forward", t[:4].numpy(), two["sigs"]["forward"])


def test_sample_that_the_module_rejects_is_a_clear_error(saved):
    built, _ = saved
    b = built["module"]
    with pytest.raises(InvalidInput, match=r"calling forward of the TwoLayer on the sample input failed: RuntimeError: mat1 and mat2"):
        b["handler"].infer_signatures(b["model"], ["forward"], np.ones((4, 5), dtype=np.float32))
