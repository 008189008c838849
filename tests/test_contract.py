"""SCENARIO-FORMAT.md, sentence by sentence: each test is named after the section it checks.

The expected values come from the contract's own words, computed here by a small NumPy network written
from the format's definitions (``z(l+1) = theta_l · a(l)`` with the bias 1 prepended, the losses' table,
``p ← p − learning_rate · ∂E/∂p``), never from bpdebug's engine; gradients are checked against central
differences of that independent loss. Statements other test files already check are not repeated here
(the one-line errors: test_scenario_errors.py; the optimizers: test_optimizers.py; data files:
test_datafiles.py; conditions: test_conditions.py and test_run.py; check --json: test_diagnosis.py).
"""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from _cli import run_cli, write

from bpdebug import cli
from bpdebug.core import conditions, optimizers, toml_locator
from bpdebug.core.scenario import ScenarioError, load, loads

ROOT = Path(__file__).resolve().parent.parent
BLOG = ROOT / "scenarios" / "blog.toml"

# ------------------------------------------------------------------------------ an independent network

ACT: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
    "linear": lambda z: z,
    "softmax": lambda z: np.exp(z - z.max()) / np.exp(z - z.max()).sum(),
}


def per_example(loss: str, t: np.ndarray, o: np.ndarray) -> float:
    """The table's "per example" column."""
    k = len(t)
    return float({
        "sse": lambda: np.sum((t - o) ** 2),
        "half_sse": lambda: 0.5 * np.sum((t - o) ** 2),
        "mse": lambda: np.sum((t - o) ** 2) / k,
        "cross_entropy": lambda: -np.sum(t * np.log(o)),
        "binary_cross_entropy": lambda: -np.sum(t * np.log(o) + (1 - t) * np.log(1 - o)),
    }[loss]())


REDUCTION = {"sse": "sum", "half_sse": "sum", "mse": "mean", "cross_entropy": "mean", "binary_cross_entropy": "mean"}


def forward(thetas: list[np.ndarray], acts: list[str], x: np.ndarray, bias: bool = True) -> list[np.ndarray]:
    """[a1, z2, a2, z3, a3, …] of one example: a(l) without its bias, z(l+1) = theta_l · [1, a(l)]."""
    out = [np.asarray(x, dtype=float)]
    a = out[0]
    for theta, name in zip(thetas, acts, strict=True):
        z = theta @ (np.concatenate([[1.0], a]) if bias else a)
        a = ACT[name](z)
        out += [z, a]
    return out


def batch_loss(thetas, acts, loss, xs, ts, bias=True) -> float:
    """The table's "over the examples of a batch" column."""
    values = [per_example(loss, t, forward(thetas, acts, x, bias)[-1]) for x, t in zip(xs, ts, strict=True)]
    return float(np.sum(values) if REDUCTION[loss] == "sum" else np.mean(values))


def central_gradient(thetas, f, h=1e-6) -> list[np.ndarray]:
    """∂f/∂theta by central differences, one entry at a time."""
    grads = []
    for l, theta in enumerate(thetas):
        g = np.zeros_like(theta)
        for idx in np.ndindex(theta.shape):
            up = [t.copy() for t in thetas]
            down = [t.copy() for t in thetas]
            up[l][idx] += h
            down[l][idx] -= h
            g[idx] = (f(up) - f(down)) / (2 * h)
        grads.append(g)
    return grads


def scenario_text(layers, acts, loss, x, t, thetas, lr=0.5, extra_training="", extra="", bias=True) -> str:
    def m(a):
        return "[" + ", ".join("[" + ", ".join(repr(float(v)) for v in row) + "]" for row in np.atleast_2d(a)) + "]"
    weights = "\n".join(f"theta{l + 1} = {m(w)}" for l, w in enumerate(thetas))
    return (f'[network]\nlayers = {list(layers)}\nactivation = {json.dumps(list(acts))}\nbias = {str(bias).lower()}\n'
            f'[loss]\nfunction = "{loss}"\n[training]\nlearning_rate = {lr!r}\n{extra_training}\n'
            f"[data]\ninputs = {m(x)}\ntargets = {m(t)}\n[weights]\n{weights}\n{extra}")


def export_json(capsys, path: Path, *args: object) -> tuple[dict, str]:
    code, out, err = run_cli(capsys, "export", path, "--format", "json", *args)
    assert code == 0, err
    return json.loads(out, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}")), out


def by_name(scenario, thetas: list[np.ndarray]) -> dict[str, float]:
    return {p.short: float(thetas[p.layer - 1][p.row, p.col]) for p in scenario.params}


def close(a: float, b: float, rel: float = 1e-12, abs_: float = 1e-15) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


BLOG_THETAS = [np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]), np.array([[0.5, 0.4, 0.3], [0.2, 0.5, 0.1]])]
X2 = np.array([[0.85, 0.25], [0.1, 0.9]])
T2 = np.array([[0.6905, 0.8657], [0.2, 0.1]])


# ---------------------------------------------------------------------------------- Scenario format, v1

