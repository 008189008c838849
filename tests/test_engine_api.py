"""The engine's public API for long runs and runs that go wrong: typed quantities, Trace.divergence,
Trace.advance, bounded memory, and Trace.check without side effects."""

from __future__ import annotations

import json
import math
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpdebug.core.engine import Divergence, Quantity, Trace
from bpdebug.core.quantity import Kind, Phase, StepKind, When
from bpdebug.core.scenario import load, loads
from bpdebug.core.storage import Checkpoints, LossHistory, weights_bytes

SCENARIOS = Path(__file__).resolve().parent.parent / "bpdebug" / "scenarios"


def softmax_text(lr: str = "1e6") -> str:
    text = (SCENARIOS / "softmax.toml").read_text()
    assert "learning_rate = 0.5" in text
    return text.replace("learning_rate = 0.5", f"learning_rate = {lr}")


def diverging_softmax_text() -> str:
    from _diverging import diverging_softmax_text as text

    return text()


# ------------------------------------------------------------------------------------------ quantities

@pytest.mark.parametrize("name, kind, layer, param, when", [
    ("z2", Kind.Z, 2, None, When.BEFORE),
    ("a1", Kind.A, 1, None, When.BEFORE),
    ("delta3", Kind.DELTA, 3, None, When.BEFORE),
    ("grad.theta1", Kind.GRAD, 1, None, When.BEFORE),
    ("theta2", Kind.THETA, 2, None, When.BEFORE),
    ("theta2.after", Kind.THETA, 2, None, When.AFTER),
    ("grad.theta1[2,0]", Kind.GRAD, 1, (2, 0), When.BEFORE),
    ("loss", Kind.LOSS, None, None, When.BEFORE),
    ("dE_dout", Kind.DE_DOUT, None, None, When.BEFORE),
])
def test_quantity_names_parse_once_and_print_back(name, kind, layer, param, when):
    q = Quantity.parse(name)
    assert (q.kind, q.layer, q.param, q.when) == (kind, layer, param, when)
    assert str(q) == name
    assert Quantity.parse(q) is q


@pytest.mark.parametrize("bad", ["z", "theta", "grad.theta1.after", "w5", "delta2x", ""])
def test_unknown_quantity_names_are_refused(bad):
    with pytest.raises(ValueError, match="unknown quantity"):
        Quantity.parse(bad)


def test_step_value_takes_a_quantity_or_its_name_and_an_entry_is_the_parameter():
    s = load(SCENARIOS / "blog.toml")
    trace = Trace(s)
    step = trace[trace.first_step_of(1, kind="update")]
    for name in ("z2", "a3", "delta3", "grad.theta1", "theta2.after", "error", "loss", "dE_dout"):
        by_name, by_quantity = step.value(name), step.value(Quantity.parse(name))
        assert np.array_equal(by_name, by_quantity)
    for p in s.params:  # an entry theta_l[i,j] is the parameter of that canonical name
        assert step.value(f"grad.{p.canonical}") == step.gradient(p)
        assert step.value(f"{p.canonical.split('[')[0]}.after[{p.canonical.split('[')[1]}") == step.param(p, "after")
    assert step.phase == "update" and step.phase is Phase.UPDATE and step.kind is StepKind.UPDATE
    first = trace[0]
    assert not first.is_known("grad.theta1") and not first.is_known("nonsense")
    with pytest.raises(KeyError):
        first.value(Quantity.parse("grad.theta1"))


# --------------------------------------------------------------------------------------------- check

def test_check_has_no_side_effect_on_the_trace():
    s = load(SCENARIOS / "xor.toml")
    late = max(s.expectations, key=lambda e: e.epoch)
    assert late.epoch > 1
    trace = Trace(s, epochs=1)
    n = len(trace)
    results = trace.check_all()
    assert len(trace) == n and trace.epochs == 1  # checking epoch 2000 does not lengthen the walk
    assert [r.computed for r in results] == [r.computed for r in Trace(s).check_all()]


# ---------------------------------------------------------------------------------------- divergence

