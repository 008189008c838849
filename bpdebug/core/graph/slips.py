"""The graph's classic slips, as data: each :class:`GraphSlip` is one entry of :data:`GRAPH_SLIPS`, a name, the
sentence that tells a reader what went wrong, and how the backward pass runs when the slip is made. The
diagnosis (:func:`diagnose`) reruns the engine's backward pass with each slip and names the ones that reproduce a
printed gradient (or a leaf after an update made with such a gradient). Adding a slip is adding one entry to
:data:`GRAPH_SLIPS` (``check --help`` and the README's table list them from it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .engine import GraphPass, Tape, update_leaves
from .ops import Local
from .program import Program

LocalSwap = Callable[[str, Local], Local]  # (op name, its local derivative) -> the one the slip uses


def _no_swap(op: str, local: Local) -> Local:
    return local


@dataclass(frozen=True)
class GraphSlip:
    name: str
    sentence: str
    swap: LocalSwap = field(default=_no_swap, repr=False)  # the local derivatives the slip uses
    assign: bool = False  # each use's term replaces the gradient (=) instead of adding to it (+=)
    upstream: bool = True  # the term multiplies the upstream gradient
    applies: Callable[[Program], bool] = field(default=lambda p: True, repr=False)


def _sub_sign(op: str, local: Local) -> Local:
    if op != "sub":
        return local
    return lambda x, out, k: (1.0, 1.0)


def _pow_factor(op: str, local: Local) -> Local:
    if op != "pow":
        return local
    return lambda x, out, k: (x[0] ** (k - 1),)


def _tanh_square(op: str, local: Local) -> Local:
    if op != "tanh":
        return local
    return lambda x, out, k: (1.0 - out,)


def _uses(op: str) -> Callable[[Program], bool]:
    return lambda p: any(n.op == op for n in p.nodes)


GRAPH_SLIPS: dict[str, GraphSlip] = {s.name: s for s in (
    GraphSlip("overwritten", "the gradient overwritten instead of added where a value is used more than once "
              "(= instead of += in micrograd's _backward): only one use's term is left",
              assign=True, applies=lambda p: any(len(u) > 1 for u in p.users)),
    GraphSlip("no-upstream", "the local derivative without the upstream gradient (∂u/∂x where the chain rule "
              "needs ∂out/∂u · ∂u/∂x)", upstream=False),
    GraphSlip("sub-sign", "the derivative of a − b taken as +1 for b (it is −1)", swap=_sub_sign,
              applies=_uses("sub")),
    GraphSlip("pow-factor", "x**n differentiated without its factor n (x**(n−1) instead of n·x**(n−1))",
              swap=_pow_factor, applies=_uses("pow")),
    GraphSlip("tanh-square", "tanh′ taken as 1 − tanh instead of 1 − tanh²", swap=_tanh_square,
              applies=_uses("tanh")),
)}


ORDERS = ("last", "first")  # with assign: the term that stays is the last one written, or the first


def slipped_backward(t: Tape, program: Program, values: np.ndarray, slip: GraphSlip,
                     order: str = "last") -> np.ndarray:
    """Every node's gradient as the backward pass computes it with ``slip`` made (the engine's loop otherwise).
    With an assigning slip the uses' order decides which term stays (micrograd's own order depends on a set's):
    ``order`` "last" keeps the earliest use's term (written last, going backward), "first" the latest use's."""
    written: set[int] = set()
    grads = [np.float64(0.0)] * len(values)
    grads[t.output] = np.float64(1.0)
    v = list(values)
    locals_ = [None if f is None else slip.swap(program.nodes[i].op, f) for i, f in enumerate(t.local)]
    with np.errstate(all="ignore"):
        for i in range(len(values) - 1, -1, -1):
            f = locals_[i]
            if f is None:
                continue
            g = grads[i] if slip.upstream else np.float64(1.0)
            for j, d in zip(t.args[i], f([v[j] for j in t.args[i]], v[i], t.k[i]), strict=True):
                if not slip.assign:
                    grads[j] = grads[j] + g * d
                elif order == "last" or j not in written:
                    grads[j] = g * d
                    written.add(j)
    return np.array(grads, dtype=float)


@dataclass(frozen=True)
class SlipMatch:
    slip: GraphSlip
    recomputed: float


def diagnose(trace, what: str, node: int, epoch: int, printed: float, tolerance: float) -> tuple[SlipMatch, ...]:
    """The slips of the catalogue that reproduce a printed gradient (``what`` "grad") or a learned leaf after the
    update (``what`` "after", the update made with the slipped gradients) of ``epoch``; () for a value."""
    if what not in ("grad", "after"):
        return ()
    record: GraphPass = trace.epoch(epoch)
    program: Program = trace.program
    out = []
    for slip in GRAPH_SLIPS.values():
        if not slip.applies(program):
            continue
        for order in ORDERS if slip.assign else ORDERS[:1]:
            grads = slipped_backward(trace.tape, program, record.values, slip, order)
            if what == "grad":
                value = float(grads[node])
            else:
                learned = trace.learned
                with np.errstate(all="ignore"):
                    after, _, _ = update_leaves(trace.plan, learned, trace.mask, record.leaves_before,
                                                grads[trace.tape.leaves[learned]], record.state_before, record.update)
                value = float(after[node])
            if abs(value - printed) <= tolerance + 1e-15:
                out.append(SlipMatch(slip, value))
                break
    return tuple(out)
