"""What a network's trace and a graph's trace share: epochs computed on first use and kept within a byte budget,
bounded checkpoints, long runs trained in timed chunks with progress and cancellation, the loss history, and
where the run first stops being finite.

:class:`LazyTrace` holds that machinery once; an engine's trace (:class:`bpdebug.core.trace.Trace`,
:class:`bpdebug.core.graph.trace.GraphTrace`) says how one epoch is computed, how a checkpoint is packed and
unpacked, how a chunk of epochs is trained and how a non-finite epoch is replayed to name its step.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

import numpy as np

from .quantity import Phase
from .storage import Checkpoints, LossHistory, LossSummary

if TYPE_CHECKING:
    from .divergence import Divergence

RECORD_CACHE_BYTES = 64 << 20  # the epochs kept whole (every number of the epoch) for stepping about
PROGRESS_INTERVAL = 0.05  # seconds between progress reports of a long run (at most 20 a second)
CHUNK_SECONDS = 0.02  # a long run trains in chunks of about this long, checking for cancellation between


class Pace:
    """How many epochs a long run trains at a time: doubled while a chunk takes under half of
    :data:`CHUNK_SECONDS`, halved past twice it, so a chunk lasts about that long whatever an epoch costs."""

    def __init__(self) -> None:
        self.size = 1

    def timed(self, elapsed: float) -> None:
        if elapsed < CHUNK_SECONDS / 2:
            self.size *= 2
        elif elapsed > CHUNK_SECONDS * 2 and self.size > 1:
            self.size //= 2


class EpochRecordLike(Protocol):
    """What the trace asks of an engine's epoch record."""

    @property
    def loss(self) -> float: ...

    def nbytes(self) -> int: ...


class Template(Protocol):
    """The shape of one step, the same in every epoch (a network's or a graph's step template)."""

    @property
    def phase(self) -> Phase: ...

    @property
    def computes(self) -> tuple[str, ...]: ...

    @property
    def uses(self) -> tuple[str, ...]: ...

    @property
    def title(self) -> str: ...


class TemplateStep:
    """What a step answers from its template: its phase, what it computes from what, its title."""

    template: Template

    @property
    def phase(self) -> Phase:
        return self.template.phase

    @property
    def computes(self) -> tuple[str, ...]:
        return self.template.computes

    @property
    def uses(self) -> tuple[str, ...]:
        return self.template.uses

    @property
    def title(self) -> str:
        return self.template.title


R = TypeVar("R", bound=EpochRecordLike)  # an epoch's record
S = TypeVar("S")  # a step
W = TypeVar("W")  # the parameters at a point of training (a network's weights, a graph's leaves)


