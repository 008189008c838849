"""Losses, as entries of the one registry (:mod:`bpdebug.core.functions`); kept for its names."""

from __future__ import annotations

from .functions import LOSSES, REDUCTIONS, Loss, formula_loss
from .functions import loss as get

NAMES = LOSSES  # live: a loss registered later is known to the loader too

__all__ = ["NAMES", "REDUCTIONS", "Loss", "formula_loss", "get"]