def test_format_optional_keys_take_the_defaults_the_contract_gives(capsys, tmp_path):
    """bias default true, [loss] function default "sse", epochs default 1, update default "batch"."""
    text = ('[network]\nlayers = [2, 2, 2]\nactivation = "sigmoid"\n[training]\nlearning_rate = 0.1\n'
            "[data]\ninputs = [[0.85, 0.25]]\ntargets = [[0.6905, 0.8657]]\n[weights]\n"
            "theta1 = [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]\ntheta2 = [[0.5, 0.4, 0.3], [0.2, 0.5, 0.1]]\n")
    s = loads(text)
    assert s.bias is True and s.loss.name == "sse" and s.epochs == 1 and s.update == "batch"
    assert s.frozen == frozenset() and s.expectations == ()
    doc, _ = export_json(capsys, write(tmp_path, text))
    assert len(doc["epochs"]) == 1 and len(doc["epochs"][0]["steps"]) == 1
    assert doc["epochs"][0]["steps"][0]["example"] is None  # batch: one update for the epoch
    sse = per_example("sse", np.array([0.6905, 0.8657]), forward(BLOG_THETAS, ["sigmoid"] * 2, [0.85, 0.25])[-1])
    assert close(doc["epochs"][0]["loss"], sse)
    # without bias, the same 3-column matrices are refused: the default really is a bias column
    with pytest.raises(ScenarioError, match="without bias"):
        loads(text.replace('activation = "sigmoid"', 'activation = "sigmoid"\nbias = false'))


def test_format_title_is_shown_in_the_header_and_every_transcript(capsys, tmp_path):
    title = "A title the contract says is shown"
    path = write(tmp_path, f'title = "{title}"\ndescription = "free text"\n[network]' +
                 BLOG.read_text().split("[network]", 1)[1])
    for fmt in ("md", "tex", "txt"):
        code, out, _ = run_cli(capsys, "export", path, "--format", fmt)
        assert code == 0 and title in out, fmt
    doc, _ = export_json(capsys, path)
    assert (doc["scenario"]["title"], doc["scenario"]["path"]) == (title, str(path))
    code, out, _ = run_cli(capsys, "check", path)
    assert out.splitlines()[0] == title


def test_format_a_flat_list_of_inputs_is_one_example():
    flat = loads(BLOG.read_text().replace("inputs = [[0.85, 0.25]]", "inputs = [0.85, 0.25]"))
    rows = load(BLOG)
    assert flat.inputs.shape == (1, 2) and np.array_equal(flat.inputs, rows.inputs)


def test_format_weight_matrix_rows_are_receiving_units_and_column_0_the_bias(capsys, tmp_path):
    """Row i = unit i of layer 2; column 0 = the bias unit (bias = true); column j >= 1 = unit j of layer 1."""
    theta1 = np.array([[0.1, 0.2, 0.3, 0.4], [-0.5, 0.6, -0.7, 0.8]])  # 3 inputs -> 2 hidden, distinct entries
    theta2 = np.array([[0.3, -0.2, 0.9]])
    x = np.array([[0.3, -1.1, 2.0]])
    z2 = theta1[:, 0] + theta1[:, 1:] @ x[0]  # written out from the sentence, not via forward()
    a2 = 1 / (1 + np.exp(-z2))
    z3 = theta2[0, 0] + theta2[0, 1:] @ a2
    expect = (f'[[expect]]\nquantity = "z2"\nvalue = {list(map(float, z2))}\ntolerance = 1e-12\n'
              f'[[expect]]\nquantity = "z3"\nvalue = {float(z3)!r}\ntolerance = 1e-12\n')
    path = write(tmp_path, scenario_text([3, 2, 1], ["sigmoid", "linear"], "sse", x, [[0.5]], [theta1, theta2],
                                         extra=expect))
    assert run_cli(capsys, "check", path)[0] == 0
    # bias = false: column j = unit j, no bias column
    expect = f'[[expect]]\nquantity = "z2"\nvalue = {list(map(float, theta1[:, 1:] @ x[0]))}\ntolerance = 1e-12\n'
    path = write(tmp_path, scenario_text([3, 2, 1], ["sigmoid", "linear"], "sse", x, [[0.5]],
                                         [theta1[:, 1:], theta2[:, 1:]], extra=expect, bias=False))
    assert run_cli(capsys, "check", path)[0] == 0


# ------------------------------------------------------------------------------------------ Activations

@pytest.mark.parametrize("acts, out", [(["sigmoid", "tanh"], 2), (["relu", "linear"], 2), (["tanh", "softmax"], 3),
                                       (["linear", "sigmoid"], 1)])
def test_activations_builtin_functions_compute_what_their_names_say(capsys, tmp_path, acts, out):
    rng = np.random.default_rng(len(acts[0]) * 10 + out)
    thetas = [rng.uniform(-1, 1, (3, 3)), rng.uniform(-1, 1, (out, 4))]
    x = np.array([0.4, -0.9])
    a = forward(thetas, acts, x)
    expect = "".join(f'[[expect]]\nquantity = "{q}{l}"\nvalue = {list(map(float, v))}\ntolerance = 1e-12\n'
                     for q, l, v in (("a", 2, a[2]), ("z", 3, a[3]), ("a", 3, a[4])))
    t = np.full(out, 1.0 / out)
    path = write(tmp_path, scenario_text([2, 3, out], acts, "half_sse", x, t, thetas, extra=expect))
    assert run_cli(capsys, "check", path)[0] == 0