class LazyTrace(ABC, Generic[R, S, W]):
    """Steps 0 … ``len(trace) - 1`` over ``epochs`` epochs, computed lazily an epoch at a time.

    Memory stays bounded: ``checkpoints`` for the positions before some epochs, ``cache_bytes`` (and at most
    ``cache_epochs`` epochs) for whole epochs, a fixed size for the loss history. A worker may advance the trace
    while a view steps about: the mutable state changes under one lock, a chunk of training at a time.
    """

    steps_per_epoch: int

    def __init__(self, epochs: int, checkpoints: Checkpoints, cache_epochs: int, cache_bytes: int) -> None:
        self.epochs = epochs
        self._cache: OrderedDict[int, R] = OrderedDict()
        self._cache_size = cache_epochs
        self._cache_bytes = cache_bytes
        self._checkpoints = checkpoints
        self._history = LossHistory()
        # divergence bookkeeping: epochs 1 … _clean_through lost nothing finite; _flagged is the first stretch of
        # epochs (first, last) in which something stopped being finite
        self._clean_through = 0
        self._flagged: tuple[int, int] | None = None
        self._divergence: Divergence | None = None
        self._lock = threading.RLock()

    # ----------------------------------------------------------------------------- what an engine says
    @abstractmethod
    def _compute(self, epoch: int) -> R:
        """Every number of ``epoch``, from :meth:`position_before` (called under the lock)."""

    @abstractmethod
    def _start_of(self, record: R) -> tuple[W, tuple]:
        """The parameters and the optimizer's state before a computed epoch."""

    @abstractmethod
    def _pack(self, record: R) -> tuple:
        """The checkpoint after a computed epoch."""

    @abstractmethod
    def _unpack(self, packed: tuple) -> tuple[W, tuple]:
        """A checkpoint as the parameters and the optimizer's state."""

    @abstractmethod
    def _replay(self, start: int, position: tuple[W, tuple], epoch: int) -> tuple[W, tuple]:
        """The position before ``epoch``, trained from ``position`` before epoch ``start`` (keeping checkpoints)."""

    @abstractmethod
    def _train(self, first: int, n: int, to_epoch: int) -> tuple[np.ndarray, tuple[int, int] | None]:
        """Train epochs ``first`` … ``first + n - 1`` (under the lock, keeping the checkpoints still wanted at
        ``to_epoch``): their losses, and the stretch of them in which something stopped being finite (None when
        nothing did)."""

    @abstractmethod
    def _step_at(self, index: int, total: int) -> S:
        """Step ``index`` (0 ≤ index < total)."""

    @abstractmethod
    def _locate(self, epoch: int) -> Divergence | None:
        """Replay ``epoch`` step by step: the first step whose number is not finite."""

    def _first_flagged_epoch(self, first: int, last: int) -> int | None:
        """The first epoch of a flagged stretch that is not finite (a stretch of one epoch is that epoch)."""
        return first

    # ------------------------------------------------------------------------------------------ steps
    def __len__(self) -> int:
        return self.epochs * self.steps_per_epoch

    def extend(self, epochs: int) -> None:
        """Make the trace cover at least ``epochs`` epochs."""
        self.epochs = max(self.epochs, epochs)

    def step(self, index: int) -> S:
        """Step ``index`` (0-based); negative indices count from the end."""
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"step {index} outside 0..{n - 1}")
        return self._step_at(index, n)

    def __getitem__(self, index: int) -> S:
        return self.step(index)

    def __iter__(self) -> Iterator[S]:
        return (self.step(i) for i in range(len(self)))

    # ----------------------------------------------------------------------------------------- epochs
    @property
    def checkpoints(self) -> Checkpoints:
        return self._checkpoints

    @property
    def cached_epochs(self) -> int:
        """Epochs kept whole (every number) for stepping about; within the byte budget."""
        return len(self._cache)

    def position_before(self, epoch: int) -> tuple[W, tuple]:
        """The parameters and the optimizer's state at the start of ``epoch`` (1-based)."""
        cached = self._cache.get(epoch)
        if cached is not None:
            return self._start_of(cached)
        found = self._checkpoints.get(epoch)
        if found is not None:
            return self._unpack(found)
        start, packed = self._checkpoints.nearest(epoch)
        return self._replay(start, self._unpack(packed), epoch)

    def epoch(self, epoch: int) -> R:
        """Every number of ``epoch`` (1-based), computed on first use."""
        if epoch < 1:
            raise IndexError(f"epoch {epoch}: epochs start at 1")
        with self._lock:
            if epoch in self._cache:
                self._cache.move_to_end(epoch)
                return self._cache[epoch]
            record = self._compute(epoch)
            if not self._cache:  # the first record tells how many whole epochs fit in the cache's bytes
                self._cache_size = max(2, min(self._cache_size, self._cache_bytes // max(1, record.nbytes())))
            self._cache[epoch] = record
            self._checkpoints.put(epoch + 1, self._pack(record))
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
            return record

    # -------------------------------------------------------------------------------------- long runs
    @property
    def losses_computed(self) -> int:
        """How many epochs' losses have been computed (training has gone through them)."""
        return self._history.count

    def advance(self, to_epoch: int, progress: Callable[[int, int], None] | None = None,
                should_stop: Callable[[], bool] | None = None) -> int:
        """Train until the losses of epochs 1 … ``to_epoch`` are known, keeping bounded checkpoints on the way;
        returns the epoch reached (``to_epoch`` unless ``should_stop()`` said stop first) and makes the trace
        cover it. ``progress(done, total)`` is called at most 20 times a second and once at the end;
        ``should_stop`` is asked between chunks of about 20 ms."""
        reached = min(to_epoch, self._run(to_epoch, progress, should_stop))
        if reached >= 1:
            self.extend(reached)
        return reached

    def _run(self, to_epoch: int, progress: Callable[[int, int], None] | None = None,
             should_stop: Callable[[], bool] | None = None, until_flagged: bool = False) -> int:
        pace, reported = Pace(), time.monotonic()
        done = self._history.count
        while True:
            if should_stop is not None and should_stop():
                break
            with self._lock:  # one chunk at a time: another thread waits at most a chunk (about 20 ms)
                done = self._history.count
                if done >= to_epoch or (until_flagged and self._flagged is not None):
                    break
                n = min(pace.size, to_epoch - done)
                started = time.perf_counter()
                losses, bad = self._train(done + 1, n, to_epoch)
                elapsed = time.perf_counter() - started
                self._history.append(losses)
                if self._flagged is None:
                    if bad is None:
                        self._clean_through = done + n
                    else:
                        self._clean_through, self._flagged = bad[0] - 1, bad
                done += n
            pace.timed(elapsed)
            now = time.monotonic()
            if progress is not None and (now - reported >= PROGRESS_INTERVAL or done >= to_epoch):
                progress(done, to_epoch)
                reported = now
        return done

    def loss_history(self, epochs: int | None = None) -> np.ndarray:
        """Loss of each epoch 1 … ``epochs`` (default: the trace's) before its first update.

        Computed by training (bit-identical to ``epoch(e).loss``) and kept, so asking again or for a few more
        epochs costs only the new ones. Exact values are kept for the first
        :data:`~bpdebug.core.storage.EXACT_EPOCHS` epochs; past them ask :meth:`loss_summary` (ValueError)."""
        n = epochs or self.epochs
        self._run(n)
        return self._history.exact(n)

    def loss_summary(self, epochs: int | None = None, buckets: int | None = None) -> LossSummary:
        """Least and greatest loss per bucket of epochs 1 … ``epochs`` (computed as needed): for plots."""
        n = epochs or self.epochs
        self._run(n)
        return self._history.summary(n, buckets)

    def loss(self, epoch: int) -> float:
        """The loss of ``epoch`` before its first update, exact whatever the epoch."""
        known = self._history.at(epoch)
        return known if known is not None else self.epoch(epoch).loss

    # ------------------------------------------------------------------------------------- divergence
    def divergence(self, epochs: int | None = None) -> Divergence | None:
        """The first step, within epochs 1 … ``epochs`` (default: the trace's), whose quantity holds a
        non-finite number, or None. Training finds the first stretch of epochs in which something stops being
        finite (parameters never become finite again once they are not); only its first such epoch is then
        replayed step by step to name the step and the cause."""
        n = self.epochs if epochs is None else epochs
        with self._lock:
            return self._find_divergence(n)

    def _find_divergence(self, n: int) -> Divergence | None:
        if self._divergence is not None:
            return self._divergence if self._divergence.epoch <= n else None
        if self._clean_through >= n:
            return None
        if self._flagged is None:
            self._run(n, until_flagged=True)
            if self._flagged is None:
                return None
        first, last = self._flagged
        if first > n:
            return None
        epoch = self._first_flagged_epoch(first, last)
        if epoch is None:
            return None
        self._clean_through = epoch - 1
        if epoch > n:
            return None
        self._divergence = self._locate(epoch)
        return self._divergence
