"""The command line: ``bpdebug [SCENARIO]``, ``bpdebug check``, ``bpdebug export``.

A thin shell over the core. Every failure the user can cause ends in one line on stderr and a
non-zero status (2 for an invalid scenario or bad arguments), never a traceback.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import NoReturn

from . import __version__

EXIT_OK, EXIT_EXPECTATION, EXIT_INVALID = 0, 1, 2


def bundled_blog() -> Path:
    """The blog scenario shipped inside the package (what ``bpdebug`` opens with no argument)."""
    return Path(str(resources.files("bpdebug") / "scenarios" / "blog.toml"))


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line and status 2, like a bad scenario
        self.exit(EXIT_INVALID, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="bpdebug", description="A terminal step debugger for backpropagation.")
    p.add_argument("--version", action="version", version=f"bpdebug {__version__}")
    sub = p.add_subparsers(dest="command", metavar="{check,export}")
    c = sub.add_parser("check", help="validate a scenario and check its expectations")
    c.add_argument("scenario")
    e = sub.add_parser("export", help="write the derivation transcript")
    e.add_argument("scenario")
    e.add_argument("--format", default="md", help="md, tex, txt, json or py (default md); npz or safetensors: the "
                   "weights after --epochs, with -o")
    e.add_argument("--epochs", type=int, default=None, help="epochs to cover (default: the scenario's)")
    e.add_argument("--weight", action="append", default=None, metavar="NAME",
                   help="write this parameter's chain rule in full (repeatable; default: every parameter)")
    e.add_argument("--full", action="store_true", help="full derivations for every epoch, not only first and last")
    e.add_argument("-o", "--output", default=None, metavar="PATH",
                   help="write here instead of stdout (a file is replaced atomically, a device or FIFO written into)")
    return p


def _load(path: str):
    from .core.scenario import ScenarioError, load

    try:
        return load(path)
    except ScenarioError as exc:
        print(str(exc), file=sys.stderr)
        raise SystemExit(EXIT_INVALID) from None


def cmd_check(args: argparse.Namespace) -> int:
    import numpy as np

    from .core.engine import Trace
    from .text.summary import summary

    scenario = _load(args.scenario)
    with np.errstate(all="ignore"):  # a diverging run is reported in one line, never as RuntimeWarnings
        text, ok = summary(Trace(scenario))
    _verify(scenario)
    print(text)
    return EXIT_OK if ok else EXIT_EXPECTATION


# A document (md, tex, txt, py) is for reading: past this many epochs it is no document any more. JSON is
# streamed an epoch at a time, in bounded memory, whatever the number of epochs.
DOCUMENT_EPOCHS = 10_000


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

    from .core.atomic import OutputError, write_output
    from .core.engine import Trace
    from .core.safe_text import escape_controls
    from .transcript import FORMATS, Options, render
    from .transcript.json_format import chunks

    if args.format not in FORMATS and args.format not in WEIGHT_FORMATS:
        print(f"bpdebug export: --format {args.format}: not available, expected one of "
              f"{', '.join((*FORMATS, *WEIGHT_FORMATS))}", file=sys.stderr)
        return EXIT_INVALID
    scenario = _load(args.scenario)
    epochs = args.epochs if args.epochs is not None else scenario.epochs
    if epochs < 1:
        print(f"bpdebug export: --epochs {epochs}: expected a whole number >= 1", file=sys.stderr)
        return EXIT_INVALID
    if args.format in WEIGHT_FORMATS:
        return _export_weights(args, scenario, epochs)
    if epochs > DOCUMENT_EPOCHS and args.format != "json":
        print(f"bpdebug export: --epochs {epochs}: a {args.format} transcript covers at most {DOCUMENT_EPOCHS} "
              "epochs; use --format json (written an epoch at a time) or bpdebug run for longer runs",
              file=sys.stderr)
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
    trace = Trace(scenario, epochs)
    with np.errstate(all="ignore"):  # a diverging run says so in the transcript, never as RuntimeWarnings
        if args.format == "json":
            pieces: Iterable[str] = chunks(trace, epochs)
        else:
            pieces = (render(args.format, trace, Options(epochs, weights, args.full)),)
        if args.output:
            _verify(scenario)
            try:
                write_output(Path(args.output), pieces, protect=scenario.source_files)
            except OutputError as exc:
                print(f"bpdebug export: -o {exc}", file=sys.stderr)
                return EXIT_INVALID
            print(f"wrote {escape_controls(args.output)}", file=sys.stderr)
        else:
            for piece in pieces:
                sys.stdout.write(piece)
    return EXIT_OK


def cmd_app(path: str | None) -> int:
    scenario_path = path or str(bundled_blog())
    _load(scenario_path)  # refuse a bad file with the one-line error before any screen
    from .tui.app import make_app

    app = make_app(scenario_path)
    app.run()
    return int(app.return_code or 0)


def _run(argv: list[str]) -> int:
    if argv and argv[0] in ("check", "export") or any(a in ("-h", "--help", "--version") for a in argv[:1]):
        args = _parser().parse_args(argv)
        if args.command == "check":
            return cmd_check(args)
        return cmd_export(args)
    if len(argv) > 1:
        _parser().error(f"unexpected arguments {' '.join(argv[1:])}: expected bpdebug [SCENARIO], "
                        "bpdebug check SCENARIO or bpdebug export SCENARIO")
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
