"""How a scenario trains: the optimizer, its hyperparameters, and the mini-batches of each epoch.

A :class:`Plan` is the ``[training]`` table beyond the learning rate, as one value the engine reads. An
epoch is cut into consecutive mini-batches of ``batch_size`` examples (the last may be smaller), in the
data's order, or in an order reshuffled every epoch when ``shuffle`` is on. The order of epoch ``e``
depends only on ``seed`` and ``e`` (``numpy.random.default_rng([seed, e]).permutation(n)``), so any epoch
can be computed on its own (the trace starts from a checkpoint) and the exported script draws the same
order with the same line. Updates are counted from 1 across epochs: update ``t`` is what Adam's bias
correction reads.

A what-if fork continues a run from the start of one of its epochs: its plan carries a :class:`Resume` (how many
epochs came before and the optimizer's state then), so the fork's epoch 1 draws the original's order of that
epoch, counts its updates on from there, and starts from the original's velocity or moments, not from zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from . import optimizers
from .optimizers import Hyperparameters, Optimizer, State

Rows = tuple[int, ...]  # 0-based examples of one mini-batch


@dataclass(frozen=True)
class Resume:
    """Where a continued run (a what-if fork) picks up: ``epochs_before`` epochs of the original came before its
    epoch 1, and ``state`` is the optimizer's state then (the layout of :data:`~.optimizers.State`)."""

    epochs_before: int
    state: State = field(repr=False, compare=False)


@dataclass(frozen=True)
class Plan:
    """The optimizer and the mini-batches. ``batch_size`` None: every example in one batch."""

    hyper: Hyperparameters
    optimizer: Optimizer = field(default_factory=lambda: optimizers.get(optimizers.DEFAULT))
    batch_size: int | None = None
    shuffle: bool = False
    seed: int = 0
    resume: Resume | None = None  # None: a run from its start (zero optimizer state, update 1, epoch 1's order)

    def __post_init__(self) -> None:  # the optimizer's own defaults for what ``hyper`` does not give
        object.__setattr__(self, "hyper", self.optimizer.complete(self.hyper))

    @property
    def epochs_before(self) -> int:
        """Epochs of training before this plan's epoch 1 (0 unless it continues a run)."""
        return 0 if self.resume is None else self.resume.epochs_before

    def size(self, n_examples: int) -> int:
        """Examples per mini-batch (the last of an epoch may hold fewer)."""
        return n_examples if self.batch_size is None else max(1, min(self.batch_size, n_examples))

    def updates_per_epoch(self, n_examples: int) -> int:
        return -(-n_examples // self.size(n_examples))

    def first_update(self, n_examples: int, epoch: int) -> int:
        """The count ``t`` (1-based) of the first update of ``epoch``."""
        return (self.epochs_before + epoch - 1) * self.updates_per_epoch(n_examples) + 1

    def batches(self, n_examples: int, epoch: int) -> tuple[Rows, ...]:
        """The mini-batches of ``epoch`` (1-based), in the order they are used."""
        return _batches(n_examples, self.size(n_examples), self.shuffle, self.seed, self.epochs_before + epoch)

    @property
    def mode(self) -> str:
        """"batch" (one update per epoch), "online" (one per example) or "mini-batch"."""
        if self.batch_size is None:
            return "batch"
        return "online" if self.batch_size == 1 else "mini-batch"

    @property
    def is_plain(self) -> bool:
        """Plain gradient descent without weight decay: version 1's training, no optimizer state."""
        return self.optimizer.plain and not self.hyper.weight_decay


def order(n_examples: int, shuffle: bool, seed: int, epoch: int) -> Rows:
    """The examples of ``epoch`` (1-based) in the order they are used."""
    if not shuffle:
        return tuple(range(n_examples))
    return tuple(int(i) for i in np.random.default_rng([seed, epoch]).permutation(n_examples))


@lru_cache(maxsize=256)
def _batches(n_examples: int, size: int, shuffle: bool, seed: int, epoch: int) -> tuple[Rows, ...]:
    rows = order(n_examples, shuffle, seed, epoch)
    return tuple(rows[i:i + size] for i in range(0, n_examples, size))


def select(x: np.ndarray, t: np.ndarray, rows: Rows) -> tuple[np.ndarray, np.ndarray]:
    """The inputs and targets of ``rows``: views when the rows are consecutive (the same numbers as a copy)."""
    first, last = rows[0], rows[-1]
    if last - first + 1 == len(rows) and all(r == first + k for k, r in enumerate(rows)):
        return x[first:last + 1], t[first:last + 1]
    index = np.fromiter(rows, dtype=np.intp, count=len(rows))
    return x[index], t[index]
