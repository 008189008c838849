"""What every engine answers: the questions the session, conditions, practice, diagnosis, the gradient check and
the transcripts ask of a trace and its steps, so each of them is written once for networks and graphs.

A network's :class:`bpdebug.core.trace.Trace` and a graph's :class:`bpdebug.core.graph.trace.GraphTrace` both
satisfy :class:`TraceProtocol`; their steps (:class:`bpdebug.core.trace.Step`, :class:`GraphStep`) satisfy
:class:`StepProtocol`. ``P`` is the engine's parameter type (a network's :class:`~bpdebug.core.params.Param`,
a graph's :class:`~bpdebug.core.graph.scenario.GraphParam`); both have ``short`` and ``canonical`` names.

The rules every engine keeps:

* ``step.value(name)`` raises KeyError for a quantity not computed yet at that step: a view asking for
  numbers never sees ones from the future. ``step.is_known(name)`` asks without raising;
  ``step.gradient(p)`` is None while the parameter's gradient is still ahead.
* ``kind`` and ``phase`` are strings (StrEnums): a network's kinds are z, a, error, delta, gradient, update;
  a graph's forward, backward, update. Phases: forward, error (networks), backward, update.
* ``trace.advance(epoch, progress, should_stop)`` reaches far epochs in chunks, reporting progress at most
  20 times a second and stopping between chunks when asked; memory stays bounded (checkpoints, a cache of
  whole epochs within a byte budget, a fixed-size loss history).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from .divergence import Divergence

P_contra = TypeVar("P_contra", contravariant=True)


@runtime_checkable
class ParamProtocol(Protocol):
    """A parameter (a network's weight or bias, a graph's learned leaf)."""

    @property
    def short(self) -> str: ...

    @property
    def canonical(self) -> str: ...


@runtime_checkable
class StepProtocol(Protocol[P_contra]):
    """One step of a walk: what it computes from what, and the numbers known once it has run."""

    @property
    def index(self) -> int: ...  # 0-based position in the trace

    @property
    def total(self) -> int: ...  # steps in the trace

    @property
    def epoch(self) -> int: ...

    @property
    def example(self) -> int | None: ...  # the example of an online pass; None for a batch (and a graph)

    @property
    def phase(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def layer(self) -> int | None: ...  # a network's layer; None for a graph

    @property
    def computes(self) -> tuple[str, ...]: ...  # quantity names

    @property
    def uses(self) -> tuple[str, ...]: ...

    @property
    def title(self) -> str: ...

    @property
    def known(self) -> frozenset[str]: ...

    def is_known(self, name: str) -> bool: ...

    def value(self, name: str) -> np.ndarray | float: ...  # KeyError for a number not computed yet

    def gradient(self, p: P_contra) -> float | None: ...  # None while pending

    def param(self, p: P_contra, which: str = "before") -> float: ...  # "before" or "after" the update


@runtime_checkable
class TraceProtocol(Protocol):
    """The lazy sequence of steps of a scenario, over epochs computed on first use."""

    scenario: Any
    epochs: int  # epochs the walk covers
    steps_per_epoch: int

    def __len__(self) -> int: ...

    def step(self, index: int) -> Any: ...  # a StepProtocol

    def __getitem__(self, index: int) -> Any: ...

    def extend(self, epochs: int) -> None: ...

    def first_step_of(self, epoch: int, example: int | None = None, kind: str | None = None,
                      layer: int | None = None) -> int: ...

    @property
    def losses_computed(self) -> int: ...

    def advance(self, to_epoch: int, progress: Callable[[int, int], None] | None = None,
                should_stop: Callable[[], bool] | None = None) -> int: ...

    def loss(self, epoch: int) -> float: ...  # the epoch's loss (a graph: its output's value) before its update

    def loss_history(self, epochs: int | None = None) -> np.ndarray: ...

    def divergence(self, epochs: int | None = None) -> Divergence | None: ...

    def check_all(self) -> tuple[Any, ...]: ...  # each expectation's result: expectation, computed, holds, step
