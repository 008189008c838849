"""The command line: ``bpdebug [SCENARIO]``, ``bpdebug check``, ``bpdebug export``.

A thin shell over the core. Every failure the user can cause ends in one line on stderr and a
non-zero status (2 for an invalid scenario or bad arguments), never a traceback.
"""

from __future__ import annotations

import gc
import io
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # parsed by cli_args, imported only for a command or --help
    import argparse

EXIT_OK, EXIT_EXPECTATION, EXIT_INVALID = 0, 1, 2
FRAME_SWITCH_INTERVAL = 0.0005  # seconds: how often a thread waiting for the GIL gets it while the app runs (cmd_app)


def bundled_blog() -> Path:
    """The blog scenario shipped inside the package (what ``bpdebug`` opens with no argument)."""
    from importlib import resources

    return Path(str(resources.files("bpdebug") / "scenarios" / "blog.toml"))


def read_or_exit(path: str, any_kind: bool = False):
    """The scenario at ``path`` (``any_kind``: a network or a graph, as ``load_any`` decides), or its one-line
    error on stderr and status 2."""
    from .core.scenario import ScenarioError, load, load_any

    try:
        return (load_any if any_kind else load)(path)
    except ScenarioError as exc:
        print(str(exc), file=sys.stderr)
        raise SystemExit(EXIT_INVALID) from None


def _load(path: str):
    from .core import threads

    threads.apply()  # one BLAS thread unless the user set a count (before NumPy loads: see core/threads.py)
    return read_or_exit(path)


def cmd_check(args: argparse.Namespace) -> int:
    import numpy as np

    from .core.engine import Trace
    from .text.summary import summary

    scenario = _load(args.scenario)
    every = getattr(args, "every", False)
    if every and not getattr(args, "gradcheck", False):
        print("bpdebug check: --all: only with --gradcheck", file=sys.stderr)
        return EXIT_INVALID
    if getattr(args, "gradcheck", False) and not getattr(args, "json", False):
        return cmd_gradcheck(scenario, every)
    with np.errstate(all="ignore"):  # a diverging run is reported in one line, never as RuntimeWarnings
        if getattr(args, "json", False):
            from .text.summary import check_json

            text, ok = check_json(Trace(scenario))
            if getattr(args, "gradcheck", False):  # one object still: the check's, with the gradient check added
                text, ok = _with_gradcheck(text, scenario, every)
        else:
            text, ok = summary(Trace(scenario))
    _verify(scenario)
    print(text)
    return EXIT_OK if ok else EXIT_EXPECTATION


def _with_gradcheck(text: str, scenario, every: bool = False) -> tuple[str, bool]:
    """``check --json --gradcheck``: the check's object with ``gradcheck`` added; passing is the gradient
    check's, as with ``--gradcheck`` alone."""
    import json

    from .core.gradcheck import check_scenario
    from .text.run_report import gradcheck_record

    report = check_scenario(scenario, every)
    doc = json.loads(text)
    doc["gradcheck"] = gradcheck_record(report)
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False), report.passes


def cmd_gradcheck(scenario, every: bool = False) -> int:
    from .core.gradcheck import check_scenario
    from .text.run_report import render_gradcheck

    with Progress("gradient check", "parameters") as progress:
        report = check_scenario(scenario, every, progress)
    sys.stdout.write(render_gradcheck(report, scenario))
    return EXIT_OK if report.passes else EXIT_EXPECTATION