@pytest.mark.parametrize("formula, f", [
    ("exp(x)", np.exp), ("log(1 + exp(x))", lambda x: np.log(1 + np.exp(x))),
    ("sqrt(x**2 + 1)", lambda x: np.sqrt(x**2 + 1)),
    ("abs(x)", np.abs), ("sin(x)", np.sin), ("cos(x)", np.cos), ("tanh(x)", np.tanh),
    ("Max(x, 0.1*x)", lambda x: np.maximum(x, 0.1 * x)), ("Min(x, 1)", lambda x: np.minimum(x, 1.0)),
    ("(x - 1) / 2 * x ** 2", lambda x: (x - 1) / 2 * x ** 2),
])
def test_activations_expr_takes_x_numbers_operators_and_the_fixed_functions(capsys, tmp_path, formula, f):
    thetas = [np.array([[0.1, 0.7, -0.4], [-0.3, 0.2, 0.5]]), np.array([[0.2, 0.3, -0.6]])]
    x = np.array([0.8, -0.35])
    z2 = thetas[0] @ np.concatenate([[1.0], x])
    extra = (f'[activations.mine]\nexpr = "{formula}"\n'
             f'[[expect]]\nquantity = "a2"\nvalue = {list(map(float, f(z2)))}\ntolerance = 1e-12\n')
    path = write(tmp_path, scenario_text([2, 2, 1], ["mine", "linear"], "sse", x, [0.3], thetas, extra=extra))
    code, out, err = run_cli(capsys, "check", path)
    assert code == 0, err + out


@pytest.mark.parametrize("formula", ["asin(x)", "sinh(x)", "floor(x)", "exp(y)", "x if x > 0 else 0", "erf(x)"])
def test_activations_expr_refuses_anything_else_in_one_line(capsys, tmp_path, formula):
    thetas = [np.array([[0.1, 0.7, -0.4]]), np.array([[0.2, 0.3]])]
    path = write(tmp_path, scenario_text([2, 1, 1], ["mine", "linear"], "sse", [0.8, -0.3], [0.3], thetas,
                                         extra=f'[activations.mine]\nexpr = "{formula}"\n'))
    code, out, err = run_cli(capsys, "check", path)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"{path}:") and "activations.mine.expr: " in err and "expected" in err


# ----------------------------------------------------------------------------------------------- Losses

LOSS_CASES = {  # (output activation, targets)
    "sse": ("sigmoid", T2),
    "half_sse": ("sigmoid", T2),
    "mse": ("tanh", T2),
    "cross_entropy": ("softmax", np.array([[1.0, 0.0], [0.3, 0.7]])),
    "binary_cross_entropy": ("sigmoid", np.array([[1.0, 0.0], [0.25, 0.6]])),
}


@pytest.mark.parametrize("loss", list(LOSS_CASES))
def test_losses_per_example_and_over_a_batch_and_the_update_is_plain_descent(capsys, tmp_path, loss):
    out_act, t = LOSS_CASES[loss]
    acts, lr = ["sigmoid", out_act], 0.5
    path = write(tmp_path, scenario_text([2, 2, 2], acts, loss, X2, t, BLOG_THETAS, lr, "epochs = 2"))
    s = load(path)
    doc, _ = export_json(capsys, path)
    thetas = [w.copy() for w in BLOG_THETAS]
    for epoch in doc["epochs"]:
        assert close(epoch["loss"], batch_loss(thetas, acts, loss, X2, t)), (loss, epoch["epoch"])
        (step,) = epoch["steps"]
        assert close(step["loss"], epoch["loss"], 0, 0)
        for row, x in zip(step["outputs"], X2, strict=True):
            assert np.allclose(row, forward(thetas, acts, x)[-1], rtol=1e-13, atol=0)
        assert epoch["params_before"] == by_name(s, thetas)
        gradient = central_gradient(thetas, lambda w: batch_loss(w, acts, loss, X2, t))
        numeric = by_name(s, gradient)
        for name, g in step["gradients"].items():
            assert math.isclose(g, numeric[name], rel_tol=1e-6, abs_tol=1e-9), (loss, name)
        for name, p in step["params_after"].items():  # p ← p − learning_rate · ∂E/∂p, to the bit
            assert p == epoch["params_before"][name] - lr * step["gradients"][name]
        descended = by_name(s, [w - lr * g for w, g in zip(thetas, gradient, strict=True)])
        assert epoch["params_after"] == pytest.approx(descended, rel=1e-7, abs=1e-9)
        thetas = _matrices(s, epoch["params_after"])


