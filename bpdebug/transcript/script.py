"""The Python transcript: a standalone NumPy script that reproduces the scenario's training.

A learner takes it away and changes it (the weights, the data, the learning rate, an activation). It is
the engine by construction: the activations and the loss are the registry's own source
(:attr:`Activation.source`, :attr:`Loss.source`: for a custom formula, the very text the engine compiled)
and the pass is the engine's own ``forward``, ``compute_pass`` and ``batch_loss``, pasted with
:func:`inspect.getsource`, so its losses and final parameters equal the JSON transcript's bit for bit.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

import numpy as np

from ..core import compute, optimizers
from ..core.engine import Trace
from ..core.functions import Activation
from ..core.scenario import Scenario

if TYPE_CHECKING:
    from . import Options

# what the script pastes of the engine, in order (everything compute_pass needs but the network)
ENGINE_CODE = (compute.PassNumbers, compute.forward, compute.output_delta, compute.hidden_delta, compute.gradient,
               compute.update, compute.initial_state, compute.optimizer_update, compute.compute_pass,
               compute.batch_loss)
# the optimizers' common part (weight decay, frozen parameters, state per matrix); each optimizer adds its step
OPTIMIZER_CODE = (optimizers.Update, optimizers.zero_state, optimizers.apply)


def _matrix(a: np.ndarray, indent: str) -> str:
    rows = [", ".join(repr(v.item()) for v in row) for row in np.atleast_2d(a)]
    inner = (",\n" + indent + " ").join(f"[{r}]" for r in rows)
    return f"np.array([{inner}])"


def _activations(s: Scenario) -> list[Activation]:
    """Each distinct activation of the network, in layer order."""
    out: list[Activation] = []
    for a in s.activations:
        if a not in out:
            out.append(a)
    return out


def _namespace(a: Activation) -> str:
    derivative = a.derivative.__name__ if a.derivative is not None else None
    return f"SimpleNamespace(function={a.function.__name__}, derivative={derivative})"


def _doc(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"""', "'''")


def _header(s: Scenario, epochs: int, diverged: str | None) -> list[str]:
    cmd = f"bpdebug export {s.path} --format py --epochs {epochs}"
    stops = ["", f"The numbers stop being finite at {_doc(diverged)}: the script stops there."] if diverged else []
    return [
        "#!/usr/bin/env python3",
        f'"""{_doc(s.title)}',
        "",
        f"Training reproduced with NumPy only; written by `{_doc(cmd)}`.",
        "Change anything below (weights, data, learning rate, activations, epochs) and run it again.",
        "It prints the loss of each epoch (before its first update) and the parameters after the last one.",
        *stops,
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from types import SimpleNamespace",
        "from typing import NamedTuple",
        "",
        "import numpy as np",
        "",
    ]


def _data(s: Scenario, epochs: int) -> list[str]:
    lines = [
        f"LEARNING_RATE = {s.learning_rate!r}",
        f"EPOCHS = {epochs}",
        f"UPDATE = {s.update!r}  # 'batch': one update per epoch over all examples; else one per mini-batch",
        f"BATCH_SIZE = {s.plan.size(s.n_examples)}  # examples per update ('online': 1)",
        f"SHUFFLE = {s.plan.shuffle!r}  # reshuffle the examples every epoch (the order: from SEED and the epoch)",
        f"SEED = {s.plan.seed!r}",
        f"BIAS = {s.bias!r}  # a bias unit of value 1 feeds every layer after the input (column 0 of each theta)",
        f"SHARED = {s.shared_bias!r}  # one bias per layer shared by its units (column 0 equal; its gradient the sum)",
        "",
        "# one row per example",
        f"INPUTS = {_matrix(s.inputs, ' ' * 18)}",
        f"TARGETS = {_matrix(s.targets, ' ' * 19)}",
        "",
        "# THETA[l - 1] maps layer l to layer l + 1: row i feeds unit i of layer l + 1, column j comes from unit j",
        "# of layer l" + (" (column 0: the bias unit)" if s.bias else ""),
        "THETA = [",
        *[f"    {_matrix(w, ' ' * 13)}," for w in s.weights],
        "]",
        "",
    ]
    if s.frozen:
        lines.append("# True where a parameter learns, False where it is frozen")
        lines.append("MASKS = [")
        for l, w in enumerate(s.weights, start=1):
            mask = np.ones(w.shape, dtype=bool)
            for p in s.params:
                if p.layer == l and p.canonical in s.frozen:
                    mask[p.cells] = False
            lines.append(f"    {_matrix(mask, ' ' * 13)},")
        lines.append("]")
    else:
        lines.append("MASKS = None  # a list like THETA, True where a parameter learns and False where it is frozen")
    lines += ["", "# short names: (name, matrix, row, column)", "PARAMETERS = ["]
    lines += [f"    ({p.short!r}, {p.layer - 1}, {p.row}, {p.col}),  # {p.canonical}" for p in s.params]
    return lines + ["]", "", ""]