def cmd_run(args: argparse.Namespace) -> int:
    from .core.conditions import ConditionError, parse_condition
    from .core.whatif import EditError, parse_edit
    from .text.run_report import render_json, render_text, run

    scenario = _load(args.scenario)
    refused = _epochs_refused(args.epochs)
    if refused:
        print(f"bpdebug run: {refused}", file=sys.stderr)
        return EXIT_INVALID
    try:
        edits = tuple(parse_edit(text, scenario) for text in args.edits)
    except EditError as exc:
        print(f"bpdebug run: --set {exc}", file=sys.stderr)
        return EXIT_INVALID
    try:
        conditions = tuple(parse_condition(text, scenario) for text in args.conditions)
    except ConditionError as exc:
        print(f"bpdebug run: --break {exc}", file=sys.stderr)
        return EXIT_INVALID
    with Progress("training", "epochs", enabled=not args.json) as progress:
        report = run(scenario, args.epochs, conditions, edits, progress=progress)
    sys.stdout.write(render_json(report) if args.json else render_text(report))
    return report.exit_status


def _epochs_refused(epochs: int | None) -> str | None:
    """Why ``--epochs`` cannot be run, in one line (the cap a scenario file's ``epochs`` has), or None."""
    from .core.scenario import MAX_EPOCHS

    if epochs is None or 1 <= epochs <= MAX_EPOCHS:
        return None
    return f"--epochs {epochs}: expected a whole number from 1 to {MAX_EPOCHS:,} (as [training] epochs)"


class Progress:
    """A line on the terminal for long work: ``training: 12,345 of 1,000,000 epochs (1%), about 3m 20s left``.
    Shown only when standard output and standard error are both a terminal, once the work has taken a second,
    at most ten times a second, and wiped when the work ends. Called as ``progress(done, total)``."""

    DELAY, INTERVAL = 1.0, 0.1  # seconds

    def __init__(self, what: str, unit: str, enabled: bool = True) -> None:
        self.what, self.unit = what, unit
        self.enabled = enabled and _is_terminal(sys.stdout) and _is_terminal(sys.stderr)
        self.shown = False
        self.start = self.last = 0.0

    def __enter__(self) -> Progress:
        import time

        self.start = self.last = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()

    def __call__(self, done: int, total: int) -> None:
        import time

        now = time.monotonic()
        if not self.enabled or now - self.start < self.DELAY or now - self.last < self.INTERVAL:
            return
        self.last = now
        sys.stderr.write("\r\x1b[K" + progress_line(self.what, self.unit, done, total, now - self.start))
        sys.stderr.flush()
        self.shown = True


def progress_line(what: str, unit: str, done: int, total: int, elapsed: float) -> str:
    """``gradient check: 1,234 of 101,770 parameters (1%), about 8m 55s left``."""
    share = done / total if total else 1.0
    line = f"{what}: {done:,} of {total:,} {unit} ({share:.0%})"
    if 0 < done < total:
        left = elapsed * (total - done) / done
        minutes, seconds = divmod(round(left), 60)
        hours, minutes = divmod(minutes, 60)
        line += ", about " + (f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {seconds:02d}s" if minutes
                              else f"{seconds}s") + " left"
    return line


def _is_terminal(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError, OSError):
        return False


def _verify(scenario) -> None:
    """Refuse, in one line and with status 2, a data or weights file that changed since it was read."""
    from .core.scenario import ScenarioError

    try:
        scenario.verify_files()
    except ScenarioError as exc:
        print(str(exc), file=sys.stderr)
        raise SystemExit(EXIT_INVALID) from None


WEIGHT_FORMATS = ("npz", "safetensors")


