"""``bpdebug run``: headless training that stops where a condition holds, as a teacher's CI would use it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from _reference import of, reference_epochs

from bpdebug.cli import main
from bpdebug.core.engine import Trace
from bpdebug.core.scenario import load

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
BLOG = SCENARIOS / "blog.toml"
DEEP = SCENARIOS / "deep.toml"

# one linear unit, learning rate far too large: the error is multiplied by 1 - 2·lr·2 = -7 every epoch
DIVERGING = """
title = "diverging"
[network]
layers = [1, 1]
activation = "linear"
[loss]
function = "sse"
[training]
learning_rate = 2
epochs = 1000
[data]
inputs = [[1.0]]
targets = [[1.0]]
[weights]
theta1 = [[0.5, 0.25]]
"""


def _json(capsys) -> dict:
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    return json.loads(out, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))  # strict JSON


def test_blog_runs_to_the_end_exit_0_with_the_final_loss(capsys):
    assert main(["run", str(BLOG)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "ran to the end: 1 epoch, no condition held (nan)"
    loss, _, _ = Trace(load(BLOG)).final(1)
    assert out[2] == f"  loss     {loss:.10g} (after the last update)"


def test_w5_below_x_stops_with_exit_3_at_the_reference_epoch(capsys):
    expected = next(e for e in of(load(BLOG), 2000) if e.weights_after[1][0, 1] < 0.39)
    assert main(["run", str(BLOG), "--epochs", "2000", "--break", "w5<0.39"]) == 3
    lines = capsys.readouterr().out.splitlines()
    w5 = expected.weights_after[1][0, 1]
    assert lines[0] == (f"stopped at epoch {expected.epoch}, step 10 of 10 (gradient descent update): "
                        f"w5 < 0.39: w5 = {w5:.7g} after epoch {expected.epoch} update")
    assert lines[1] == f"  epoch    {expected.epoch}"
    assert lines[2] == f"  loss     {expected.loss:.10g} (the epoch's loss, before its update)"
    assert lines[3] == f"  w5       {w5:.10g} (theta2[1,1])"


def test_json_says_the_same_as_one_strict_object(capsys):
    expected = next(e for e in of(load(BLOG), 2000) if np.linalg.norm(e.gradients[0]) < 1e-3)
    assert main(["run", str(BLOG), "--epochs", "2000", "--break", "grad[1]<1e-3", "--json"]) == 3
    doc = _json(capsys)
    assert doc["format"] == "bpdebug-run/1" and doc["stopped"] and doc["exit"] == 3
    assert doc["stop"]["condition"] == "grad[1]<0.001" and doc["stop"]["epoch"] == expected.epoch
    assert doc["stop"]["step"] == (expected.epoch - 1) * 10 + 8 and doc["stop"]["step_title"] == "gradients of theta1"
    assert doc["state"]["loss"] == expected.loss or abs(doc["state"]["loss"] - expected.loss) < 1e-15
    assert doc["conditions"] == ["grad[1]<0.001", "nan"]


def test_step_delta2_and_loss_up_from_the_command_line(capsys):
    assert main(["run", str(BLOG), "--break", "step=delta2", "--json"]) == 3
    assert _json(capsys)["stop"]["step"] == 6
    losses = [e.loss for e in of(load(DEEP), 100)]
    rise = next(i + 1 for i in range(1, len(losses)) if losses[i] > losses[i - 1])
    assert main(["run", str(DEEP), "--epochs", "100", "--break", "loss-up", "--json"]) == 3
    doc = _json(capsys)
    assert doc["stop"]["epoch"] == rise and doc["state"]["loss"] == losses[rise - 1]


def test_dead_on_deep_names_the_dead_relu_unit_at_epoch_1(capsys):
    assert main(["run", str(DEEP), "--break", "dead"]) == 3
    head = capsys.readouterr().out.splitlines()[0]
    assert head.startswith("stopped at epoch 1, step 9 of 14 (delta of hidden layer 3): dead: units 2, 4 of "
                           "layer 3 (relu)")


def test_what_if_from_the_command_line_edits_before_training(capsys):
    assert main(["run", str(BLOG), "--set", "w5=0.5", "--break", "step=z3", "--json"]) == 3
    doc = _json(capsys)
    assert doc["state"]["parameters"] == {"w5": 0.5} and doc["diverged"] is None
    assert doc["edits"] == [{"name": "w5", "value": 0.5, "target": "parameter"}]
    assert main(["run", str(BLOG), "--set", "learning_rate=1", "--set", "w5=0.5", "--epochs", "3"]) == 0
    out = capsys.readouterr().out
    assert "  what if  learning_rate=1.0, w5=0.5" in out


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    for args, says in [
        (["--break", "w99<1"], "bpdebug run: --break w99<1: unknown parameter 'w99'"),
        (["--break", "sometimes"], "bpdebug run: --break sometimes: not a condition, expected one of nan,"),
        (["--set", "w5=x"], "bpdebug run: --set w5=x: value 'x' is not a number"),
        (["--epochs", "0"], "bpdebug run: --epochs 0: expected a whole number from 1 to 1,000,000"),
    ]:
        assert main(["run", str(BLOG), *args]) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err.count("\n") == 1 and captured.err.startswith(says)
    bad = tmp_path / "bad.toml"
    bad.write_text("title = 3\n")
    assert main(["run", str(bad)]) == 2
    assert capsys.readouterr().err == f"{bad}:1: title: expected a string, got 3 (a number)\n"


# ------------------------------------------------------------------------------------------- divergence

def _first_non_finite_step(epochs) -> tuple[int, int]:
    """(epoch, step index) of the first non-finite number of a 1-1 linear batch run, in the engine's step
    order z2, a2, error, delta2, grad1, update (6 steps a pass)."""
    for e in epochs:
        z = e.z[2]
        out = e.z[2]  # linear: a = z
        error = (1.0 - out) ** 2
        quantities = [z, out, error, e.delta[2], e.gradients[0], e.weights_after[0]]
        for position, q in enumerate(quantities):
            if not np.all(np.isfinite(q)):
                return e.epoch, (e.epoch - 1) * 6 + position
    raise AssertionError("never diverged")


def test_a_diverging_run_stops_at_the_exact_first_non_finite_step(tmp_path, capsys):
    path = tmp_path / "diverging.toml"
    path.write_text(DIVERGING)
    s = load(path)
    epoch, step = _first_non_finite_step(reference_epochs(["linear"], "sse", 2.0, s.inputs, s.targets,
                                                          list(s.weights), 1000))
    assert epoch > 100  # the error grows sevenfold an epoch from 0.375: about 180 epochs to overflow its square
    assert main(["run", str(path), "--json"]) == 3
    doc = _json(capsys)
    assert doc["stop"]["condition"] == "nan" and (doc["stop"]["epoch"], doc["stop"]["step"]) == (epoch, step)
    assert doc["reason"].startswith("nan: ")
    assert doc["diverged"]["step"] == step and doc["diverged"]["quantity"] == "error"  # (t − o)² overflows first
    assert main(["run", str(path)]) == 3
    assert capsys.readouterr().out.startswith(f"stopped at epoch {epoch}, step {step % 6 + 1} of 6")


def test_a_run_that_is_not_finite_from_the_first_step_stops_there(tmp_path, capsys):
    path = tmp_path / "huge.toml"
    path.write_text(DIVERGING.replace("theta1 = [[0.5, 0.25]]", "theta1 = [[1e308, 1e308]]"))
    assert main(["run", str(path), "--json"]) == 3
    doc = _json(capsys)
    assert (doc["stop"]["epoch"], doc["stop"]["step"]) == (1, 0)  # z2 = 1e308 + 1e308 = inf
    assert doc["state"]["loss"] is None  # strict JSON: a non-finite number is null


def test_nan_stops_once_continuing_past_the_divergence_finds_nothing_new(tmp_path):
    from bpdebug.core.conditions import first_stop, parse_condition

    s = load_text(tmp_path, DIVERGING)
    trace = Trace(s, 400)
    nan = parse_condition("nan", s)
    stop = first_stop(trace, [nan])
    assert stop is not None and stop.step == trace.divergence().step
    assert first_stop(trace, [nan], from_step=stop.step + 1) is None
    # a condition after the divergence is still found when asked for
    later = first_stop(trace, [nan, parse_condition("step=update", s)], from_step=stop.step + 1)
    assert later is not None and later.condition.kind == "step" and later.epoch == stop.epoch


def load_text(tmp_path, text: str):
    path = tmp_path / "s.toml"
    path.write_text(text)
    return load(path)