_MAIN = '''
def finite(loss, weights):
    return bool(np.isfinite(loss)) and all(bool(np.isfinite(w).all()) for w in weights)


def batches(epoch):
    """The examples of each mini-batch of ``epoch``, in the order they are used."""
    n = INPUTS.shape[0]
    order = np.random.default_rng([SEED, epoch]).permutation(n) if SHUFFLE else np.arange(n)
    return [order[i:i + BATCH_SIZE] for i in range(0, n, BATCH_SIZE)]


def main():
    weights = tuple(np.array(w) for w in THETA)
    state = initial_state(NET, weights)  # the optimizer's state: per matrix, one array per state name
    count = 0  # updates so far (Adam's t)
    with np.errstate(all="ignore"):  # a run that stops being finite is reported below, without warnings
        for epoch in range(1, EPOCHS + 1):
            if UPDATE == "batch":
                count += 1
                numbers = compute_pass(NET, weights, INPUTS, TARGETS, state, count)
                loss, weights, state = numbers.loss, numbers.weights_after, numbers.state_after
            else:
                loss = batch_loss(NET, weights, INPUTS, TARGETS)[0]
                for rows in batches(epoch):
                    count += 1
                    numbers = compute_pass(NET, weights, INPUTS[rows], TARGETS[rows], state, count)
                    weights, state = numbers.weights_after, numbers.state_after
            print(f"epoch {epoch} loss {loss!r}")
            if not finite(loss, weights):
                print(f"stopped: the numbers stop being finite in epoch {epoch}")
                return
        final = batch_loss(NET, weights, INPUTS, TARGETS)[0]
    print(f"final loss {final!r}")
    for name, m, i, j in PARAMETERS:
        print(f"{name} {float(weights[m][i, j])!r}")


if __name__ == "__main__":
    main()
'''


def _hyperparameters(opt: optimizers.Optimizer, hyper: optimizers.Hyperparameters) -> dict[str, float]:
    """What the script's ``NET.hyper`` holds besides the learning rate: every built-in optimizer's
    hyperparameters (the first entry's default where ``opt`` does not read one), ``opt``'s own values, the
    weight decay: a learner may swap the step for another optimizer's and find its numbers there."""
    out: dict[str, float] = {}
    for entry in (*optimizers.OPTIMIZERS.values(), opt):
        for h in entry.hyper:
            if h.key in opt.hyperparameters:
                out[h.key] = hyper[h.key]
            elif h.default is not None:
                out.setdefault(h.key, h.default)
    out[optimizers.WEIGHT_DECAY.key] = hyper.weight_decay
    return out


def script(trace: Trace, epochs: int) -> str:
    """The script's text for ``epochs`` epochs."""
    s = trace.scenario
    acts = _activations(s)
    functions = [a.source for a in acts] + [s.loss.source]
    loss = s.loss
    diverged = trace.divergence(epochs)
    lines = _header(s, epochs, diverged.describe() if diverged else None) + _data(s, epochs)
    lines += ["# ---- the activations and the loss: the functions the engine runs", "", ""]
    lines.append("\n\n".join(functions))
    opt, hyper = s.plan.optimizer, s.plan.hyper
    lines += ["", f"# ---- the update: {opt.title} ({opt.torch}), the optimizers' own code", "", ""]
    lines.append("\n\n".join([inspect.getsource(code).rstrip() + "\n" for code in OPTIMIZER_CODE] + [opt.source]))
    lines += ["", "# ---- one pass of the engine: forward, error, backward, gradients, update", "", ""]
    lines.append("\n\n".join(inspect.getsource(code).rstrip() + "\n" for code in ENGINE_CODE))
    lines += [
        "",
        "# what the pass reads of the network",
        "NET = SimpleNamespace(",
        f"    L={s.n_layers},",
        "    bias=BIAS,",
        "    shared=SHARED,",
        "    activations=[  # layers 2 to L",
        *[f"        {_namespace(a)}," for a in s.activations],
        "    ],",
        f"    loss=SimpleNamespace(terms={loss.terms.__name__}, grad={loss.grad.__name__}, "
        f"batch_loss={loss.combine.__name__}),",
        "    lr=LEARNING_RATE,",
        "    masks=MASKS,",
        f"    plain={s.plan.is_plain!r},  # plain gradient descent without weight decay: update(), no state",
        f"    optimizer=SimpleNamespace(step={opt.step.__name__}, state_names={opt.state_names!r}),",
        "    hyper=SimpleNamespace(learning_rate=LEARNING_RATE, "
        + ", ".join(f"{k}={v!r}" for k, v in _hyperparameters(opt, hyper).items()) + "),",
        ")",
        "",
    ]
    lines.append(_MAIN)
    return "\n".join(lines)


def render(trace: Trace, options: Options) -> str:
    """The script for ``options.epochs`` epochs (the chain-rule options do not apply to it)."""
    return script(trace, options.epochs)