def _export_weights(args: argparse.Namespace, scenario, epochs: int) -> int:
    """``--format npz|safetensors``: the weights after ``epochs`` epochs, in the layouts ``[weights] file`` reads."""
    import numpy as np

    from .core.datafiles import write_weights
    from .core.engine import train
    from .core.safe_text import escape_controls

    if not args.output:
        print(f"bpdebug export: --format {args.format}: a binary file, expected -o PATH.{args.format}", file=sys.stderr)
        return EXIT_INVALID
    path = Path(args.output)
    if path.suffix.lower() != f".{args.format}":
        path = path.with_name(path.name + f".{args.format}")
    if any(path.absolute() == f or path.resolve() == f.resolve() for f in scenario.source_files):
        print(f"bpdebug export: -o {escape_controls(str(path))}: the scenario reads this file, expected another "
              "path", file=sys.stderr)
        return EXIT_INVALID
    with np.errstate(all="ignore"):
        weights = train(scenario, epochs).weights
    _verify(scenario)
    try:
        write_weights(path, weights, scenario.bias)
    except OSError as exc:
        print(f"bpdebug export: -o {escape_controls(str(path))}: cannot be written ({exc.strerror or exc})",
              file=sys.stderr)
        return EXIT_INVALID
    print(f"wrote {escape_controls(str(path))} (the weights after epoch {epochs})", file=sys.stderr)
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    import numpy as np

    from .core.engine import Trace
    from .transcript import FORMATS, Options, render, too_long
    from .transcript.json_format import chunks

    if args.format not in FORMATS and args.format != "svg" and args.format not in WEIGHT_FORMATS:
        print(f"bpdebug export: --format {args.format}: not available, expected one of "
              f"{', '.join((*FORMATS, 'svg', *WEIGHT_FORMATS))}", file=sys.stderr)
        return EXIT_INVALID
    ok, exercise = _exercise_parts(args)
    if not ok:
        return EXIT_INVALID
    refused = _epochs_refused(args.epochs)
    if refused is None and args.epochs is not None and (exercise is not None or args.format in ("dot", "svg")):
        refused = (f"--epochs {args.epochs}: an exercise sheet is epoch 1, expected no --epochs with --exercise"
                   if exercise is not None else
                   f"--epochs {args.epochs}: --format {args.format} draws one pass, expected --epoch N to choose "
                   "its epoch")
    if refused:
        print(f"bpdebug export: {refused}", file=sys.stderr)
        return EXIT_INVALID
    scenario = _load(args.scenario)
    epochs = args.epochs if args.epochs is not None else scenario.epochs
    if args.format in WEIGHT_FORMATS:
        return _export_weights(args, scenario, epochs)
    refused = too_long(args.format, epochs, "--format json")
    if refused is not None:
        print(f"bpdebug export: --epochs {epochs}: {refused}", file=sys.stderr)
        return EXIT_INVALID
    weights = None
    if args.weight:
        found = []
        for name in args.weight:
            p = scenario.params.find(name)
            if p is None:
                print(f"bpdebug export: --weight {name}: unknown parameter in {scenario.path}, expected "
                      f"{scenario.params.describe_names()}", file=sys.stderr)
                return EXIT_INVALID
            found.append(p.canonical)
        weights = tuple(dict.fromkeys(found))
    if args.format in ("dot", "svg"):
        graph = _graph(args, scenario, weights or ())
        if graph is None:
            return EXIT_INVALID
        pieces: Iterable[str] = (graph,)
    elif args.epoch is not None or args.example is not None:
        print(f"bpdebug export: --{'epoch' if args.epoch is not None else 'example'} draws one pass: "
              "expected --format dot or svg with it", file=sys.stderr)
        return EXIT_INVALID
    else:
        pieces = ()
    trace = Trace(scenario, epochs)
    with np.errstate(all="ignore"):  # a diverging run says so in the transcript, never as RuntimeWarnings
        if args.format == "json":
            pieces = chunks(trace, epochs)
        elif not pieces:
            pieces = (render(args.format, trace, Options(epochs, weights, args.full, exercise)),)
        if args.output:
            _verify(scenario)
        return emit(pieces, args.output, scenario.source_files)


def emit(pieces: Iterable[str], output: str | None, protect: Iterable[Path]) -> int:
    """``bpdebug export``'s text to ``output`` (never over a file in ``protect``, a one-line error if it cannot
    be written) or to standard output."""
    from .core.atomic import OutputError, write_output
    from .core.safe_text import escape_controls

    if output:
        try:
            write_output(Path(output), pieces, protect=protect)
        except OutputError as exc:
            print(f"bpdebug export: -o {exc}", file=sys.stderr)
            return EXIT_INVALID
        print(f"wrote {escape_controls(output)}", file=sys.stderr)
    else:
        for piece in pieces:
            sys.stdout.write(piece)
    return EXIT_OK


