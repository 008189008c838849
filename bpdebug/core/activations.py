"""Activations, as entries of the one registry (:mod:`bpdebug.core.functions`); kept for its names."""

from __future__ import annotations

from .functions import ACTIVATIONS, Activation, custom
from .functions import activation as builtin

BUILTIN = ACTIVATIONS  # live: an activation registered later is known to the loader too

__all__ = ["BUILTIN", "Activation", "builtin", "custom"]