def test_softmax_with_a_huge_rate_diverges_where_a_plain_loop_says():
    s = loads(diverging_softmax_text(), "<sm>")
    trace = Trace(s)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning may escape the engine
        d = trace.divergence()
    assert isinstance(d, Divergence)
    # independent: train by hand, epoch by epoch, look at the loss terms
    w1, w2 = (np.array(w) for w in s.weights)
    x, t = s.inputs, s.targets
    epoch = 0
    with np.errstate(all="ignore"):
        while epoch < s.epochs:
            epoch += 1
            h = 1 / (1 + np.exp(-(x @ w1[:, 1:].T + w1[:, 0])))
            zo = h @ w2[:, 1:].T + w2[:, 0]
            assert np.isfinite(zo).all() and np.isfinite(h).all()
            e = np.exp(zo - zo.max(axis=1, keepdims=True))
            o = e / e.sum(axis=1, keepdims=True)
            terms = np.where(t > 0, -t * np.log(np.where(t > 0, o, 1.0)), 0.0)  # 0·log 0 = 0
            if not np.isfinite(terms).all():
                break
            d_out = o - t
            g2 = np.hstack([d_out.sum(0)[:, None], d_out.T @ h]) / len(x)
            d_h = (d_out @ w2[:, 1:]) * h * (1 - h)
            g1 = np.hstack([d_h.sum(0)[:, None], d_h.T @ x]) / len(x)
            w1, w2 = w1 - s.learning_rate * g1, w2 - s.learning_rate * g2
    row, col = np.argwhere(~np.isfinite(terms))[0]
    assert d.epoch == epoch and d.quantity == "error" and d.unit == f"o{col + 1}"
    assert d.step == trace.first_step_of(epoch, kind="error")
    assert d.cause == "log of 0"
    assert terms[row, col] == np.inf  # −t·log 0 with t > 0
    assert d.describe() == f"epoch {epoch}, step error: E_o{col + 1} = inf (log of 0)"
    assert trace.divergence(epoch - 1) is None
    as_json = json.loads(json.dumps(d.as_dict(), allow_nan=False))
    assert as_json["epoch"] == epoch and as_json["message"] == d.describe()


def test_zero_log_zero_is_zero_so_a_huge_rate_that_only_underflows_wrong_classes_does_not_diverge():
    """At a rate of 10^6 the softmax run's wrong classes underflow to exactly 0 while their targets are 0:
    −0·log 0 is 0 (every textbook's convention), so the run stays finite; a plain loop agrees."""
    s = loads(softmax_text(), "<sm>")
    trace = Trace(s)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert trace.divergence() is None
    w1, w2 = (np.array(w) for w in s.weights)
    x, t = s.inputs, s.targets
    underflowed = False
    with np.errstate(all="ignore"):
        for epoch in range(1, s.epochs + 1):
            h = np.tanh(x @ w1[:, 1:].T + w1[:, 0])
            zo = h @ w2[:, 1:].T + w2[:, 0]
            e = np.exp(zo - zo.max(axis=1, keepdims=True))
            o = e / e.sum(axis=1, keepdims=True)
            underflowed |= bool(((o == 0) & (t == 0)).any())
            assert (o[t > 0] > 0).all()  # no example's own class underflows: nothing really diverges
            loss = float(np.mean([-math.log(o[i, k]) for i in range(len(x)) for k in range(3) if t[i, k] > 0]))
            assert trace.loss(epoch) == pytest.approx(loss, rel=1e-9, abs=1e-300)
            d_out = o - t
            g2 = np.hstack([d_out.sum(0)[:, None], d_out.T @ h]) / len(x)
            d_h = (d_out @ w2[:, 1:]) * (1 - h * h)
            g1 = np.hstack([d_h.sum(0)[:, None], d_h.T @ x]) / len(x)
            w1, w2 = w1 - s.learning_rate * g1, w2 - s.learning_rate * g2
    assert underflowed  # the case the convention is for did occur


def test_a_finite_run_has_no_divergence():
    trace = Trace(load(SCENARIOS / "xor.toml"))
    assert trace.divergence() is None
    assert trace.divergence(3 * trace.epochs) is None


def test_overflow_in_a_custom_activation_names_exp():
    text = """
[network]
layers = [1, 1]
activation = "boom"
bias = false
[activations.boom]
expr = "exp(x)"
[loss]
function = "half_sse"
[training]
learning_rate = 0.1
epochs = 3
[data]
inputs = [[1.0]]
targets = [[0.0]]
[weights]
theta1 = [[800.0]]
"""
    d = Trace(loads(text, "<boom>")).divergence()
    assert d is not None
    assert (d.epoch, d.step, d.quantity, d.unit, d.cause) == (1, 1, "a2", "o1", "overflow in exp(x)")
    assert d.describe() == "epoch 1, step a2 (forward): out_o1 = inf (overflow in exp(x))"


# ----------------------------------------------------------------------------------------- long runs