def test_losses_an_online_update_uses_the_gradient_of_one_examples_loss(capsys, tmp_path):
    acts, lr = ["sigmoid", "sigmoid"], 0.5
    path = write(tmp_path, scenario_text([2, 2, 2], acts, "mse", X2, T2, BLOG_THETAS, lr, 'update = "online"'))
    s = load(path)
    doc, _ = export_json(capsys, path)
    (epoch,) = doc["epochs"]
    assert [st["example"] for st in epoch["steps"]] == [1, 2]  # one update per example, in order
    before = by_name(s, BLOG_THETAS)
    assert epoch["params_before"] == before
    thetas = [w.copy() for w in BLOG_THETAS]
    for k, step in enumerate(epoch["steps"]):
        one = lambda w, k=k: batch_loss(w, acts, "mse", X2[k:k + 1], T2[k:k + 1])  # noqa: E731
        assert close(step["loss"], one(thetas))
        assert len(step["outputs"]) == 1 and np.allclose(step["outputs"][0], forward(thetas, acts, X2[k])[-1],
                                                         rtol=1e-13, atol=0)
        numeric = by_name(s, central_gradient(thetas, one))
        for name, g in step["gradients"].items():
            assert math.isclose(g, numeric[name], rel_tol=1e-6, abs_tol=1e-9), name
            assert step["params_after"][name] == before[name] - lr * g
        before = step["params_after"]
        thetas = _matrices(s, before)
    # the epoch's loss is the loss before its first update, over every example (mean for mse)
    assert close(epoch["loss"], batch_loss(BLOG_THETAS, acts, "mse", X2, T2))


# ------------------------------------------------------------------------------------- Parameter names

def test_parameter_names_of_the_2_2_2_network_are_the_blogs():
    s = load(BLOG)
    spec = {"w1": "theta1[1,1]", "w2": "theta1[1,2]", "w3": "theta1[2,1]", "w4": "theta1[2,2]",
            "w5": "theta2[1,1]", "w6": "theta2[1,2]", "w7": "theta2[2,1]", "w8": "theta2[2,2]",
            "b1": "theta1[1,0]", "b2": "theta1[2,0]", "b3": "theta2[1,0]", "b4": "theta2[2,0]"}
    assert s.params.shorts == list(spec)  # weights w1, w2, … then biases b1, b2, …
    for short, canonical in spec.items():
        assert s.params.find(short).canonical == canonical
        assert s.params.find(canonical).short == short
    # the values the blog gives them: theta1 = [[b1 w1 w2], [b2 w3 w4]]
    assert [s.param_value(s.params.find(n)) for n in ("b1", "w1", "w2", "b2", "w3", "w4")] == \
        [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]


def test_parameter_names_both_forms_are_accepted_everywhere(capsys, tmp_path, monkeypatch):
    # frozen
    text = BLOG.read_text()
    short = loads(text.replace('update = "batch"', 'update = "batch"\nfrozen = ["b1", "w5"]'))
    canonical = loads(text.replace('update = "batch"', 'update = "batch"\nfrozen = ["theta1[1,0]", "theta2[1,1]"]'))
    assert short.frozen == canonical.frozen == {"theta1[1,0]", "theta2[1,1]"}
    # export --weight
    assert run_cli(capsys, "export", BLOG, "--weight", "theta2[1,1]")[1] == run_cli(capsys, "export", BLOG,
                                                                                    "--weight", "w5")[1]
    # run --break and --set
    a = run_cli(capsys, "run", BLOG, "--epochs", "100", "--set", "theta2[1,2]=0.7", "--break", "theta2[1,1]<0.39")
    b = run_cli(capsys, "run", BLOG, "--epochs", "100", "--set", "w6=0.7", "--break", "w5<0.39")
    assert a[0] == b[0] == 3 and a[1].splitlines()[2:] == b[1].splitlines()[2:]
    # practice --param
    monkeypatch.setattr("sys.stdin", io.StringIO("q\n"))
    assert run_cli(capsys, "practice", BLOG, "--param", "theta2[1,1]")[0] == 0
    # [[expect]] quantities
    s = load(BLOG)
    forms = loads(text.split("\n[[expect]]")[0] + "\n" + "".join(
        f'[[expect]]\nquantity = "{q}"\nvalue = 0.0\n'
        for q in ("grad.w5", "grad.theta2[1,1]", "w5", "theta2[1,1]", "w5.after", "theta2[1,1].after")))
    params = [e.param for e in forms.expectations]
    assert all(p == s.params.find("w5") for p in params)
    assert [e.kind for e in forms.expectations] == ["grad", "grad", "param", "param", "param_after", "param_after"]


# ------------------------------------------------------------------------------------------ Expectations

def _toml(v) -> str:
    return json.dumps(list(map(float, v)) if isinstance(v, list) else float(v))


def _blog_reference():
    a = forward(BLOG_THETAS, ["sigmoid", "sigmoid"], [0.85, 0.25])
    t = np.array([0.6905, 0.8657])
    loss = lambda w: batch_loss(w, ["sigmoid", "sigmoid"], "half_sse", [[0.85, 0.25]], [t])  # noqa: E731
    grads = central_gradient(BLOG_THETAS, loss)
    return a, t, loss(BLOG_THETAS), grads


def test_expectations_quantities_mean_what_the_contract_says(capsys, tmp_path):
    a, t, loss, grads = _blog_reference()
    w5, g5 = BLOG_THETAS[1][0, 1], grads[1][0, 1]
    figures = [("a1", list(a[0]), 1e-15), ("z2", list(a[1]), 1e-12), ("a2", list(a[2]), 1e-12),
               ("z3", list(a[3]), 1e-12), ("a3", list(a[4]), 1e-12),
               ("error", list(0.5 * (t - a[4]) ** 2), 1e-12), ("loss", loss, 1e-12),
               ("grad.w5", g5, 1e-8), ("w5", w5, 0.0), ("w5.after", w5 - 0.1 * g5, 1e-9)]
    text = BLOG.read_text().split("\n[[expect]]")[0] + "\n" + "".join(
        f'[[expect]]\nquantity = "{q}"\nvalue = {_toml(v)}\ntolerance = {tol!r}\n' for q, v, tol in figures)
    path = write(tmp_path, text)
    code, out, _ = run_cli(capsys, "check", path)
    assert code == 0, out
    assert out.count("holds  ") == len(figures)