def _graph(args: argparse.Namespace, scenario, weights: tuple[str, ...]) -> str | None:
    """The dot (or svg) of one example's pass, or None after a one-line error."""
    from .core.engine import Trace
    from .transcript import dot

    epoch = 1 if args.epoch is None else args.epoch
    example = 1 if args.example is None else args.example
    if epoch < 1:
        print(f"bpdebug export: --epoch {epoch}: expected a whole number >= 1", file=sys.stderr)
        return None
    if not 1 <= example <= scenario.n_examples:
        print(f"bpdebug export: --example {example}: expected 1..{scenario.n_examples} "
              f"({scenario.n_examples} example{'s' if scenario.n_examples != 1 else ''} in {scenario.path})",
              file=sys.stderr)
        return None
    return picture(args.format, dot.graph(Trace(scenario, epoch), epoch, example, weights))


def picture(fmt: str, text: str) -> str | None:
    """A dot graph as ``fmt`` asks (dot, or svg drawn by Graphviz), or None after a one-line error."""
    import subprocess

    from .transcript import dot

    if fmt == "svg":
        try:
            return dot.to_svg(text)
        except dot.GraphvizMissing as exc:
            print(f"bpdebug export: --format svg {exc}", file=sys.stderr)
            return None
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            print(f"bpdebug export: --format svg: {exc}", file=sys.stderr)
            return None
    return text


def cmd_serve(args: argparse.Namespace) -> int:
    from .tui.server import ServeError, serve

    try:
        return serve(args.scenarios, host=args.host, port=args.port, max_sessions=args.max_sessions)
    except ServeError as exc:
        print(f"bpdebug serve: {exc}", file=sys.stderr)
        return EXIT_INVALID


def _exercise_parts(args: argparse.Namespace) -> tuple[bool, frozenset[str] | None]:
    """(valid, the parts an exercise sheet blanks; None: not an exercise), after a one-line error if not valid."""
    from .core.messages import either
    from .transcript import EXERCISE_FORMATS
    from .transcript.exercise import EXERCISE_PARTS

    if args.blank is not None and not args.exercise:
        print("bpdebug export: --blank: only with --exercise", file=sys.stderr)
        return False, None
    if not args.exercise:
        return True, None
    if args.format not in EXERCISE_FORMATS:
        print(f"bpdebug export: --exercise: not available as {args.format}, expected --format "
              f"{either(EXERCISE_FORMATS)}", file=sys.stderr)
        return False, None
    if args.blank is None:
        return True, frozenset(EXERCISE_PARTS)
    parts = [p.strip() for p in args.blank.split(",") if p.strip()]
    wrong = [p for p in parts if p not in EXERCISE_PARTS]
    if wrong or not parts:
        print(f"bpdebug export: --blank {args.blank}: {'unknown part ' + wrong[0] if wrong else 'nothing named'}, "
              f"expected some of {', '.join(EXERCISE_PARTS)} separated by commas", file=sys.stderr)
        return False, None
    return True, frozenset(parts)


def cmd_practice(args: argparse.Namespace) -> int:
    import numpy as np

    from .core.engine import Trace
    from .text.practice import PracticeSession

    scenario = _load(args.scenario)
    param = None
    if args.param is not None:
        param = scenario.params.find(args.param)
        if param is None:
            print(f"bpdebug practice: --param {args.param}: unknown parameter in {scenario.path}, expected "
                  f"{scenario.params.describe_names()}", file=sys.stderr)
            return EXIT_INVALID
    with np.errstate(all="ignore"):
        session = PracticeSession(Trace(scenario), param)
    return practise(session, scenario.title, args)