def test_advance_reports_progress_and_stops_when_asked():
    trace = Trace(load(SCENARIOS / "xor.toml"))
    calls: list[tuple[int, int]] = []
    started = time.monotonic()
    reached = trace.advance(10**8, progress=lambda d, n: calls.append((d, n)),
                            should_stop=lambda: time.monotonic() - started > 0.5)
    assert 1 <= reached < 10**8
    assert trace.losses_computed == reached and trace.epochs >= reached
    assert calls and all(n == 10**8 for _, n in calls) and calls[-1][0] <= reached
    elapsed = time.monotonic() - started
    assert len(calls) <= elapsed * 20 + 2  # at most 20 a second, and the last
    # the losses are those of the stepped path, and a recent epoch is at hand
    assert trace.loss(reached) == Trace(load(SCENARIOS / "xor.toml")).epoch(reached).loss
    assert trace.advance(5) == 5  # already known: nothing to do


def test_checkpoints_stay_under_their_ceiling_and_recent_epochs_stay_dense():
    w = (np.zeros((4, 5)),)
    ceiling = 64 * 1024
    cp = Checkpoints(w, ceiling)
    for e in range(2, 100_000):
        cp.put(e, (np.full((4, 5), float(e)),))
    assert cp.nbytes() <= ceiling
    assert cp.spacing > 1
    for e in range(100_000 - cp.recent_size + 1, 100_000):  # the latest epochs are each stored
        assert cp.get(e) is not None and cp.get(e)[0][0, 0] == e
    epoch, weights = cp.nearest(50_001)
    assert 50_001 - cp.spacing < epoch <= 50_001 and weights[0][0, 0] == epoch


