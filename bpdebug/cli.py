"""The command line: ``bpdebug [SCENARIO]``, ``bpdebug check``, ``bpdebug export``.

A thin shell over the core. Every failure the user can cause ends in one line on stderr and a
non-zero status (2 for an invalid scenario or bad arguments), never a traceback.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib import resources
from pathlib import Path

from . import __version__

EXIT_OK, EXIT_EXPECTATION, EXIT_INVALID = 0, 1, 2


def bundled_blog() -> Path:
    """The blog scenario shipped inside the package (what ``bpdebug`` opens with no argument)."""
    return Path(str(resources.files("bpdebug") / "scenarios" / "blog.toml"))


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line and status 2, like a bad scenario
        self.exit(EXIT_INVALID, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="bpdebug", description="A terminal step debugger for backpropagation.")
    p.add_argument("--version", action="version", version=f"bpdebug {__version__}")
    sub = p.add_subparsers(dest="command", metavar="{check,export,serve}")
    c = sub.add_parser("check", help="validate a scenario and check its expectations")
    c.add_argument("scenario")
    e = sub.add_parser("export", help="write the derivation transcript")
    e.add_argument("scenario")
    e.add_argument("--format", default="md", help="md, tex, txt, json, py, dot or svg (default md)")
    e.add_argument("--epochs", type=int, default=None, help="epochs to cover (default: the scenario's)")
    e.add_argument("--weight", action="append", default=None, metavar="NAME",
                   help="write this parameter's chain rule in full (repeatable; default: every parameter)")
    e.add_argument("--full", action="store_true", help="full derivations for every epoch, not only first and last")
    e.add_argument("-o", "--output", default=None, metavar="PATH", help="write here (atomically) instead of stdout")
    e.add_argument("--epoch", type=int, default=None, metavar="N",
                   help="dot, svg: the epoch whose pass is drawn (default 1)")
    e.add_argument("--example", type=int, default=None, metavar="K",
                   help="dot, svg: the example whose numbers the units show (default 1)")
    s = sub.add_parser("serve", help="serve the debugger to web browsers (one app per visitor)")
    s.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                   help="the scenarios visitors may open (default: the bundled ones)")
    s.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 for a classroom)")
    s.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    s.add_argument("--max-sessions", type=int, default=30, metavar="N",
                   help="visitors served at once; more are told the server is full (default 30)")
    return p


def _load(path: str):
    from .core.scenario import ScenarioError, load

    try:
        return load(path)
    except ScenarioError as exc:
        print(str(exc), file=sys.stderr)
        raise SystemExit(EXIT_INVALID) from None


def cmd_check(args: argparse.Namespace) -> int:
    from .core.engine import Trace
    from .text.summary import summary

    scenario = _load(args.scenario)
    text, ok = summary(Trace(scenario))
    print(text)
    return EXIT_OK if ok else EXIT_EXPECTATION


def cmd_export(args: argparse.Namespace) -> int:
    from .core.atomic import write_atomic
    from .core.engine import Trace
    from .transcript import FORMATS, Options, render

    if args.format not in FORMATS and args.format != "svg":
        print(f"bpdebug export: --format {args.format}: not available, expected one of "
              f"{', '.join(FORMATS)}", file=sys.stderr)
        return EXIT_INVALID
    scenario = _load(args.scenario)
    epochs = args.epochs if args.epochs is not None else scenario.epochs
    if epochs < 1:
        print(f"bpdebug export: --epochs {epochs}: expected a whole number >= 1", file=sys.stderr)
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
        text = graph
    elif args.epoch is not None or args.example is not None:
        print(f"bpdebug export: --{'epoch' if args.epoch is not None else 'example'} draws one pass: "
              "expected --format dot or svg with it", file=sys.stderr)
        return EXIT_INVALID
    else:
        text = render(args.format, Trace(scenario, epochs), Options(epochs, weights, args.full))
    if args.output:
        try:
            write_atomic(args.output, text)
        except OSError as exc:
            print(f"bpdebug export: -o {args.output}: cannot write ({exc.strerror or exc})", file=sys.stderr)
            return EXIT_INVALID
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
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
    text = dot.graph(Trace(scenario, epoch), epoch, example, weights)
    if args.format == "svg":
        try:
            text = dot.to_svg(text)
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


def cmd_app(path: str | None) -> int:
    scenario_path = path or str(bundled_blog())
    _load(scenario_path)  # refuse a bad file with the one-line error before any screen
    from .tui.app import make_app

    app = make_app(scenario_path)
    app.run()
    return int(app.return_code or 0)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in ("check", "export", "serve") or any(a in ("-h", "--help", "--version")
                                                                   for a in argv[:1]):
            args = _parser().parse_args(argv)
            if args.command == "check":
                return cmd_check(args)
            if args.command == "serve":
                return cmd_serve(args)
            return cmd_export(args)
        if len(argv) > 1:
            _parser().error(f"unexpected arguments {' '.join(argv[1:])}: expected bpdebug [SCENARIO], "
                            "bpdebug check SCENARIO or bpdebug export SCENARIO")
        return cmd_app(argv[0] if argv else None)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_INVALID
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
