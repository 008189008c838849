"""Data and weights from files: the bundled Iris data, round trips, PyTorch's orientation, every bad file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from safetensors.numpy import load_file, save_file

from bpdebug.core import datafiles as df
from bpdebug.core.datafiles import DataFileError

SCENARIOS = Path(__file__).resolve().parent.parent / "bpdebug" / "scenarios"
IRIS_INPUTS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


# ------------------------------------------------------------------------------------------------- Iris

def test_iris_matches_the_published_summary():
    """Fisher's Iris: 50 of each species; column means 5.843, 3.057, 3.758, 1.199 cm (R's datasets::iris,
    summary()); per species mean petal length 1.462, 4.260, 5.552; one duplicated example (102 = 143)."""
    t = df.read_data(SCENARIOS, "iris.csv", IRIS_INPUTS, "species", None, 4, 3)
    assert t.classes == ("setosa", "versicolor", "virginica")
    assert t.targets.sum(axis=0).tolist() == [50.0, 50.0, 50.0]
    assert (t.targets.sum(axis=1) == 1).all()
    np.testing.assert_allclose(t.inputs.mean(axis=0), [5.843, 3.057, 3.758, 1.199], atol=5e-4)
    species = t.targets.argmax(axis=1)
    np.testing.assert_allclose([t.inputs[species == k, 2].mean() for k in range(3)], [1.462, 4.260, 5.552],
                               atol=5e-4)
    _, counts = np.unique(t.inputs, axis=0, return_counts=True)
    assert sorted(counts)[-2:] == [1, 2]
    assert t.inputs.min(axis=0).tolist() == [4.3, 2.0, 1.0, 0.1]
    assert t.inputs.max(axis=0).tolist() == [7.9, 4.4, 6.9, 2.5]
    assert "Fisher" in (SCENARIOS / "iris.csv").read_text().splitlines()[0]


def test_classes_given_set_the_one_hot_order(tmp_path):
    t = df.read_data(SCENARIOS, str(SCENARIOS / "iris.csv"), IRIS_INPUTS, "species",
                     ["virginica", "setosa", "versicolor"], 4, 3)
    assert t.classes == ("virginica", "setosa", "versicolor")
    assert t.targets[0].tolist() == [0.0, 1.0, 0.0]  # the first example is a setosa
    assert t.targets[-1].tolist() == [1.0, 0.0, 0.0]


# --------------------------------------------------------------------------------------- data round trips

matrices = hnp.arrays(float, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=5),
                      elements=st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False))


@settings(max_examples=30, deadline=None)
@given(x=matrices, n_out=st.integers(1, 3), data=st.data())
def test_csv_npz_npy_data_round_trip_bit_for_bit(tmp_path_factory, x, n_out, data):
    folder = tmp_path_factory.mktemp("data")
    t = data.draw(hnp.arrays(float, (x.shape[0], n_out), elements=st.floats(-10, 10, allow_nan=False)))
    names = [f"x{i}" for i in range(x.shape[1])]
    targets = [f"t{i}" for i in range(n_out)]
    lines = [",".join(names + targets)] + [",".join(repr(float(v)) for v in row) for row in np.hstack([x, t])]
    (folder / "d.csv").write_text("\n".join(lines) + "\n")
    np.savez(folder / "d.npz", X=x, Y=t)
    np.save(folder / "d.npy", np.hstack([x, t]))
    for table in (df.read_data(folder, "d.csv", names, targets, None, x.shape[1], n_out),
                  df.read_data(folder, "d.npz", "X", "Y", None, x.shape[1], n_out),
                  df.read_data(folder, "d.npy", None, None, None, x.shape[1], n_out)):
        assert np.array_equal(table.inputs, x) and np.array_equal(table.targets, t)
        assert table.inputs.dtype == np.float64


# --------------------------------------------------------------------------------------- weights

def network_weights(draw, layers, bias):
    return tuple(draw(hnp.arrays(float, (layers[l], layers[l - 1] + bias), elements=st.floats(-5, 5)))
                 for l in range(1, len(layers)))


@settings(max_examples=30, deadline=None)
@given(layers=st.lists(st.integers(1, 5), min_size=2, max_size=4), bias=st.booleans(), data=st.data())
def test_weights_round_trip_through_npz_and_safetensors_bit_for_bit(tmp_path_factory, layers, bias, data):
    folder = tmp_path_factory.mktemp("w")
    weights = network_weights(data.draw, layers, bias)
    for name in ("w.npz", "w.safetensors"):
        df.write_weights(folder / name, weights, bias)
        back, stamp = df.read_weights(folder, name, layers, bias)
        assert all(np.array_equal(a, b) for a, b in zip(back, weights, strict=True))
        assert stamp.size == (folder / name).stat().st_size
    # the safetensors package reads what we wrote as an nn.Sequential state dict
    tensors = load_file(folder / "w.safetensors")
    assert sorted(tensors) == sorted(df.sequential_state_dict(weights, bias))
    for l, w in enumerate(weights):
        assert np.array_equal(tensors[f"{2 * l}.weight"], w[:, 1:] if bias else w)


def test_a_pytorch_sequential_state_dict_loads_in_the_right_orientation(tmp_path):
    """nn.Sequential(nn.Linear(3, 2), nn.Sigmoid(), nn.Linear(2, 1)) saved by safetensors: Linear's weight is
    out_features × in_features, so theta1[i, j] (unit i of layer 2 from unit j of layer 1) = 0.weight[i-1, j-1]
    and theta1[i, 0] = 0.bias[i-1]. Stored as float32, as PyTorch does."""
    w0 = np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]], dtype=np.float32)  # 2 out × 3 in: not square
    b0 = np.array([-1.0, 1.0], dtype=np.float32)
    w2 = np.array([[0.7, 0.8]], dtype=np.float32)
    b2 = np.array([0.25], dtype=np.float32)
    save_file({"0.weight": w0, "0.bias": b0, "2.weight": w2, "2.bias": b2}, tmp_path / "m.safetensors")
    (theta1, theta2), _ = df.read_weights(tmp_path, "m.safetensors", (3, 2, 1), True)
    assert theta1.shape == (2, 4) and theta2.shape == (1, 3)
    assert theta1[1, 3] == np.float32(0.6)  # x3 -> h2
    assert theta1[0, 2] == np.float32(0.2)  # x2 -> h1
    assert theta1[:, 0].tolist() == [-1.0, 1.0]
    assert theta2.tolist() == [[0.25, np.float32(0.7), np.float32(0.8)]]
    # the forward pass agrees with what the PyTorch model computes: sigmoid(W0 x + b0), then W2 h + b2
    x = np.array([0.5, -0.25, 2.0])
    h = 1 / (1 + np.exp(-(w0.astype(float) @ x + b0)))
    assert theta2 @ np.r_[1.0, 1 / (1 + np.exp(-(theta1 @ np.r_[1.0, x])))] == pytest.approx(w2 @ h + b2)


def test_nested_sequential_prefix_and_no_bias_and_bf16(tmp_path):
    import struct

    w = np.array([[1.5, -2.0]], dtype=np.float32)
    save_file({"net.0.weight": w}, tmp_path / "nb.safetensors")
    (theta,), _ = df.read_weights(tmp_path, "nb.safetensors", (2, 1), False)
    assert theta.tolist() == [[1.5, -2.0]]
    # bfloat16 is the top half of a float32: 1.5 = 0x3FC0, -2.0 = 0xC000
    header = json.dumps({"0.weight": {"dtype": "BF16", "shape": [1, 2], "data_offsets": [0, 4]}}).encode()
    (tmp_path / "bf.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + struct.pack("<HH", 0x3FC0,
                                                                                                    0xC000))
    (theta,), _ = df.read_weights(tmp_path, "bf.safetensors", (2, 1), False)
    assert theta.tolist() == [[1.5, -2.0]]


# --------------------------------------------------------------------------------------- the stamp

def test_a_file_that_changes_after_reading_is_refused(tmp_path):
    np.savez(tmp_path / "w.npz", theta1=np.zeros((1, 2)))
    _, stamp = df.read_weights(tmp_path, "w.npz", (1, 1), True)
    df.verify(stamp)  # unchanged: fine
    assert stamp.summary().startswith("w.npz (") and "sha256" in stamp.summary()
    np.savez(tmp_path / "w.npz", theta1=np.ones((1, 2)))
    with pytest.raises(DataFileError, match="changed since the scenario was loaded") as info:
        df.verify(stamp)
    assert info.value.key == ("weights", "file") and "\n" not in str(info.value)
    (tmp_path / "w.npz").unlink()
    with pytest.raises(DataFileError, match="gone"):
        df.verify(stamp)


# --------------------------------------------------------------------------------------- bad files

IRIS_HEAD = "sepal_length,sepal_width,petal_length,petal_width,species\n"


def _csv(tmp_path, text):
    (tmp_path / "d.csv").write_text(text)
    return lambda inputs=IRIS_INPUTS, targets="species", classes=None: df.read_data(
        tmp_path, "d.csv", inputs, targets, classes, 4, 3)


BAD_DATA = [
    # (files to write, read arguments, key blamed, words in the message)
    ({}, ("missing.csv", IRIS_INPUTS, "species"), "data.file", "no such file"),
    ({"d.txt": "x"}, ("d.txt", IRIS_INPUTS, "species"), "data.file", "unknown extension"),
    ({"d.csv": IRIS_HEAD + "5.1,3.5,1.4,0.2,setosa\n5.0,3.0,1.4,setosa\n"}, ("d.csv", IRIS_INPUTS, "species"),
     "data.file", "d.csv:3: 4 fields, expected 5"),
    ({"d.csv": IRIS_HEAD + "5.1,3.5,1.4,0.2,setosa\n"}, ("d.csv", ["sepal_length", "sepal_widht", "petal_length",
                                                               "petal_width"], "species"),
     "data.inputs", "no column 'sepal_widht'"),
    ({"d.csv": IRIS_HEAD + "5.1,3.5,1.4,0.2,setosa\n"}, ("d.csv", IRIS_INPUTS, "label"), "data.targets",
     "no column 'label'"),
    ({"d.csv": IRIS_HEAD + "5.1,nan,1.4,0.2,setosa\n"}, ("d.csv", IRIS_INPUTS, "species"), "data.inputs",
     "d.csv:2: column 'sepal_width' holds nan, expected a finite number"),
    ({"d.csv": IRIS_HEAD + "5.1,abc,1.4,0.2,setosa\n"}, ("d.csv", IRIS_INPUTS, "species"), "data.inputs",
     "'abc', expected a number"),
    ({"d.csv": IRIS_HEAD}, ("d.csv", IRIS_INPUTS, "species"), "data.file", "no examples"),
    ({"d.csv": ""}, ("d.csv", IRIS_INPUTS, "species"), "data.file", "empty"),
    ({"d.csv": IRIS_HEAD + "5.1,3.5,1.4,0.2,setosa\n5.1,3.5,1.4,0.2,rose\n"}, ("d.csv", IRIS_INPUTS, "species"),
     "data.targets", "2 classes (setosa, rose) in 'd.csv', expected 3"),
    ({"d.csv": IRIS_HEAD + "5.1,3.5,1.4,0.2,setosa\n"}, ("d.csv", IRIS_INPUTS[:3], "species"), "data.inputs",
     "3 input columns in 'd.csv', expected 4"),
    ({"d.csv": IRIS_HEAD + "5.1,3.5,1.4,0.2,setosa\n"}, ("d.csv", "sepal_length", "species"), "data.inputs",
     "expected a list of column names"),
    ({"d.csv": b"\xff\xfe\x00junk"}, ("d.csv", IRIS_INPUTS, "species"), "data.file", "not UTF-8"),
    ({"d.npz": None}, ("d.npz", "X", "T"), "data.targets", "no array 'T'"),
    ({"d.npz": None}, ("d.npz", ["X"], "Y"), "data.inputs", "expected the name of an array"),
    ({"s.npz": "strings"}, ("s.npz", "X", "Y"), "data.inputs", "'s.npz' array 'X' has dtype <U"),
    ({"n.npz": "nan"}, ("n.npz", "X", "Y"), "data.inputs", "holds nan at [2, 1]"),
    ({"w.npz": "wrong rows"}, ("w.npz", "X", "Y"), "data.targets", "expected one row of targets per example"),
    ({"d.npy": "npy"}, ("d.npy", None, None), "data.file", "has 5 columns, expected 7: 4 inputs then 3 targets"),
    ({"d.npy": "npy"}, ("d.npy", "X", None), "data.inputs", "not used with a .npy file"),
    ({"g.npz": b"PK\x03\x04 not really a zip"}, ("g.npz", "X", "Y"), "data.file", "cannot be read as .npz"),
]


@pytest.mark.parametrize(("files", "args", "key", "words"), BAD_DATA, ids=[c[3][:30] for c in BAD_DATA])
def test_every_bad_data_file_is_refused_in_one_line(tmp_path, files, args, key, words):
    for name, content in files.items():
        path = tmp_path / name
        if content is None:
            np.savez(path, X=np.zeros((3, 4)), Y=np.eye(3))
        elif content == "strings":
            np.savez(path, X=np.array([["a"] * 4] * 3), Y=np.eye(3))
        elif content == "nan":
            np.savez(path, X=np.array([[0.0] * 4, [np.nan, 0, 0, 0], [0.0] * 4]), Y=np.eye(3))
        elif content == "wrong rows":
            np.savez(path, X=np.zeros((3, 4)), Y=np.eye(3)[:2])
        elif content == "npy":
            np.save(path, np.zeros((3, 5)))
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    file, inputs, targets = args
    with pytest.raises(DataFileError) as info:
        df.read_data(tmp_path, file, inputs, targets, None, 4, 3)
    assert ".".join(info.value.key) == key
    assert words in info.value.message
    assert "\n" not in str(info.value) and "expected" in info.value.message


def test_classes_refuse_an_unlisted_label_and_are_only_for_label_columns(tmp_path):
    read = _csv(tmp_path, IRIS_HEAD + "5.1,3.5,1.4,0.2,setosa\n6.0,3.0,4.8,1.8,virginica\n")
    with pytest.raises(DataFileError, match="d.csv:3: class 'virginica' is not in classes"):
        read(classes=["setosa", "versicolor", "rose"])
    with pytest.raises(DataFileError, match="only used with a .csv file"):
        df.read_data(tmp_path, "d.csv", IRIS_INPUTS, ["petal_width"], ["a"], 4, 1)


BAD_WEIGHTS = [
    # (tensors or arrays, layers, bias, words)
    ({"theta1": np.zeros((2, 3))}, (2, 2, 2), True, "has no theta2, expected 2 rows of 3 columns"),
    ({"theta1": np.zeros((2, 3)), "theta2": np.zeros((2, 2))}, (2, 2, 2), True,
     "theta2 has shape (2, 2), expected 2 rows of 3 columns for layers 2 -> 2 with bias"),
    ({"theta1": np.zeros((2, 3)), "theta2": np.zeros((2, 3)), "extra": np.zeros(1)}, (2, 2, 2), True,
     "holds an array 'extra'"),
    ({"theta1": np.array([[0.0, np.inf]])}, (1, 1), True, "holds inf at [1, 2]"),
    ({"theta1": np.array([[1, 2]], dtype=bool)}, (1, 1), True, "dtype bool"),
    ({"theta1": np.array([[1, 2]], dtype=complex)}, (1, 1), True, "dtype complex128"),
]


@pytest.mark.parametrize(("arrays", "layers", "bias", "words"), BAD_WEIGHTS, ids=[c[3][:30] for c in BAD_WEIGHTS])
def test_every_bad_npz_weights_file_is_refused(tmp_path, arrays, layers, bias, words):
    np.savez(tmp_path / "w.npz", **arrays)
    with pytest.raises(DataFileError) as info:
        df.read_weights(tmp_path, "w.npz", layers, bias)
    assert info.value.key == ("weights", "file") and words in info.value.message


BAD_SAFETENSORS = [
    ({"0.weight": np.zeros((2, 2), np.float32)}, (2, 2), True, "0 has no bias, expected a bias"),
    ({"0.weight": np.zeros((2, 2), np.float32), "0.bias": np.zeros(2, np.float32)}, (2, 2), False,
     "0 has a bias, expected none"),
    ({"0.weight": np.zeros((2, 3), np.float32), "0.bias": np.zeros(2, np.float32)}, (2, 2), True,
     "0.weight has shape (2, 3), expected (2, 2) (out_features × in_features)"),
    ({"0.weight": np.zeros((2, 2), np.float32), "0.bias": np.zeros(3, np.float32)}, (2, 2), True,
     "0.bias has shape (3,), expected (2,)"),
    ({"0.weight": np.zeros((2, 2), np.float32)}, (2, 2, 2), False, "holds 1 Linear layer (0), expected 2"),
    ({"0.weight": np.zeros((2, 2), np.int64)}, (2, 2), False, "dtype I64, expected floating point"),
    ({"0.weight": np.array([[0, np.nan], [0, 0]], np.float32)}, (2, 2), False, "holds nan at [1, 2]"),
    ({"0.running_mean": np.zeros(2, np.float32)}, (2, 2), False, "holds a tensor '0.running_mean'"),
]


@pytest.mark.parametrize(("tensors", "layers", "bias", "words"), BAD_SAFETENSORS,
                         ids=[c[3][:30] for c in BAD_SAFETENSORS])
def test_every_bad_safetensors_file_is_refused(tmp_path, tensors, layers, bias, words):
    save_file(tensors, tmp_path / "m.safetensors")
    with pytest.raises(DataFileError) as info:
        df.read_weights(tmp_path, "m.safetensors", layers, bias)
    assert info.value.key == ("weights", "file") and words in info.value.message
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("content", [b"", b"\x10\x00\x00\x00\x00\x00\x00\x00{}", b"\x02\x00\x00\x00\x00\x00\x00\x00[]",
                                     b"\x04\x00\x00\x00\x00\x00\x00\x00nope",
                                     b"\x40\x00\x00\x00\x00\x00\x00\x00" +
                                     b'{"0.weight":{"dtype":"F64","shape":[2,2],"data_offsets":[0,8]}}' + b"\0" * 8])
def test_a_corrupt_safetensors_file_is_refused(tmp_path, content):
    (tmp_path / "m.safetensors").write_bytes(content)
    with pytest.raises(DataFileError, match="not a valid .safetensors file"):
        df.read_weights(tmp_path, "m.safetensors", (2, 2), False)


def test_paths_are_relative_to_the_scenario_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    np.savez(tmp_path / "sub" / "w.npz", theta1=np.ones((1, 2)))
    (weights,), stamp = df.read_weights(tmp_path, "sub/w.npz", (1, 1), True)
    assert stamp.path == tmp_path / "sub" / "w.npz" and stamp.shown == "sub/w.npz"
    with pytest.raises(DataFileError, match="no such file"):
        df.read_weights(tmp_path / "sub", "sub/w.npz", (1, 1), True)