def test_loss_history_keeps_exact_values_and_a_bounded_summary():
    rng = np.random.default_rng(3)
    values = rng.normal(size=50_000)
    values[777] = np.nan
    h = LossHistory(exact=1000, buckets=64)
    for chunk in np.array_split(values, 37):
        h.append(chunk)
    assert h.count == 50_000
    assert np.array_equal(h.exact(1000), values[:1000], equal_nan=True)
    with pytest.raises(ValueError):
        h.exact(1001)
    s = h.summary()
    assert len(s.low) <= 64
    for k, (lo, hi) in enumerate(zip(s.low, s.high, strict=True)):
        part = values[k * s.width:(k + 1) * s.width]
        assert lo == np.nanmin(part) and hi == np.nanmax(part)
    assert s.width * len(s.low) >= 50_000 > s.width * (len(s.low) - 1)
    assert not math.isnan(float(s.low[777 // s.width]))


# ------------------------------------------------------------------------------------- command line

def test_check_reports_divergence_in_one_line_and_exits_1(tmp_path, capsys):
    from bpdebug import cli

    path = tmp_path / "sm.toml"
    path.write_text(diverging_softmax_text())
    assert cli.main(["check", str(path)]) == 1
    out, err = capsys.readouterr()
    assert err == ""  # no RuntimeWarning
    lines = [line for line in out.splitlines() if line.startswith("diverged:")]
    assert lines == ["diverged: " + Trace(load(path)).divergence().describe()]
    assert "log of 0" in lines[0]
    # a finite run with every expectation holding still exits 0
    assert cli.main(["check", str(SCENARIOS / "xor.toml")]) == 0
    assert "diverged" not in capsys.readouterr().out


def test_json_export_of_a_diverging_run_is_strict_json_saying_where(tmp_path, capsys):
    from bpdebug import cli

    path = tmp_path / "sm.toml"
    path.write_text(diverging_softmax_text())
    assert cli.main(["export", str(path), "--format", "json", "--epochs", "4"]) == 0
    out, err = capsys.readouterr()
    assert err == ""

    def refuse(constant):
        raise AssertionError(f"bare {constant}")

    doc = json.loads(out, parse_constant=refuse)
    d = Trace(load(path)).divergence()
    assert doc["diverged"] == d.as_dict()
    assert doc["epochs"][d.epoch]["loss"] is None  # the loss after the divergence is not a number


def test_json_export_is_streamed_and_documents_of_huge_runs_are_refused(capsys):
    import itertools

    from bpdebug import cli
    from bpdebug.transcript.json_format import chunks, document

    trace = Trace(load(SCENARIOS / "blog.toml"))
    first = list(itertools.islice(chunks(trace, 10**8), 8))  # 10^8 epochs: only what is asked is computed
    assert trace.losses_computed == 0 and trace.checkpoints.latest <= 8
    assert first[0] == "{\n" and '"epoch": 1' in "".join(first)
    small = "".join(chunks(Trace(load(SCENARIOS / "online.toml")), 3))
    assert small == json.dumps(document(Trace(load(SCENARIOS / "online.toml")), 3), indent=2,
                               ensure_ascii=False) + "\n"
    for fmt in ("md", "tex", "txt", "py"):
        assert cli.main(["export", str(SCENARIOS / "blog.toml"), "--format", fmt, "--epochs", "999999"]) == 2
        out, err = capsys.readouterr()
        assert out == "" and len(err.strip().splitlines()) == 1 and "--format json" in err


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(2, 5000), min_size=1, max_size=400), st.integers(8, 64))
def test_checkpoints_answer_with_the_weights_of_the_epoch_they_name(epochs, budget):
    """Whatever the order epochs arrive in (training on, stepping back), a stored epoch's weights are its
    own, nearest() never answers with a later epoch, and the count stays within the budget."""
    def weights(e):
        return (np.full((2, 3), float(e)),)

    cp = Checkpoints(weights(1), budget * weights_bytes(weights(1)))
    for e in epochs:
        cp.put(e, weights(e))
        assert len(cp) <= cp.grid_size + cp.recent_size + 1
    for e in [1, *epochs, max(epochs) + 7]:
        found, w = cp.nearest(e)
        assert 1 <= found <= e and w[0][0, 0] == found
        got = cp.get(e)
        assert got is None or got[0][0, 0] == e


def test_a_worker_advancing_while_the_view_steps_about_keeps_the_history_exact():
    import threading

    s = load(SCENARIOS / "xor.toml")
    trace = Trace(s)
    worker = threading.Thread(target=trace.advance, args=(3000,))
    worker.start()
    seen = []
    while worker.is_alive():
        seen.append(trace.epoch(1 + len(seen) % 50).loss)
        trace.loss_history(20)
    worker.join()
    assert trace.losses_computed == 3000
    assert np.array_equal(trace.loss_history(3000), Trace(s).loss_history(3000))
    assert seen and all(v == trace.loss(1 + i % 50) for i, v in enumerate(seen))


def test_a_layers_chain_factors_are_known_from_its_delta_step_on():
    trace = Trace(load(SCENARIOS / "blog.toml"))
    for i in range(trace.steps_per_epoch):
        step = trace.step(i)
        for layer in (2, 3):
            known = step.is_known(f"delta{layer}")
            for factor in (f"dE/da{layer}", f"dadz{layer}"):
                if not known:
                    with pytest.raises(KeyError):
                        step.value(factor)
            if known:  # delta = ∂E/∂a · ∂a/∂z, elementwise, and the sigmoid's ∂a/∂z = a·(1 − a)
                a = np.asarray(step.value(f"a{layer}"))
                np.testing.assert_allclose(step.value(f"dadz{layer}"), a * (1 - a), rtol=1e-15)
                np.testing.assert_allclose(np.asarray(step.value(f"dE/da{layer}")) * a * (1 - a),
                                           step.value(f"delta{layer}"), rtol=1e-14)


# ------------------------------------------------------------------------------------------ records

def _records():
    """Every dataclass defined in bpdebug (found, not listed)."""
    import dataclasses
    import importlib
    import pkgutil

    import bpdebug

    found = {}
    for info in pkgutil.walk_packages(bpdebug.__path__, "bpdebug."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, type) and dataclasses.is_dataclass(value) and value.__module__ == info.name:
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return sorted(found.items())


RECORDS = _records()


@pytest.mark.parametrize("name, cls", RECORDS, ids=[n for n, _ in RECORDS])
def test_a_record_never_compares_its_arrays(name, cls):
    """A generated == compares fields as tuples, so an array among them makes == raise (its truth value is
    ambiguous) and hash() refuse: such a record compares by identity (eq=False) or leaves the arrays out."""
    import dataclasses

    def holds_arrays(annotation: object) -> bool:  # an array, a tuple of arrays or an optional one (not a function)
        return "ndarray" in str(annotation) and "Callable" not in str(annotation)

    compared = [f.name for f in dataclasses.fields(cls) if f.compare and holds_arrays(f.type)]
    assert not (cls.__dataclass_params__.eq and compared), f"{name} compares arrays {compared}"


def test_steps_of_two_traces_compare_without_raising():
    s = load(SCENARIOS / "blog.toml")
    a, b = Trace(s), Trace(s)
    update = a.first_step_of(1, kind="update")
    assert a[update] == a[update]
    assert a[update] != b[update]  # equal numbers, another pass: what a step shows is its own pass's
    assert len({a[update].record, b[update].record}) == 2
