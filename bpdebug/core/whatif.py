"""What-if edits: change a parameter, the learning rate, an input or a target, and fork the run.

An edit is ``NAME=VALUE``:

- a parameter by its short or canonical name: ``w5=0.5``, ``theta2[1,1]=0.5``, ``b3=0``;
- ``learning_rate=1``;
- an input ``xI`` (input unit I of example 1) or ``xI@N`` (of example N), or ``xI@all`` (of every example):
  ``x1=0.3``, ``x2@3=1``;
- a target ``tK``, ``tK@N``, ``tK@all`` the same way (output unit K).

:func:`fork` applies edits to the weights a run had at the start of an epoch and returns a new
:class:`Scenario` whose epoch 1 is that epoch and whose training continues the run's (the optimizer's state,
the update count, the shuffled order); the scenario file is never touched (see scenario_writer to save, and its
:func:`~.scenario_writer.restarted` for what a saved fork cannot carry).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from enum import Enum

import numpy as np

from .engine import Trace
from .params import Param
from .scenario import Scenario
from .training import Resume


class EditError(ValueError):
    """An edit that cannot be applied. ``str()`` is one line naming it and what was expected."""

    def __init__(self, text: str, message: str) -> None:
        self.text, self.message = text, message
        super().__init__(f"{text}: {message}")


class Target(Enum):
    PARAMETER = "parameter"
    LEARNING_RATE = "learning_rate"
    INPUT = "input"
    TARGET = "target"


@dataclass(frozen=True)
class Edit:
    """One parsed edit."""

    target: Target
    text: str  # canonical: "w5=0.5", "x1@2=0.3", "learning_rate=1"
    value: float
    param: Param | None = None
    unit: int | None = None  # 1-based input / output unit
    example: int | None = None  # 1-based; None = every example

    @property
    def name(self) -> str:
        return self.text.split("=", 1)[0]


_EDIT = re.compile(r"^\s*(?P<name>[^=]+?)\s*=\s*(?P<value>\S+)\s*$")
_DATA = re.compile(r"^(?P<what>[xt])(?P<unit>\d+)(?:@(?P<example>\d+|all))?$")
EXPECTED = ("NAME=VALUE with NAME a parameter (w5, theta2[1,1]), learning_rate, an input xI[@N|@all] or a "
            "target tK[@N|@all]")


def parse_edit(text: str, scenario: Scenario) -> Edit:
    """Parse ``NAME=VALUE`` against a scenario; EditError names it and what was expected."""
    m = _EDIT.match(text) if isinstance(text, str) else None
    if m is None:
        raise EditError(str(text), f"expected {EXPECTED}")
    name, raw = m["name"], m["value"]
    try:
        value = float(raw)
    except ValueError:
        raise EditError(text.strip(), f"value '{raw}' is not a number, expected a finite number") from None
    if not math.isfinite(value):
        raise EditError(text.strip(), f"value {raw} is not finite, expected a finite number")
    if name == "learning_rate":
        if value <= 0:
            raise EditError(text.strip(), f"learning_rate {raw}: expected a number > 0")
        return Edit(Target.LEARNING_RATE, f"learning_rate={value!r}", value)
    d = _DATA.match(name)
    if d:
        data = scenario.inputs if d["what"] == "x" else scenario.targets
        what = "input" if d["what"] == "x" else "output"
        unit = int(d["unit"])
        if not 1 <= unit <= data.shape[1]:
            raise EditError(text.strip(), f"no {what} unit {unit}, expected {d['what']}1..{d['what']}{data.shape[1]}")
        example: int | None = 1
        if d["example"] == "all":
            example = None
        elif d["example"] is not None:
            example = int(d["example"])
            if not 1 <= example <= data.shape[0]:
                raise EditError(text.strip(), f"no example {example}, expected @1..@{data.shape[0]} or @all")
        at = "@all" if example is None else (f"@{example}" if example != 1 else "")
        return Edit(Target.INPUT if d["what"] == "x" else Target.TARGET, f"{d['what']}{unit}{at}={value!r}",
                    value, unit=unit, example=example)
    p = scenario.params.find(name)
    if p is None:
        raise EditError(text.strip(), f"unknown name '{name}', expected {EXPECTED}; parameters are "
                        f"{scenario.params.describe_names()}")
    return Edit(Target.PARAMETER, f"{p.short}={value!r}", value, param=p)


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=float)
    a.setflags(write=False)
    return a


def apply_edits(scenario: Scenario, edits: tuple[Edit, ...] | list[Edit],
                weights: tuple[np.ndarray, ...] | None = None) -> Scenario:
    """The scenario with ``weights`` (default its own) as starting weights and the edits applied."""
    ws = [np.array(w, dtype=float) for w in (weights if weights is not None else scenario.weights)]
    inputs, targets = np.array(scenario.inputs, dtype=float), np.array(scenario.targets, dtype=float)
    lr = scenario.learning_rate
    for e in edits:
        if e.target is Target.PARAMETER:
            assert e.param is not None
            ws[e.param.layer - 1][e.param.cells] = e.value  # a shared bias: its whole column
        elif e.target is Target.LEARNING_RATE:
            lr = e.value
        else:
            assert e.unit is not None
            data = inputs if e.target is Target.INPUT else targets
            rows = slice(None) if e.example is None else e.example - 1
            data[rows, e.unit - 1] = e.value
    plan = dataclasses.replace(scenario.plan, hyper=scenario.plan.hyper.replace(learning_rate=lr))
    return dataclasses.replace(scenario, weights=tuple(_readonly(w) for w in ws), inputs=_readonly(inputs),
                               targets=_readonly(targets), learning_rate=lr, init=None, plan=plan)


def fork(scenario: Scenario, start: Trace | tuple[np.ndarray, ...], edits: tuple[Edit, ...] | list[Edit],
         epoch: int = 1) -> Scenario:
    """A new scenario that continues ``scenario``'s run from the start of ``epoch`` with ``edits`` applied.

    ``start`` is the original run's trace: the fork starts from its weights before ``epoch`` and continues its
    training (:class:`~.training.Resume`): the optimizer's state then (velocity, Adam's moments), the update
    count ``t`` and the shuffled order of each epoch go on from the original's, so a fork whose edit changes
    nothing repeats the original's numbers bit for bit. ``start`` may instead be bare weights: the fork then
    starts training afresh from them (a zero state, update 1, epoch 1's order). The fork's epoch 1 is the
    original's ``epoch``; it covers the epochs the original had left (at least 1). Expectations are dropped when
    forking past epoch 1 (their epochs would mean other epochs)."""
    if epoch < 1:
        raise ValueError(f"epoch {epoch}: epochs start at 1")
    forked = apply_edits(scenario, edits, start.weights_before(epoch) if isinstance(start, Trace) else start)
    plan = forked.plan
    if isinstance(start, Trace) and (epoch > 1 or plan.resume is not None):
        state = start.position_before(epoch)[1]
        plan = dataclasses.replace(plan, resume=Resume(plan.epochs_before + epoch - 1, state))
    shown = ", ".join(e.text for e in edits) or "no edits"
    where = f" from epoch {epoch}" if epoch > 1 else ""
    return dataclasses.replace(
        forked, title=f"{scenario.title} (what if {shown}{where})", plan=plan,
        epochs=max(1, scenario.epochs - epoch + 1),
        expectations=scenario.expectations if epoch == 1 else ())