def test_expectations_defaults_epoch_1_example_1_tolerance_0_0005(capsys, tmp_path):
    x, t = X2, T2
    thetas = BLOG_THETAS
    a3 = forward(thetas, ["sigmoid", "sigmoid"], x[0])[-1]
    base = scenario_text([2, 2, 2], ["sigmoid", "sigmoid"], "sse", x, t, thetas, 0.1, 'epochs = 3\nupdate = "online"')
    s = loads(base + '[[expect]]\nquantity = "a3"\nvalue = [0.5, 0.5]\n')
    e = s.expectations[0]
    assert (e.epoch, e.example, e.tolerance) == (1, 1, 0.0005)
    for offset, code in ((0.00049, 0), (-0.00049, 0), (0.00051, 1), (-0.00051, 1)):  # absolute tolerance
        path = write(tmp_path, base + f'[[expect]]\nquantity = "a3"\nvalue = {list(map(float, a3 + offset))}\n')
        assert run_cli(capsys, "check", path)[0] == code, offset


def test_expectations_are_listed_in_transcripts_with_printed_and_computed(capsys):
    s = load(BLOG)
    for fmt in ("md", "tex", "txt"):
        code, out, _ = run_cli(capsys, "export", BLOG, "--format", fmt)
        assert code == 0
        for e in s.expectations:
            assert e.source is None or e.source.split(":")[0] in out, (fmt, e.quantity)
        assert "0.345" in out and "1.02" in out  # z2: computed and printed
    doc, _ = export_json(capsys, BLOG)
    assert [x["quantity"] for x in doc["expectations"]] == [e.quantity for e in s.expectations]  # file order
    a, *_ = _blog_reference()
    z2 = doc["expectations"][0]
    assert z2["printed"] == [1.02, 0.975] and z2["holds"] is False
    assert np.allclose(z2["computed"], a[1], rtol=1e-15, atol=0)
    loss = next(x for x in doc["expectations"] if x["quantity"] == "loss")
    assert loss["printed"] == 0.009895  # a number written as a number, a list as a list


# ---------------------------------------------------------------------------------------------- Errors

def test_errors_a_value_nested_100000_deep_is_one_line_in_bounded_work(capsys, tmp_path):
    for text in ("title = " + "[" * 100_000 + "]" * 100_000 + "\n", "x = " + "{a = " * 100_000 + "1" + "}" * 100_000):
        path = write(tmp_path, text)
        code, out, err = run_cli(capsys, "check", path)
        assert (code, out) == (2, "") and err == (f"{path}:1: toml: values nested too deeply (arrays or tables more "
                                                  "than 32 levels inside one another), expected at most 32\n")
        # the line is found without walking all 100,000 levels (each holds its key path: quadratic memory)
        assert toml_locator.TomlLocator(text).max_depth <= 100


@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
def test_errors_a_data_or_weights_file_that_is_not_a_regular_file_is_one_line(tmp_path, kind):
    name = {"fifo": "d.csv", "device": "d.csv", "directory": "d.csv"}[kind]
    target = tmp_path / name
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "device":
        target.symlink_to("/dev/zero")
    else:
        target.mkdir()
    text = BLOG.read_text().split("[data]")[0] + ('[data]\nfile = "d.csv"\ninputs = ["x1", "x2"]\n'
                                                   'targets = ["t1", "t2"]\n[weights]\ninit = "uniform"\n')
    path = write(tmp_path, text)
    weights = write(tmp_path, BLOG.read_text().split("[weights]")[0].replace("[[expect]]", "#") +
                    '[weights]\nfile = "w.npz"\n', "w.toml")
    (tmp_path / "w.npz").symlink_to(target)
    for scenario, key in ((path, "data.file"), (weights, "weights.file")):
        run = subprocess.run([sys.executable, "-m", "bpdebug", "check", str(scenario)], capture_output=True, text=True,
                             timeout=120, cwd=ROOT)  # a FIFO must never be waited on: the timeout would fail it
        assert run.returncode == 2 and run.stdout == "" and run.stderr.count("\n") == 1, run.stderr
        assert f": {key}: " in run.stderr and "expected" in run.stderr and "Traceback" not in run.stderr


# ---------------------------------------------------------------------------------------- Command line

def test_command_line_no_argument_opens_the_bundled_blog(monkeypatch):
    opened = []

    class App:
        return_code = 0

        def run(self):
            opened.append("ran")

    def make_app(path, scenario):
        opened.append((path, scenario.title))
        return App()

    monkeypatch.setattr("bpdebug.tui.app.make_app", make_app)
    assert cli.main([]) == 0
    assert opened == [(str(cli.bundled_blog()), load(BLOG).title), "ran"]


