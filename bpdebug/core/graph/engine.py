"""The node engine: forward one node at a time in program order, backward in reverse, then the update.

The backward pass is micrograd's: the output's gradient is 1, and each operation, taken in reverse order,
adds its gradient times its local derivative to each of its arguments (``+=``), so a node's gradient is the
sum over the nodes that use it, one term per use (``c + c`` gives c two). A node's gradient is complete
when the walk reaches it: every node that uses it comes after it.

Each function here is plain Python over NumPy float64 scalars (inf and nan, never an exception), and the
py export pastes their source: the exported script is this engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import optimizers
from ..training import Plan
from .ops import OPS
from .program import LEAF, Program


@dataclass(frozen=True)
class Tape:
    """A program flattened for the loops: per node its forward and local functions, arguments and constant."""

    forward: tuple = field(repr=False)  # per node: the op's forward, or None for a leaf or constant
    local: tuple = field(repr=False)
    args: tuple[tuple[int, ...], ...] = field(repr=False)
    k: tuple = field(repr=False)
    constants: np.ndarray = field(repr=False)  # every node's starting value: leaves' and constants' (0 elsewhere)
    leaves: np.ndarray = field(repr=False)  # the leaf nodes, in leaf order
    output: int = 0


def tape(program: Program) -> Tape:
    forward, local = [], []
    for node in program.nodes:
        op = OPS[node.op] if node.computed else None
        forward.append(op.forward if op else None)
        local.append(op.local if op else None)
    constants = np.array([0.0 if n.value is None else n.value for n in program.nodes], dtype=float)
    leaves = np.array([n.index for n in program.nodes if n.op == LEAF], dtype=np.intp)
    return Tape(tuple(forward), tuple(local), tuple(n.args for n in program.nodes),
                tuple(n.k for n in program.nodes), constants, leaves, program.output)


def forward_pass(t, leaf_values):
    """Every node's value, in program order, from the leaves' values (float64 scalars throughout)."""
    values = t.constants.copy()
    values[t.leaves] = leaf_values
    v = list(values)  # np.float64 scalars: overflow gives inf, 0/0 nan, never an exception
    args, k = t.args, t.k
    for i, f in enumerate(t.forward):
        if f is not None:
            v[i] = np.float64(f([v[j] for j in args[i]], k[i]))
    return np.array(v, dtype=float)


def backward_pass(t, values):
    """Every node's gradient ∂output/∂node: the output's is 1; in reverse order each operation adds its
    gradient times its local derivative to each argument (micrograd's ``+=``)."""
    grads = [np.float64(0.0)] * len(values)
    grads[t.output] = np.float64(1.0)
    v = list(values)
    args, k = t.args, t.k
    for i in range(len(values) - 1, -1, -1):
        f = t.local[i]
        if f is None:
            continue
        g = grads[i]
        for j, d in zip(args[i], f([v[j] for j in args[i]], v[i], k[i]), strict=True):
            grads[j] = grads[j] + g * d
    return np.array(grads, dtype=float)


@dataclass(frozen=True)
class GraphPass:
    """All numbers of one epoch of a graph: values, gradients, and the learned leaves' update."""

    epoch: int  # 1-based
    update: int  # the optimizer's count t of this epoch's update (1-based)
    leaves_before: np.ndarray = field(repr=False)  # every leaf, in leaf order
    values: np.ndarray = field(repr=False)  # every node
    gradients: np.ndarray = field(repr=False)  # every node: ∂output/∂node
    leaves_after: np.ndarray = field(repr=False)  # every leaf after the update (unlearned ones unchanged)
    state_before: tuple = field(default=(), repr=False)  # the optimizer's state arrays over the learned leaves
    state_after: tuple = field(default=(), repr=False)
    shown: tuple = field(default=(), repr=False)  # Adam's m̂, v̂ over the learned leaves

    @property
    def loss(self) -> float:
        """The output's value (what a network calls its loss)."""
        return float(self.values[self.output])

    output: int = 0  # the output's node

    def nbytes(self) -> int:
        arrays = (self.leaves_before, self.values, self.gradients, self.leaves_after, *self.state_before,
                  *self.state_after, *self.shown)
        return sum(a.nbytes for a in arrays)


def learned_mask(program: Program, learn: tuple[str, ...], frozen: frozenset[str]) -> np.ndarray:
    """True for each learned leaf (in ``learn``'s order) that is not frozen."""
    return np.array([name not in frozen for name in learn], dtype=bool)


def update_leaves(plan, learned, mask, leaves, gradients, state, t):
    """The optimizer's update number ``t`` of the learned leaves (positions ``learned`` in leaf order), frozen
    ones kept: :func:`optimizers.apply` over one array holding them."""
    if len(learned) == 0:
        return leaves, (), ()
    p, g = leaves[learned], gradients
    result = optimizers.apply(plan.optimizer, plan.hyper, (p,), (g,), (state,), t, (mask,))
    after = leaves.copy()
    after[learned] = result.weights[0]
    return after, result.state[0], result.shown[0]


def zero_state(plan: Plan, n: int) -> tuple:
    return tuple(np.zeros(n) for _ in plan.optimizer.state_names)


def epoch_pass(program: Program, tp: Tape, plan: Plan, learned: np.ndarray, mask: np.ndarray,
               leaves: np.ndarray, state: tuple, epoch: int) -> GraphPass:
    """One epoch: forward, backward, and the update of the learned leaves (``leaves`` is not changed)."""
    t = plan.epochs_before + epoch
    with np.errstate(all="ignore"):
        values = forward_pass(tp, leaves)
        grads = backward_pass(tp, values)
        after, state_after, shown = update_leaves(plan, learned, mask, leaves, grads[tp.leaves[learned]], state, t)
    for a in (leaves, values, grads, after):
        a.setflags(write=False)
    return GraphPass(epoch, t, leaves, values, grads, after, state, tuple(state_after), tuple(shown), program.output)
