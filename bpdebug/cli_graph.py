"""The command line for graph scenarios: ``check`` (``--json``, ``--gradcheck``), ``run`` (``--break``, ``--set``),
``practice`` and ``export --format json|py|dot|svg``. :func:`graph_aware` wraps cli.py's commands: a file that
looks like a graph scenario (a top-level ``graph`` key) is loaded here with ``load_any``, and a network found there
after all goes back to cli.py's own command. Everything refused is one line and status 2."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the command line starts fast: NumPy and the core load when a graph command runs
    import argparse

    from .core.graph.scenario import GraphScenario

EXIT_OK, EXIT_EXPECTATION, EXIT_INVALID = 0, 1, 2
GRAPH_FORMATS = ("json", "py", "dot", "svg", "md", "tex", "txt")  # the exports of a graph so far
# a top-level graph key: [graph], [graph.values], graph = {...}, graph.program = ... (a guess: load_any decides)
_GRAPH_KEY = re.compile(rb"^[ \t]*(?:\[[ \t]*graph[ \t]*[\].]|graph[ \t]*[.=])", re.MULTILINE)
Command = Callable[["argparse.Namespace"], int]


def looks_like_graph(path: str | None) -> bool:
    """True when the file at ``path`` seems to be a graph scenario (unreadable files: False, the network
    command then says why in its one line)."""
    import os
    import stat

    if not path:
        return False
    try:  # a FIFO, a device or a directory is no graph: the network command refuses it in its one line
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open(path, "rb") as f:
            return _GRAPH_KEY.search(f.read(1 << 24)) is not None
    except OSError:
        return False


def graph_aware(commands: dict[str, Command]) -> dict[str, Command]:
    """cli.py's commands, each of check, run, export and practice reading a graph scenario here."""
    def route(name: str, network: Command) -> Command:
        def command(args: argparse.Namespace) -> int:
            if not looks_like_graph(getattr(args, "scenario", None)):
                return network(args)
            scenario = _load(args.scenario)
            if getattr(scenario, "kind", None) != "graph":
                return network(args)  # a network after all (it reads its file again)
            return COMMANDS[name](args, scenario)
        return command
    return {name: route(name, c) if name in COMMANDS else c for name, c in commands.items()}


def _load(path: str):
    from .cli import read_or_exit

    return read_or_exit(path, any_kind=True)


def check(args: argparse.Namespace, scenario: GraphScenario) -> int:
    import numpy as np

    from .core.graph.gradcheck import check_scenario
    from .core.graph.trace import GraphTrace
    from .text import graph_report

    gradcheck, as_json = getattr(args, "gradcheck", False), getattr(args, "json", False)
    with np.errstate(all="ignore"):
        if gradcheck and not as_json:
            report = check_scenario(scenario)
            sys.stdout.write(graph_report.render_gradcheck(report, scenario))
            return EXIT_OK if report.passes else EXIT_EXPECTATION
        trace = GraphTrace(scenario)
        if as_json:
            text, ok = graph_report.check_json(trace)
            if gradcheck:
                report = check_scenario(scenario)
                import json

                doc = json.loads(text)
                doc["gradcheck"] = graph_report.gradcheck_record(report)
                text, ok = json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False), report.passes
        else:
            text, ok = graph_report.summary(trace)
    print(text)
    return EXIT_OK if ok else EXIT_EXPECTATION


def run(args: argparse.Namespace, scenario: GraphScenario) -> int:
    from .core.conditions import ConditionError
    from .core.graph.conditions import parse_condition
    from .core.graph.whatif import apply_edits, parse_edit
    from .core.whatif import EditError
    from .text import graph_report

    try:
        edits = tuple(parse_edit(text, scenario) for text in args.edits)
    except EditError as exc:
        print(f"bpdebug run: --set {exc}", file=sys.stderr)
        return EXIT_INVALID
    scenario = apply_edits(scenario, edits) if edits else scenario
    try:
        conditions = tuple(parse_condition(text, scenario) for text in args.conditions)
    except ConditionError as exc:
        print(f"bpdebug run: --break {exc}", file=sys.stderr)
        return EXIT_INVALID
    report = graph_report.run(scenario, args.epochs, conditions, tuple(e.text for e in edits))
    sys.stdout.write(graph_report.render_json(report) if args.json else graph_report.render_text(report))
    return report.exit_status


def export(args: argparse.Namespace, scenario: GraphScenario) -> int:
    import numpy as np

    from .cli import emit
    from .core.graph.trace import GraphTrace
    from .transcript import graph_document, graph_json, graph_script, too_long

    epochs = args.epochs if args.epochs is not None else scenario.epochs
    if epochs < 1:
        print(f"bpdebug export: --epochs {epochs}: expected a whole number >= 1", file=sys.stderr)
        return EXIT_INVALID
    if args.format not in GRAPH_FORMATS:
        print(f"bpdebug export: --format {args.format}: not built for graph scenarios yet, expected "
              f"{' or '.join(GRAPH_FORMATS)}", file=sys.stderr)
        return EXIT_INVALID
    picture = args.format in ("dot", "svg")
    for flag, given in (("--weight", args.weight), ("--exercise", args.exercise), ("--full", args.full),
                        ("--epoch", args.epoch is not None and not picture), ("--example", args.example is not None)):
        if given:
            print(f"bpdebug export: {flag}: not for a graph scenario's {args.format} export, expected it without "
                  f"{flag}", file=sys.stderr)
            return EXIT_INVALID
    refused = too_long(args.format, epochs, "--format json")
    if refused is not None:
        print(f"bpdebug export: --epochs {epochs}: {refused}", file=sys.stderr)
        return EXIT_INVALID
    trace = GraphTrace(scenario, epochs)
    with np.errstate(all="ignore"):
        pieces: Iterable[str]
        if picture:
            drawn = _picture(args, trace)
            if drawn is None:
                return EXIT_INVALID
            pieces = (drawn,)
        else:
            pieces = (graph_json.chunks(trace, epochs) if args.format == "json"
                      else (graph_script.script(trace, epochs),) if args.format == "py"
                      else (graph_document.render(args.format, trace, epochs),))
        return emit(pieces, args.output, scenario.source_files)


def _picture(args: argparse.Namespace, trace) -> str | None:
    """The dot (or svg) of one epoch's graph, or None after a one-line error."""
    from .cli import picture
    from .transcript import graph_dot

    epoch = 1 if args.epoch is None else args.epoch
    if epoch < 1:
        print(f"bpdebug export: --epoch {epoch}: expected a whole number >= 1", file=sys.stderr)
        return None
    return picture(args.format, graph_dot.graph(trace, epoch))


def practice(args: argparse.Namespace, scenario: GraphScenario) -> int:
    """Practice on a graph (every value, every gradient, the update), asked by cli.py's loop."""
    import numpy as np

    from .cli import practise
    from .core.graph.trace import GraphTrace
    from .text.graph_practice import GraphPracticeSession

    if args.param is not None:
        print(f"bpdebug practice: --param {args.param}: a graph's practice asks every value and gradient, expected "
              "no --param with a graph scenario", file=sys.stderr)
        return EXIT_INVALID
    with np.errstate(all="ignore"):
        session = GraphPracticeSession(GraphTrace(scenario))
    return practise(session, scenario.title, args)


COMMANDS: dict[str, Callable[[argparse.Namespace, GraphScenario], int]] = {
    "check": check, "run": run, "export": export, "practice": practice}
