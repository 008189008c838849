"""What a scenario file becomes: the immutable :class:`Scenario` the engine runs, its :class:`Expectation` values,
and :class:`ScenarioError`, the one line ``FILE:LINE: KEY: what was wrong, what was expected`` of a refused file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .. import activations as act
from .. import losses, optimizers
from ..params import Param, ParamIndex
from ..safe_text import escape_controls
from ..training import Plan

if TYPE_CHECKING:  # read only where a scenario names a file
    from .. import datafiles

DEFAULT_TOLERANCE = 0.0005
MAX_EPOCHS = 1_000_000  # beyond this, `bpdebug check` of an expectation would not finish in any useful time


class ScenarioError(ValueError):
    """An invalid scenario. ``str()`` is the one line shown to the user."""

    def __init__(self, file: str, key: str, message: str, line: int | None = None) -> None:
        # escaped, so the message stays one line and a terminal shows a scenario's control characters, never obeys
        file, key, message = escape_controls(file), escape_controls(key), escape_controls(message)
        self.file, self.key, self.message, self.line = file, key, message, line
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {key}: {message}")


@dataclass(frozen=True)
class Expectation:
    """A figure a text printed, to be checked at the step where its quantity is computed."""

    index: int  # position in the file, 0-based
    quantity: str  # as written: "z2", "grad.w5", "w5.after"
    kind: str  # "z" | "a" | "delta" | "dadz" | "dE/da" | "error" | "loss" | "grad" | "param" | "param_after" |
    #            "change" | "state" (quantity.resolve); a whole matrix's grad / param / param_after / change: no param
    value: tuple[float, ...]  # printed value(s); one entry for a scalar
    scalar: bool  # written as a number rather than a list
    epoch: int
    example: int
    tolerance: float
    source: str | None = None
    layer: int | None = None  # for z / a / delta / dadz / dE/da; the l of a whole matrix theta_l
    param: Param | None = None  # for grad / param / param_after
    line: int | None = None
    unit: int | None = None  # one unit (1-based) of a layered quantity: z3[2]; None for the whole layer
    state: str | None = None  # for "state": the optimizer's name for it ("v", "m", "mhat", "vhat")
    shape: tuple[int, int] | None = None  # a whole matrix (grad.theta1, theta1.after): its rows and columns
    example_given: bool = False  # "loss" with `example` written: that example's update's loss, not the epoch's


@dataclass(frozen=True)
class InitSpec:
    """How the starting weights were generated, when they were."""

    method: str
    low: float
    high: float
    seed: int


@dataclass(frozen=True)
class Scenario:
    """A validated scenario. Arrays are read-only; nothing here changes after loading."""

    path: str
    title: str
    description: str
    layers: tuple[int, ...]
    activations: tuple[act.Activation, ...]  # one per non-input layer: index 0 is layer 2
    bias: bool
    loss: losses.Loss
    learning_rate: float
    epochs: int
    update: str  # "batch" | "online" | "mini-batch" (the plan's mode)
    frozen: frozenset[str]  # canonical names
    inputs: np.ndarray = field(repr=False, compare=False)  # examples × input units
    targets: np.ndarray = field(repr=False, compare=False)  # examples × output units
    weights: tuple[np.ndarray, ...] = field(repr=False, compare=False)  # theta1 … theta{L-1}
    init: InitSpec | None = None
    expectations: tuple[Expectation, ...] = ()
    params: ParamIndex = field(default=None, repr=False, compare=False)  # type: ignore[assignment]
    # every file read to build the run (today: the scenario itself); an export must never overwrite one
    source_files: tuple[Path, ...] = field(default=(), repr=False, compare=False)
    # the optimizer and the mini-batches; default: plain gradient descent on every example at once
    plan: Plan = field(default=None, repr=False, compare=False)  # type: ignore[assignment]
    # [data] file and [weights] file as they were read (size and SHA-256), for `check` and the re-check
    files: tuple[datafiles.FileStamp, ...] = field(default=(), repr=False, compare=False)
    classes: tuple[str, ...] | None = field(default=None, compare=False)  # one-hot order of a [data] file label column
    # bias = "shared": one bias per layer shared by its units (column 0 of each theta, all rows equal; ``bias`` is
    # True too). The gradient of the shared bias is the sum over the units it feeds.
    shared_bias: bool = False

    def __post_init__(self) -> None:
        if self.plan is None:
            object.__setattr__(self, "plan", Plan(optimizers.Hyperparameters(self.learning_rate),
                                                  batch_size=1 if self.update == "online" else None))

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def n_examples(self) -> int:
        return self.inputs.shape[0]

    @property
    def activation_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.activations)

    def activation(self, layer: int) -> act.Activation:
        """The activation of ``layer`` (2 … L)."""
        return self.activations[layer - 2]

    def param_value(self, p: Param, weights: tuple[np.ndarray, ...] | None = None) -> float:
        return float((weights or self.weights)[p.layer - 1][p.row, p.col])

    def same_shape(self, other: Scenario) -> bool:
        """True when positions in one scenario's trace mean the same in the other's (for reload)."""
        return (self.layers == other.layers and self.bias == other.bias and self.shared_bias == other.shared_bias
                and self.update == other.update
                and self.n_examples == other.n_examples and self.plan.batch_size == other.plan.batch_size)

    def verify_files(self) -> None:
        """Refuse (ScenarioError) a data or weights file that changed since the scenario was read."""
        from .. import datafiles  # only a scenario with files has any to verify

        for stamp in self.files:
            try:
                datafiles.verify(stamp)
            except datafiles.DataFileError as exc:
                raise ScenarioError(self.path, ".".join(exc.key), exc.message) from None
