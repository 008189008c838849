"""The version 2 [training], [data] file and [weights] file keys: what loads, and one line for what does not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bpdebug import cli
from bpdebug.core import datafiles
from bpdebug.core.scenario import ScenarioError, load, loads

SCENARIOS = Path(__file__).resolve().parent.parent / "bpdebug" / "scenarios"

BASE = """\
title = "training keys"

[network]
layers = [2, 2, 2]
activation = "sigmoid"

[loss]
function = "half_sse"

[training]
learning_rate = 0.1
TRAINING

[data]
DATA

[weights]
WEIGHTS
"""
DATA = "inputs = [[0.85, 0.25], [0.1, 0.9], [0.5, 0.5]]\ntargets = [[0.6905, 0.8657], [0.1, 0.2], [0.3, 0.3]]"
WEIGHTS = "theta1 = [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]\ntheta2 = [[0.5, 0.4, 0.3], [0.2, 0.5, 0.1]]"


def scenario(training: str = "", data: str = DATA, weights: str = WEIGHTS, extra: str = "") -> str:
    return BASE.replace("TRAINING", training).replace("DATA", data).replace("WEIGHTS", weights) + extra


def test_defaults_are_version_1s_plain_descent():
    s = loads(scenario())
    assert s.plan.optimizer.name == "sgd" and s.plan.mode == "batch" and s.update == "batch"
    assert s.plan.hyper.learning_rate == 0.1 and s.plan.hyper.weight_decay == 0.0
    assert loads(scenario('update = "online"')).plan.batch_size == 1


def test_every_training_key_is_read():
    s = loads(scenario('optimizer = "adam"\nbeta1 = 0.8\nbeta2 = 0.99\nepsilon = 1e-6\nweight_decay = 0.01\n'
                       'batch_size = 2\nshuffle = true\nseed = 42'))
    h = s.plan.hyper
    assert (s.plan.optimizer.name, h.beta1, h.beta2, h.epsilon, h.weight_decay) == ("adam", 0.8, 0.99, 1e-6, 0.01)
    assert (s.plan.batch_size, s.plan.shuffle, s.plan.seed, s.update) == (2, True, 42, "mini-batch")
    assert loads(scenario('optimizer = "rmsprop"\nalpha = 0.9')).plan.hyper.alpha == 0.9
    assert loads(scenario('optimizer = "nesterov"\nmomentum = 0.5')).plan.hyper.momentum == 0.5
    # a batch as large as the data is every example at once
    assert loads(scenario("batch_size = 3")).plan.mode == "batch"


@pytest.mark.parametrize(("training", "key", "says"), [
    ('optimizer = "adamw"', "training.optimizer", 'unknown optimizer "adamw", expected one of sgd, '
                                                  "momentum, nesterov, adam, rmsprop"),
    ('optimizer = "momentum"\nbeta1 = 0.9', "training.beta1", 'not used by optimizer = "momentum", expected it only '
                                                            'with optimizer = "adam"'),
    ("momentum = 0.9", "training.momentum", 'not used by optimizer = "sgd", expected it only with optimizer = '
                                            '"momentum" or "nesterov"'),
    ('optimizer = "adam"\nbeta2 = 1.0', "training.beta2", "expected a number in [0, 1) (decay of the second moment "
                                                          "v), got 1"),
    ('optimizer = "adam"\nepsilon = 0', "training.epsilon", "expected a number > 0"),
    ('optimizer = "momentum"\nmomentum = -0.5', "training.momentum", "expected a number in [0, 1]"),
    ('optimizer = "nesterov"\nmomentum = 0.0', "training.momentum", "expected a number in (0, 1] (momentum), got 0"),
    ('optimizer = "rmsprop"\nalpha = "high"', "training.alpha", 'expected a number, got "high" (a string)'),
    ("weight_decay = -0.1", "training.weight_decay", "expected a number >= 0 (L2 weight decay), got -0.1"),
    ("batch_size = 0", "training.batch_size", "expected a whole number >= 1, got 0"),
    ("batch_size = 1.5", "training.batch_size", "expected a whole number >= 1, got 1.5 (a number)"),
    ('update = "online"\nbatch_size = 2', "training.batch_size", "update and batch_size both say how many examples"),
    ('shuffle = "yes"', "training.shuffle", 'expected true or false, got "yes" (a string)'),
    ("seed = -1", "training.seed", "expected a whole number from 0 to"),
])
def test_bad_training_keys_are_refused_in_one_line(training, key, says):
    with pytest.raises(ScenarioError) as info:
        loads(scenario(training), "s.toml")
    e = info.value
    assert e.key == key and says in e.message, str(e)
    assert e.line == 1 + scenario(training).splitlines().index(
        next(line for line in scenario(training).splitlines() if line.startswith(key.split(".")[1] + " ")))
    assert "\n" not in str(e)


@pytest.mark.parametrize(("training", "quantity", "says"), [
    ("", "v.w5", "'v.w5': optimizer \"sgd\" keeps no v, expected no optimizer state"),
    ('optimizer = "momentum"', "m.w5", "'m.w5': optimizer \"momentum\" keeps no m, expected v.NAME"),
    ('optimizer = "adam"', "v.w99", "'v.w99': unknown parameter 'w99'"),
])
def test_state_quantities_follow_the_optimizer(training, quantity, says):
    text = scenario(training, extra=f'\n[[expect]]\nquantity = "{quantity}"\nvalue = 0.0\n')
    with pytest.raises(ScenarioError, match="expect") as info:
        loads(text, "s.toml")
    assert says in info.value.message
    ok = scenario('optimizer = "adam"', extra='\n[[expect]]\nquantity = "mhat.w5"\nvalue = 0.0\n')
    e = loads(ok).expectations[0]
    assert (e.kind, e.state, e.param.short) == ("state", "mhat", "w5")


# ------------------------------------------------------------------------------------------------ files

def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


def test_data_and_weights_from_files_relative_to_the_scenario(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "data.csv").write_text("a,b,t1,t2\n0.85,0.25,0.6905,0.8657\n0.1,0.9,0.1,0.2\n")
    weights = (np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]), np.array([[0.5, 0.4, 0.3], [0.2, 0.5, 0.1]]))
    datafiles.write_weights(tmp_path / "d" / "w.safetensors", weights, True)
    path = write(tmp_path, scenario(data='file = "d/data.csv"\ninputs = ["a", "b"]\ntargets = ["t1", "t2"]',
                                    weights='file = "d/w.safetensors"'))
    s = load(path)
    assert s.inputs.tolist() == [[0.85, 0.25], [0.1, 0.9]] and s.targets[1].tolist() == [0.1, 0.2]
    assert all(np.array_equal(a, b) for a, b in zip(s.weights, weights, strict=True))
    assert [f.shown for f in s.files] == ["d/data.csv", "d/w.safetensors"]
    assert (tmp_path / "d" / "data.csv").absolute() in s.source_files  # an export may never overwrite it
    s.verify_files()
    (tmp_path / "d" / "data.csv").write_text("a,b,t1,t2\n0.85,0.25,0.6905,0.8657\n")
    with pytest.raises(ScenarioError, match="data.file: 'd/data.csv' changed since the scenario was loaded"):
        s.verify_files()


def test_the_bundled_iris_data_loads_through_a_scenario(tmp_path):
    text = scenario(data=f'file = "{SCENARIOS / "iris.csv"}"\ninputs = ["sepal_length", "sepal_width", '
                         '"petal_length", "petal_width"]\ntargets = "species"',
                    weights='init = "xavier"').replace("[2, 2, 2]", "[4, 8, 3]")
    s = load(write(tmp_path, text))
    assert s.inputs.shape == (150, 4) and s.classes == ("setosa", "versicolor", "virginica")


@pytest.mark.parametrize(("data", "weights", "key", "says"), [
    ('file = "missing.csv"\ninputs = ["a"]\ntargets = ["t"]', WEIGHTS, "data.file", "'missing.csv': no such file"),
    ('file = "data.csv"\ninputs = ["a", "c"]\ntargets = ["t1", "t2"]', WEIGHTS, "data.inputs", "no column 'c'"),
    ('file = "data.csv"\ninputs = ["a", "b"]\ntargets = ["t1", "t2"]\nclasses = ["x"]', WEIGHTS, "data.classes",
     "only used with a .csv file whose targets is one column"),
    (DATA + '\nclasses = ["x"]', WEIGHTS, "data.classes", "only used with file"),
    ('file = "data.csv"\ninputs = ["a", "b"]\ntargets = ["t1", "t2"]', 'file = "w.npz"', "weights.file",
     "'w.npz' theta2 has shape (2, 2), expected 2 rows of 3 columns for layers 2 -> 2 with bias"),
    ('file = "data.csv"\ninputs = ["a", "b"]\ntargets = ["t1", "t2"]', 'file = "w.npz"\ninit = "he"', "weights.init",
     "expected either file or the matrices or init, never both"),
])
def test_bad_files_are_refused_in_one_line_at_their_key(tmp_path, data, weights, key, says):
    (tmp_path / "data.csv").write_text("a,b,t1,t2\n0.85,0.25,0.6905,0.8657\n")
    np.savez(tmp_path / "w.npz", theta1=np.zeros((2, 3)), theta2=np.zeros((2, 2)))
    path = write(tmp_path, scenario(data=data, weights=weights))
    with pytest.raises(ScenarioError) as info:
        load(path)
    e = info.value
    assert e.key == key and says in e.message and e.line is not None, str(e)
    assert path.read_text().splitlines()[e.line - 1].startswith(key.split(".")[1])
    assert cli.main(["check", str(path)]) == 2


@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
def test_exported_weights_read_back_give_the_same_run_bit_for_bit(tmp_path, fmt, capsys):
    from bpdebug.core.engine import train

    blog = SCENARIOS / "blog.toml"
    out = tmp_path / f"w5.{fmt}"
    assert cli.main(["export", str(blog), "--format", fmt, "--epochs", "5", "-o", str(out)]) == 0
    text = blog.read_text()
    start = text.index("theta1 = [[")
    end = text.index("\n\n", start)
    path = write(tmp_path, text[:start] + f'file = "w5.{fmt}"' + text[end:])
    again = load(path)
    assert [f.shown for f in again.files] == [f"w5.{fmt}"]
    whole = train(load(blog), 8).weights
    assert all(np.array_equal(a, b) for a, b in zip(train(again, 3).weights, whole, strict=True))
    # a binary format needs -o, and never overwrites a file the scenario reads
    assert cli.main(["export", str(blog), "--format", fmt]) == 2
    assert cli.main(["export", str(path), "--format", fmt, "-o", str(out)]) == 2
    assert "the scenario reads this file" in capsys.readouterr().err


def test_the_apps_export_writes_the_weights_for_weights_file(tmp_path):
    from bpdebug.core.engine import train
    from bpdebug.tui.session import Session

    session = Session(SCENARIOS / "adam.toml")
    note = session.export("safetensors", tmp_path / "adam.safetensors", 3)
    assert "wrote the weights after epoch 3" in note.text
    back, _ = datafiles.read_weights(tmp_path, "adam.safetensors", (2, 2, 2), True)
    assert all(np.array_equal(a, b) for a, b in zip(back, train(load(SCENARIOS / "adam.toml"), 3).weights,
                                                    strict=True))
