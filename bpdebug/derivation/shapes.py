"""The shape of a parameter's chain: which paths of factors it sums, chosen so its size stays bounded.

* an output weight: ``∂E/∂out_o · ∂out_o/∂net_o · ∂net_o/∂w`` (softmax with cross-entropy: ``∂E/∂net_o``;
  softmax with another loss: the Jacobian paths through every output);
* a weight one layer below the outputs, with at most :data:`MAX_FULL_PATHS` outputs: the sum over the
  paths through the output units, every factor written out (the blog's w1);
* anything deeper or wider: the δ form, ``Σ_k δ_k · ∂net_k/∂out_h · ∂out_h/∂net_h · ∂net_h/∂w`` with the
  next layer's δ as known numbers, or ``δ_h · ∂net_h/∂w`` when that layer has more than
  :data:`MAX_DELTA_PATHS` units.

A factor descriptor (:data:`FD`) is a tuple ``(kind, *indices)``:

=====================  ===========================================================================
``("dE_dout", k)``      ∂E/∂out_ok, the loss, output unit k
``("dout_dnet", r, i)`` ∂out/∂net of unit i of layer r (not softmax)
``("dsoftmax", m, k)``  ∂out_om/∂net_ok of a softmax output layer
``("dE_dnet_ce", k)``   ∂E/∂net_ok, softmax + cross-entropy with targets summing to 1
``("delta", r, k)``     δ of unit k of layer r, a known number from the backward pass
``("weight", l, k, j)`` ∂net_{l+1,k}/∂out_{l,j} = theta_l[k, j] (unit numbers 1-based)
``("input", l, j)``     ∂net/∂p = out of unit j of layer l (j = 0: the bias unit, 1)
``("input", l, 0, i)``  ∂net_{l+1,i}/∂b = 1 for a bias shared by the units of layer l + 1 (unit i's term)
``("delta_sum", r)``    Σ_k δ of every unit k of layer r, a known number (a wide layer's shared bias)
=====================  ===========================================================================

A shared bias (``[network] bias = "shared"``) feeds every unit of its layer, so its chain is the sum over those
units, each term the unit's δ (a known number from the backward pass) times ∂net/∂b = 1: the ``shared`` form;
a layer of more than :data:`MAX_DELTA_PATHS` units writes that sum as one factor, Σ_k δ_k · ∂net_k/∂b
(``shared-compact``), so the chain stays short.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..core.functions import Activation, Loss
from ..core.params import Param

if TYPE_CHECKING:
    from ..core.scenario import Scenario

MAX_FULL_PATHS = 4  # output units up to which a hidden weight's paths are written out in full
MAX_DELTA_PATHS = 16  # next-layer units up to which the δ form sums explicitly
MAX_EXPLICIT_EXAMPLES = 2  # batch examples up to which each example's chain is written out

FD = tuple  # a factor descriptor, see the module docstring
Paths = tuple[tuple[FD, ...], ...]


@dataclass(frozen=True)
class Shape:
    """What the chain rule of a parameter depends on, and nothing else (so the caches are shared)."""

    layers: tuple[int, ...]
    activations: tuple[Activation, ...]
    bias: bool
    loss: Loss
    n_examples: int  # examples per pass
    softmax_ce: bool  # softmax output, a loss with the softmax shortcut (cross-entropy), targets summing to 1

    @property
    def L(self) -> int:
        return len(self.layers)

    def activation(self, layer: int) -> Activation:
        return self.activations[layer - 2]

    @property
    def softmax(self) -> bool:
        return self.activation(self.L).is_softmax

    @property
    def summed(self) -> bool:
        """Whether a batch's chain is written Σ_n rather than each example's chain."""
        return self.n_examples > MAX_EXPLICIT_EXAMPLES


def shape_of(scenario: Scenario, n: int | None = None) -> Shape:
    """The shape of the scenario's chains for a pass of ``n`` examples (default: the first pass's; a last
    mini-batch may hold fewer)."""
    if n is None:
        n = scenario.plan.size(scenario.n_examples)
    softmax = scenario.activations[-1].is_softmax
    k = scenario.layers[-1]
    with np.errstate(invalid="ignore"):
        sums = scenario.targets.sum(axis=1)
        ce = softmax and scenario.loss.softmax_shortcut and bool(
            np.all(np.abs(sums - 1.0) <= 8 * np.finfo(float).eps * k))
    return Shape(scenario.layers, scenario.activations, scenario.bias, scenario.loss, n, ce)


def _top(shape: Shape, k: int) -> tuple[FD, ...]:
    """The factors from the loss down to the net input of output unit k."""
    if shape.softmax and shape.softmax_ce:
        return (("dE_dnet_ce", k),)
    if shape.softmax:
        return (("delta", shape.L, k),)
    return (("dE_dout", k), ("dout_dnet", shape.L, k))


def paths(shape: Shape, p: Param) -> tuple[str, Paths]:
    """The form of the chain (``output``, ``paths``, ``delta``, ``delta-compact``, ``shared``) and its paths."""
    L, r, i = shape.L, p.layer + 1, p.receiving_unit
    if p.shared:  # Σ over the units it feeds of δ_unit · ∂net_unit/∂b
        fed = shape.layers[r - 1]
        if fed > MAX_DELTA_PATHS:
            return "shared-compact", ((("delta_sum", r), ("input", p.layer, 0, "k")),)
        return "shared", tuple((("delta", r, k), ("input", p.layer, 0, k)) for k in range(1, fed + 1))
    K = shape.layers[-1]
    inp: FD = ("input", p.layer, p.sending_unit)
    if r == L:
        if shape.softmax and not shape.softmax_ce:
            if K <= MAX_FULL_PATHS:
                return "output", tuple((("dE_dout", m), ("dsoftmax", m, i), inp) for m in range(1, K + 1))
            return "delta-compact", ((("delta", L, i), inp),)
        return "output", (_top(shape, i) + (inp,),)
    below: tuple[FD, ...] = (("dout_dnet", r, i), inp)
    if r == L - 1 and K <= MAX_FULL_PATHS:
        return "paths", tuple(_top(shape, k) + (("weight", r, k, i),) + below for k in range(1, K + 1))
    width = shape.layers[r]  # units of layer r + 1
    if width <= MAX_DELTA_PATHS:
        return "delta", tuple((("delta", r + 1, k), ("weight", r, k, i)) + below for k in range(1, width + 1))
    return "delta-compact", ((("delta", r, i), inp),)


def short_name(shape: Shape, l: int, k: int, j: int) -> str:
    """The blog's short name (w7) of the weight from unit j of layer l to unit k of layer l + 1."""
    before = sum(shape.layers[m] * shape.layers[m - 1] for m in range(1, l))
    return f"w{before + (k - 1) * shape.layers[l - 1] + j}"