def test_command_line_export_is_markdown_on_standard_output_by_default(capsys, tmp_path):
    code, default, _ = run_cli(capsys, "export", BLOG)
    assert code == 0 and default == run_cli(capsys, "export", BLOG, "--format", "md")[1]
    assert default.startswith("# ") and "$$" in default  # Markdown with math
    out = tmp_path / "t.md"
    assert run_cli(capsys, "export", BLOG, "-o", out)[0] == 0
    assert out.read_text() == default


def test_command_line_export_epochs_and_weight_names(capsys):
    doc, _ = export_json(capsys, BLOG, "--epochs", "3")
    assert [e["epoch"] for e in doc["epochs"]] == [1, 2, 3]
    # --weight NAME ...: several names after one flag, or the flag again; default every parameter
    one_flag = run_cli(capsys, "export", BLOG, "--format", "txt", "--weight", "w1", "w5")
    two_flags = run_cli(capsys, "export", BLOG, "--format", "txt", "--weight", "w1", "--weight", "w5")
    before = run_cli(capsys, "export", "--weight", "w1", "w5", BLOG, "--format", "txt")
    assert one_flag[0] == 0 and one_flag[1] == two_flags[1] == before[1]
    every = run_cli(capsys, "export", BLOG, "--format", "txt")[1]
    assert every == run_cli(capsys, "export", BLOG, "--format", "txt", "--weight", *load(BLOG).params.shorts)[1]
    assert len(every) > len(one_flag[1])


def test_command_line_check_exit_status_0_1_2(capsys, tmp_path):
    assert run_cli(capsys, "check", ROOT / "scenarios" / "mazur.toml")[0] == 0
    assert run_cli(capsys, "check", BLOG)[0] == 1
    assert run_cli(capsys, "check", write(tmp_path, "[network]\n"))[0] == 2
    # no expectation, but the run stops being finite within its epochs: 1
    text = scenario_text([2, 2, 2], ["sigmoid", "softmax"], "cross_entropy", X2, [[1.0, 0.0], [0.0, 1.0]],
                         BLOG_THETAS, 1e6, "epochs = 5")
    code, out, _ = run_cli(capsys, "check", write(tmp_path, text, "nan.toml"))
    assert code == 1 and "diverge" in out


def test_command_line_check_prints_shape_parameters_starting_loss_and_expectations(capsys):
    code, out, _ = run_cli(capsys, "check", ROOT / "scenarios" / "mazur.toml")
    s = load(ROOT / "scenarios" / "mazur.toml")
    assert code == 0 and "2-2-2" in out and ", ".join(s.params.shorts) in out
    start = batch_loss(list(s.weights), list(s.activation_names), s.loss.name, s.inputs, s.targets)
    assert f"starting loss {start:.10g}" in out
    assert out.count("holds  ") == len(s.expectations)


# -------------------------------------------------------------------------------------- JSON transcript

def test_json_transcript_numbers_are_an_independent_runs_at_full_precision(capsys, tmp_path):
    acts, lr = ["tanh", "sigmoid"], 0.7
    path = write(tmp_path, scenario_text([2, 2, 2], acts, "half_sse", X2, T2, BLOG_THETAS, lr, "epochs = 3"))
    s = load(path)
    doc, text = export_json(capsys, path)
    assert doc["format"] == "bpdebug-transcript/1" and doc["scenario"]["path"] == str(path)
    assert doc["parameters"] == ["w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8", "b1", "b2", "b3", "b4"]
    thetas = [w.copy() for w in BLOG_THETAS]
    for epoch in doc["epochs"]:
        f = lambda w: batch_loss(w, acts, "half_sse", X2, T2)  # noqa: E731
        # 1e-13: a figure rounded to 12 significant digits, as text would show it, fails
        assert math.isclose(epoch["loss"], f(thetas), rel_tol=1e-13)
        g = central_gradient(thetas, f)
        thetas = [w - lr * gw for w, gw in zip(thetas, g, strict=True)]
        for name, value in by_name(s, thetas).items():
            assert math.isclose(epoch["params_after"][name], value, rel_tol=1e-8, abs_tol=1e-10)
        thetas = _matrices(s, epoch["params_after"])
    # final: the loss and outputs with the parameters after the last epoch
    assert math.isclose(doc["final"]["loss"], batch_loss(thetas, acts, "half_sse", X2, T2), rel_tol=1e-13)
    for row, x in zip(doc["final"]["outputs"], X2, strict=True):
        assert np.allclose(row, forward(thetas, acts, x)[-1], rtol=1e-14, atol=0)
    # repr: every float is written as Python writes its shortest exact form
    for epoch in doc["epochs"]:
        assert f'"loss": {epoch["loss"]!r}' in text


def _matrices(s, values: dict[str, float]) -> list[np.ndarray]:
    out = [np.zeros_like(w) for w in s.weights]
    for p in s.params:
        out[p.layer - 1][p.row, p.col] = values[p.short]
    return out


def test_json_transcript_non_finite_numbers_are_null_and_diverged_says_where(capsys, tmp_path):
    doc, _ = export_json(capsys, BLOG)
    assert doc["diverged"] is None
    text = scenario_text([2, 2, 2], ["sigmoid", "softmax"], "cross_entropy", X2, [[1.0, 0.0], [0.0, 1.0]],
                         BLOG_THETAS, 1e6, "epochs = 5")
    doc, out = export_json(capsys, write(tmp_path, text))
    assert "NaN" not in out and "Infinity" not in out
    assert doc["diverged"] is not None and doc["diverged"]["epoch"] >= 1
    assert any(v is None for e in doc["epochs"] for v in e["params_after"].values()) or doc["final"]["loss"] is None


