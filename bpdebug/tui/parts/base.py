"""The state every part of a session reads (:class:`SessionState`): the runs, the one shown and where the walk is.
Each part is a class over it; what one part asks of another is declared here for the type checker only."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ...core.engine import ExpectationResult, Step, Trace
from ...core.params import Param
from ...core.scenario import Scenario
from .values import Move, Note, Walk

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ...core.diagnosis import Diagnosis
    from ..watching import Watch
    from .outcomes import BreakEntry
    from .runs import Run


class SessionState:
    """What the parts share: the scenario file, the runs (original, fork, the one shown), the shown run's
    scenario, trace and printed figures, and the walk."""

    path: Path
    original: Run
    forked: Run | None
    run: Run  # the run shown: the original or the fork
    scenario: Scenario
    trace: Trace
    results: tuple[ExpectationResult, ...]
    generation: int
    _generations: int
    _diagnoses: dict[int, dict[int, Diagnosis]]
    _diagnosis_failed: dict[int, str]
    _walk: Walk
    _pending: bool
    units_on: bool

    if TYPE_CHECKING:  # provided by the parts (and the session) that own them
        @property
        def step(self) -> Step: ...

        @property
        def selected(self) -> Param: ...

        @property
        def param(self) -> str: ...

        @property
        def unit(self) -> int | None: ...

        @property
        def unit_count(self) -> int: ...

        @property
        def _offset(self) -> int: ...

        @property
        def showing_fork(self) -> bool: ...

        def _land(self, target: int, again: str) -> Move: ...

        def _set_unit(self, unit: int | None) -> None: ...

        def _unit_named(self, name: str | None) -> int | None: ...

        def _make_run(self, scenario: Scenario, trace: Trace, offset: int = 0, edits: tuple[str, ...] = ()) -> Run: ...

        def _show(self, run: Run) -> None: ...

        def _set_scenario(self, scenario: Scenario, epochs: int | None = None) -> None: ...

        def switch_run(self) -> Move: ...

        def export_stem(self) -> str: ...

        def refusal(self, path: str | Path) -> Note | None: ...

        def _parse_again(self, entries: list[BreakEntry] | None) -> list[BreakEntry] | None: ...

        def _parse_watches(self, names: Iterable[str]) -> list[Watch]: ...

        def _divergence_index(self, epochs: int) -> int | None: ...

        @property
        def loss_epochs(self) -> int: ...

        def protected_files(self) -> tuple[Path, ...]: ...
