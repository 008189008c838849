"""The NumPy engine: the ordered steps of training, and a fast path that skips them.

Everything numeric is computed by :func:`compute_pass` (:mod:`.compute`), one update's worth of work
(forward pass, error terms, backward pass, gradients, update). The stepped path (:class:`Trace`, in
:mod:`.trace`) wraps each pass in a :class:`PassRecord` and cuts it into :class:`Step` values a view walks
one at a time; the fast path (:func:`train`) calls the very same function and keeps only the weights, so
both agree bit for bit. Long runs keep bounded memory (:mod:`.storage`); the first non-finite number of a run
is a :class:`Divergence` (:mod:`.divergence`); quantity names are :class:`Quantity` values (:mod:`.quantity`).

This module gathers them: ``from bpdebug.core.engine import Trace, Step, compute_pass, train, …``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .compute import (
    Network,
    PassNumbers,
    TrainResult,
    all_finite,
    batch_loss,
    compute_pass,
    forward,
    train,
)
from .quantity import Kind, Phase, Quantity, StepKind, UpdateMode, When
from .storage import Checkpoints, LossHistory, LossSummary
from .trace import (
    PHASES,
    EpochRecord,
    ExpectationResult,
    PassRecord,
    Step,
    StepTemplate,
    Trace,
    quantity,
    step_templates,
)

if TYPE_CHECKING:
    from .divergence import Divergence

__all__ = [
    "PHASES", "Checkpoints", "Divergence", "EpochRecord", "ExpectationResult", "Kind", "LossHistory",
    "LossSummary", "Network", "PassNumbers", "PassRecord", "Phase", "Quantity", "Step", "StepKind",
    "StepTemplate", "Trace", "TrainResult", "UpdateMode", "When", "all_finite", "batch_loss", "compute_pass",
    "forward", "quantity", "step_templates", "train",
]


if not TYPE_CHECKING:  # mypy reads the import above instead, and so still flags any other name

    def __getattr__(name: str) -> object:
        """Divergence on first use (PEP 562): only a run with a non-finite number needs :mod:`.divergence`, so
        a start-up that imports the engine does not load it."""
        if name == "Divergence":
            from .divergence import Divergence

            return Divergence
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