# ---------------------------------------------------------------------------------- Version 2: Training

def test_training_v2_defaults_are_the_contracts():
    s = load(BLOG)
    assert s.plan.optimizer.name == "sgd" and s.plan.batch_size is None and s.plan.shuffle is False and s.plan.seed == 0
    # each optimizer's own defaults (SCENARIO-FORMAT version 2's, torch.optim's)
    h = {name: optimizers.get(name).hyperparameters_with(0.1) for name in ("momentum", "adam", "rmsprop", "sgd")}
    assert (h["momentum"].momentum, h["adam"].beta1, h["adam"].beta2, h["adam"].epsilon, h["rmsprop"].alpha,
            h["rmsprop"].epsilon, h["sgd"].weight_decay) == (0.9, 0.9, 0.999, 1e-8, 0.99, 1e-8, 0.0)


def test_training_batch_size_1_is_online_and_update_may_agree_with_it(capsys, tmp_path):
    base = scenario_text([2, 2, 2], ["sigmoid", "sigmoid"], "sse", X2, T2, BLOG_THETAS, 0.5, "epochs = 2\nKEYS")
    docs = [export_json(capsys, write(tmp_path, base.replace("KEYS", keys), f"{i}.toml"))[0]
            for i, keys in enumerate(['update = "online"', "batch_size = 1", 'update = "online"\nbatch_size = 1'])]
    assert docs[0]["epochs"] == docs[1]["epochs"] == docs[2]["epochs"]
    batch = [export_json(capsys, write(tmp_path, base.replace("KEYS", keys), f"b{i}.toml"))[0]
             for i, keys in enumerate(["", 'update = "batch"', "batch_size = 2", 'update = "batch"\nbatch_size = 5'])]
    assert all(d["epochs"] == batch[0]["epochs"] for d in batch)
    with pytest.raises(ScenarioError, match="update and batch_size both"):
        loads(base.replace("KEYS", 'update = "batch"\nbatch_size = 1'))


def test_training_the_last_mini_batch_may_be_smaller_and_uses_the_losss_reduction(capsys, tmp_path):
    x = np.vstack([X2, [[0.5, -0.5]]])
    t = np.vstack([T2, [[0.9, 0.4]]])
    acts = ["sigmoid", "sigmoid"]
    for loss in ("mse", "sse"):
        path = write(tmp_path, scenario_text([2, 2, 2], acts, loss, x, t, BLOG_THETAS, 0.5, "batch_size = 2"))
        s = load(path)
        doc, _ = export_json(capsys, path)
        first, last = doc["epochs"][0]["steps"]
        assert close(first["loss"], batch_loss(BLOG_THETAS, acts, loss, x[:2], t[:2]))
        after = _matrices(s, first["params_after"])
        assert close(last["loss"], batch_loss(after, acts, loss, x[2:], t[2:]))  # one example: its mean is itself
        numeric = by_name(s, central_gradient(after, lambda w, loss=loss: batch_loss(w, acts, loss, x[2:], t[2:])))
        assert all(math.isclose(g, numeric[n], rel_tol=1e-6, abs_tol=1e-9) for n, g in last["gradients"].items())


def test_training_shuffle_reshuffles_each_epoch_from_the_seed(capsys, tmp_path):
    x = np.linspace(-1, 1, 12).reshape(6, 2)
    t = np.linspace(0.1, 0.9, 12).reshape(6, 2)
    orders = {}
    for seed in (0, 0, 7):
        keys = f"epochs = 4\nbatch_size = 2\nshuffle = true\nseed = {seed}"
        path = write(tmp_path, scenario_text([2, 2, 2], ["sigmoid"] * 2, "sse", x, t, BLOG_THETAS, 0.1, keys),
                     f"{seed}.toml")
        doc, _ = export_json(capsys, path)
        epochs = [tuple(i for st in e["steps"] for i in st["examples"]) for e in doc["epochs"]]
        assert all(sorted(order) == [1, 2, 3, 4, 5, 6] for order in epochs)
        assert len(set(epochs)) > 1  # reshuffled each epoch
        orders.setdefault(seed, []).append(epochs)
    assert orders[0][0] == orders[0][1] and orders[7][0] != orders[0][0]


# ----------------------------------------------------------------------------- Version 2: Command line

CONDITIONS = [example for kind in conditions.KINDS.values() for example in kind.examples]  # every kind's examples


@pytest.mark.parametrize("condition", CONDITIONS)
def test_command_line_run_accepts_every_condition_the_contract_lists(capsys, condition):
    code, out, err = run_cli(capsys, "run", BLOG, "--epochs", "3", "--break", condition)
    assert code in (0, 3) and err == "", err
    first = out.splitlines()[0]
    assert first.startswith("ran to the end" if code == 0 else "stopped at epoch")