def practise(session, title: str, args: argparse.Namespace) -> int:
    """Ask a practice session's questions on standard input (a network's or a graph's: the same interface)."""
    import json

    import numpy as np

    out = sys.stderr if args.json else sys.stdout
    with np.errstate(all="ignore"):
        print(f"Practice: {title}. Type each result's numbers separated by spaces; h for a hint, r to "
              "reveal, q to stop.", file=out)
        while session.current is not None:
            print(session.prompt(), file=out)
            out.write("> ")
            out.flush()
            line = sys.stdin.readline()
            if not line:
                print(file=out)
                break
            command = line.strip().lower()
            if command in ("q", "quit"):
                break
            if command in ("h", "hint"):
                print("hint: " + session.hint(), file=out)
                continue
            feedback = session.reveal() if command in ("r", "reveal") else session.answer(line)
            print(feedback.message, file=out)
        print(session.score_line(), file=out)
    if args.json:
        print(json.dumps(session.record(), indent=2, ensure_ascii=False, allow_nan=False))
    return EXIT_OK


def cmd_app(path: str | None) -> int:
    scenario_path = path or str(bundled_blog())
    # Start-up (NumPy, Textual, the scenario, the screen) builds ~90,000 objects that live as long as the app:
    # a full collection among them frees nothing and costs ~20 ms. Collection resumes after the first frame
    # (tui.app.startup_done freezes what start-up built), or here if the app ends before one.
    gc.disable()
    # Textual writes each frame from its own thread, which must take the GIL from the UI thread; by default
    # Python hands it over every 5 ms, so a frame waited up to 5 ms while the UI thread laid out the resize
    # that follows the first frame (or a step's repaint): it reached the writer 4-5 ms after it was made, 0.6 ms
    # with this interval. A run in a worker yields to the UI thread more often: 3,000,000 epochs of the blog
    # (g) took 0.3-0.6% longer, within the noise of two runs each.
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(FRAME_SWITCH_INTERVAL)
    try:
        from .cli_graph import looks_like_graph

        # refuse a bad file with the one-line error before any screen; a graph opens the app's graph screen
        scenario = read_or_exit(scenario_path, True) if looks_like_graph(scenario_path) else _load(scenario_path)
        from .tui.app import make_app

        app = make_app(scenario_path, scenario)  # read once
        app.run()
    finally:
        gc.enable()
        sys.setswitchinterval(switch_interval)
    return int(app.return_code or 0)


def _run(argv: list[str]) -> int:
    from .cli_graph import graph_aware  # a [graph] scenario goes to the graph's own commands

    commands = graph_aware({"check": cmd_check, "export": cmd_export, "run": cmd_run, "practice": cmd_practice,
                            "serve": cmd_serve})
    if argv and argv[0] in commands or any(a in ("-h", "--help", "--version") for a in argv[:1]):
        from .cli_args import parser, trailing_scenario

        args = parser().parse_args(argv)
        trailing_scenario(args, argv)
        return commands[args.command](args)
    if len(argv) > 1:
        from .cli_args import parser

        parser().error(f"unexpected arguments {' '.join(argv[1:])}: expected bpdebug [SCENARIO] or bpdebug "
                        f"{{{','.join(commands)}}} SCENARIO …")
    return cmd_app(argv[0] if argv else None)


def _quiet_stdout() -> None:
    """After standard output failed, point it at /dev/null so the interpreter's last flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass  # not a real descriptor (a test's capture): nothing will flush it at exit


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        code = _run(argv)
        try:
            sys.stdout.flush()  # here, not at exit: a full disk is reported like any failure
        except BrokenPipeError:  # the reader left early; the status is still the command's
            _quiet_stdout()
        return code
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_INVALID
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `bpdebug export … | head`: the reader has what it wanted
        _quiet_stdout()
        return 0
    except OSError as exc:  # standard output could not be written (files are reported where they are opened)
        _quiet_stdout()
        print(f"bpdebug: cannot write the output ({exc.strerror or exc})", file=sys.stderr)
        return EXIT_INVALID


if __name__ == "__main__":
    raise SystemExit(main())
