"""Exports: transcripts in every format of the registry, the pass drawn as a picture, exercise sheets and the
weights, never over a file read to build the run; each returns a :class:`~.values.Note`. The export dialog's
choices (:class:`~.outcomes.ExportFormat`) are in :mod:`.outcomes`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...core.engine import Trace

if TYPE_CHECKING:
    from ...transcript import WhatIf
    from .outcomes import ExportFormat

from ...text.numbers import plural
from .base import SessionState
from .values import SYNC_EPOCHS, Note, bundled_scenarios

WEIGHT_FORMATS = ("npz", "safetensors")  # the weights after the run, as [weights] file reads them


EXERCISE = "-exercise"  # the key of an exercise sheet: md-exercise


def export_formats() -> tuple[ExportFormat, ...]:
    """Every export the dialog offers, from the transcript formats' registry: each format, each picture drawn
    from one, an exercise sheet in each format that writes one, and the weights."""
    from ...transcript import EXERCISE_FORMATS, FORMATS, PICTURES
    from .outcomes import ExportFormat

    out = [ExportFormat(f, f, f) for f in FORMATS]
    out += [ExportFormat(p, f"{p} (the {source} picture drawn by Graphviz)", p) for p, source in PICTURES.items()
            if source in FORMATS]
    out += [ExportFormat(f + EXERCISE, f"{f} exercise sheet (epoch 1, results blanked)", f) for f in EXERCISE_FORMATS]
    out += [ExportFormat(w, f"{w} (the weights after the run)", w) for w in WEIGHT_FORMATS]
    return tuple(out)


def _same_file(a: str | Path, b: str | Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve() if str(a) and str(b) else False


class Exports(SessionState):
    """Transcripts, pictures, exercise sheets and weights, written where the session allows."""

    # -------------------------------------------------------------------------------------------- export
    def export_stem(self) -> str:
        """Where a transcript goes by default: next to the scenario (the working folder for the bundled one)."""
        if self.path.resolve().parent == bundled_scenarios().resolve():
            return str(Path.cwd() / self.path.stem)
        return str(self.path.with_suffix(""))

    def protected_files(self) -> tuple[Path, ...]:
        """The files read to build the run: an export never overwrites them."""
        return (self.path, *self.scenario.source_files)

    def is_protected(self, path: str | Path) -> bool:
        return any(_same_file(path, p) for p in self.protected_files())

    @staticmethod
    def would_overwrite(path: str | Path) -> bool:
        """Whether writing ``path`` replaces an existing regular file (worth asking first)."""
        return os.path.isfile(path)

    def export_epochs(self) -> int:
        return max(self.scenario.epochs, self.step.epoch)

    def refusal(self, path: str | Path) -> Note | None:
        """Why the transcript may not be written to ``path`` (a file read to build the run), or None."""
        if self.is_protected(path):
            return Note(f"{path}: not overwritten: bpdebug read it to build this run; choose another path", "error")
        return None

    def what_if(self) -> WhatIf | None:
        """The what-if fork being shown, as a transcript names it (None: the original run shows)."""
        from ...transcript import WhatIf

        if not self.showing_fork:
            return None
        return WhatIf(self.path.name, self.run.edits, self.run.offset + 1)

    def export_refusal(self, fmt: str, epochs: int) -> Note | None:
        """Why a transcript in ``fmt`` cannot cover ``epochs`` epochs (the command line's limit), or None."""
        from ...transcript import PICTURES, too_long

        one = fmt in WEIGHT_FORMATS or fmt in PICTURES or fmt.endswith(EXERCISE)  # weights, a pass, epoch 1
        why = None if one else too_long(fmt, epochs)
        return None if why is None else Note(f"{plural(epochs, 'epoch')}: {why}", "error", 8)

    @staticmethod
    def export_is_long(epochs: int) -> bool:
        """Whether an export of ``epochs`` epochs trains long enough to show progress (and stop on Escape)."""
        return epochs > SYNC_EPOCHS

    def export(self, fmt: str, path: str | Path, epochs: int, progress: Callable[[int, int], None] | None = None,
               should_stop: Callable[[], bool] | None = None) -> Note:
        """Render the transcript on a trace of its own (so this may run in a worker) and write it; never over a
        file read to build the run, nor a document longer than the command line allows. ``progress(done,
        total)`` follows the training, and ``should_stop()`` stops it (nothing is written then)."""
        refused = self.refusal(path) or self.export_refusal(fmt, epochs)
        if refused is not None:
            return refused
        from ...core.atomic import OutputError, write_output
        from ...transcript import Options, render

        if fmt in WEIGHT_FORMATS:  # the weights after the epoch, for [weights] file or PyTorch
            from ...core.datafiles import write_weights
            from ...core.engine import train

            try:
                with np.errstate(all="ignore"):
                    weights = train(self.scenario, epochs).weights
                write_weights(path, weights, self.scenario.bias)
            except OSError as exc:
                return Note(f"cannot write {path}: {exc.strerror or exc}", "error")
            return Note(f"wrote the weights after epoch {epochs} ({fmt}) to {path}")
        from ...transcript import PICTURES

        if fmt in PICTURES:
            return self._export_picture(fmt, PICTURES[fmt], path)
        exercise = None
        if fmt.endswith(EXERCISE):  # an exercise sheet: the first epoch, every part blanked
            from ...transcript.document import EXERCISE_PARTS

            fmt, exercise, epochs = fmt.removesuffix(EXERCISE), frozenset(EXERCISE_PARTS), 1
        trace = Trace(self.scenario)
        with np.errstate(all="ignore"):
            reached = trace.advance(epochs, progress, should_stop)
        if reached < epochs:
            return Note(f"export stopped at epoch {reached} of {epochs}; nothing written", timeout=4)
        try:
            text = render(fmt, trace, Options(epochs, what_if=self.what_if(), exercise=exercise))
            write_output(path, text, protect=self.protected_files())
        except OutputError as exc:
            return Note(str(exc), "error")
        except OSError as exc:
            return Note(f"cannot write {path}: {exc.strerror or exc}", "error")
        except Exception as exc:  # noqa: BLE001 - a failed export must not end the session
            return Note(f"export failed: {type(exc).__name__}: {exc}", "error")
        what = f"{fmt} exercise sheet" if exercise else f"{fmt} transcript ({plural(epochs, 'epoch')})"
        wrote = f"wrote the {what} to {path}"
        if fmt in ("py", "ipynb"):  # their code trains from scratch: a continued what-if fork's state is not in it
            from ...core.scenario_writer import restarted

            differs = restarted(self.scenario, "the exported code", "that code trains from epoch 1")
            if differs:
                return Note(f"{wrote}; {differs}", "warning", 12)
        return Note(wrote)

    def _export_picture(self, fmt: str, source: str, path: str | Path) -> Note:
        """The current pass drawn (its epoch and example) in picture format ``fmt``, from format ``source``."""
        import subprocess

        from ...core.atomic import OutputError, write_output
        from ...transcript import dot

        step = self.step
        example = step.example or step.record.rows[0] + 1
        try:
            text = dot.graph(Trace(self.scenario, step.epoch), step.epoch, example, (self.param,))
            text = dot.to_svg(text)
            write_output(path, text, protect=self.protected_files())
        except dot.GraphvizMissing as exc:
            return Note(f"{fmt}: {exc}; nothing written", "error", 8)
        except OutputError as exc:
            return Note(str(exc), "error")
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            return Note(f"cannot write {path}: {exc}", "error")
        return Note(f"wrote the {fmt} of epoch {step.epoch}, example {example} ({source} drawn by Graphviz) to {path}")