def test_command_line_run_goes_the_scenarios_epochs_and_exits_0_3_2(capsys, tmp_path):
    path = write(tmp_path, BLOG.read_text().replace("epochs = 1", "epochs = 7"))
    code, out, _ = run_cli(capsys, "run", path, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["epochs"] == 7 and doc["state"]["epoch"] == 7
    final = json.loads(run_cli(capsys, "export", path, "--format", "json")[1])["final"]["loss"]
    assert doc["state"]["loss"] == final
    assert run_cli(capsys, "run", path, "--break", "step=z3")[0] == 3
    code, out, err = run_cli(capsys, "run", path, "--break", "never")
    assert code == 2 and out == "" and err.count("\n") == 1
    code, out, err = run_cli(capsys, "run", write(tmp_path, "title = 1\n", "bad.toml"))
    assert code == 2 and out == "" and err.count("\n") == 1
    # --break COND ... and --set NAME=VALUE ...: several after one flag
    a = run_cli(capsys, "run", path, "--break", "w5<0.39", "loss-up", "--set", "w5=0.5", "w6=0.1")
    b = run_cli(capsys, "run", path, "--break", "w5<0.39", "--break", "loss-up", "--set", "w5=0.5", "--set", "w6=0.1")
    assert a == b


def test_command_line_optimizer_state_names_are_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    for name in ("m.NAME", "v.NAME", "mhat.NAME", "vhat.NAME"):
        assert name in readme or name.replace(".NAME", ".w5") in readme, name


def test_command_line_check_json_with_gradcheck_is_still_one_object(capsys):
    code, out, _ = run_cli(capsys, "check", BLOG, "--json", "--gradcheck")
    doc = json.loads(out, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
    assert code == 0  # the gradient check's status, as with --gradcheck alone
    assert len(doc["expectations"]) == len(load(BLOG).expectations) and "diverged" in doc
    *_, grads = _blog_reference()
    s = load(BLOG)
    numeric = by_name(s, grads)
    checks = {c["parameter"]: c for c in doc["gradcheck"]["checks"]}
    assert list(checks) == s.params.shorts and doc["gradcheck"]["passes"] is True
    for name, c in checks.items():
        assert math.isclose(c["analytic"], numeric[name], rel_tol=1e-6, abs_tol=1e-10) and c["verdict"] == "agrees"


def test_parameter_names_both_forms_are_accepted_in_the_app():
    from bpdebug.tui.session import Session

    results = []
    for w5, w6 in (("w5", "w6"), ("theta2[1,1]", "theta2[1,2]")):
        s = Session(BLOG)
        s.select(w5)
        assert s.selected.canonical == "theta2[1,1]" and not s.select("w99").moved
        assert s.toggle_watch(w6).moved and [w.name for w in s.watches]
        assert s.add_condition(f"{w5}<0.39").moved and not s.add_condition("w99<0.39").moved
        assert s.fork(f"{w6}=0.7").moved
        results.append((s.selected.canonical, s.scenario.param_value(s.scenario.params.find("w6")),
                        len(s.watches)))
    assert results[0] == results[1] == ("theta2[1,1]", 0.7, 1)


def test_command_line_export_an_unknown_format_names_the_contracts_formats(capsys):
    code, out, err = run_cli(capsys, "export", BLOG, "--format", "pdf")
    assert (code, out) == (2, "") and err.count("\n") == 1
    named = err.split("expected one of ")[1].strip().split(", ")
    assert {"md", "tex", "txt", "json", "npz", "safetensors"} <= set(named)
    for fmt in ("md", "tex", "txt", "json"):  # each one it names (but the binary and drawn ones) is written
        assert run_cli(capsys, "export", BLOG, "--format", fmt)[0] == 0


def test_training_weight_decay_reaches_every_parameter_but_the_frozen_biases_included(capsys, tmp_path):
    acts, lr, decay = ["sigmoid", "sigmoid"], 0.5, 0.1
    path = write(tmp_path, scenario_text([2, 2, 2], acts, "half_sse", X2, T2, BLOG_THETAS, lr,
                                         f'weight_decay = {decay}\nfrozen = ["w1", "b3"]'))
    s = load(path)
    doc, _ = export_json(capsys, path)
    (step,) = doc["epochs"][0]["steps"]
    before = by_name(s, BLOG_THETAS)
    numeric = by_name(s, central_gradient(BLOG_THETAS, lambda w: batch_loss(w, acts, "half_sse", X2, T2)))
    for name, p in step["params_after"].items():
        if name in ("w1", "b3"):
            assert p == before[name]  # frozen: never changes, whatever the decay
        else:  # g ← g + λp, then p ← p − η g: biases too
            assert math.isclose(p, before[name] - lr * (numeric[name] + decay * before[name]), rel_tol=1e-9,
                                abs_tol=1e-10), name


def test_command_line_the_readme_names_every_key_of_run_json_and_the_json_transcript(capsys):
    readme = (ROOT / "README.md").read_text()
    code, out, _ = run_cli(capsys, "run", BLOG, "--epochs", "50", "--break", "w5<0.39", "--set", "w6=0.3", "--json")
    doc = json.loads(out)
    keys = set(doc) | set(doc["stop"]) | set(doc["state"]) | set(doc["edits"][0])
    doc, _ = export_json(capsys, ROOT / "scenarios" / "iris.toml", "--epochs", "1")
    keys |= set(doc) | set(doc["epochs"][0]) | set(doc["epochs"][0]["steps"][0]) | set(doc["expectations"][0])
    assert not {k for k in keys if f"`{k}`" not in readme}
