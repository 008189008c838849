"""The command line's arguments: the parser of every command (its help completed from the registries only when
it is printed) and the scenario written after a list option. Imported by :mod:`bpdebug.cli` only for a command
or ``--help``: ``bpdebug SCENARIO`` opens the app without argparse."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import NoReturn

from . import __version__
from .cli import EXIT_INVALID, WEIGHT_FORMATS


class _Parser(argparse.ArgumentParser):
    """argparse's parser, refusing in one line with status 2 and describing itself when its help is printed."""

    describe: Callable[[], str] | None = None  # the description, worked out when the help is printed

    def format_help(self) -> str:
        if self.describe is not None:
            self.description = self.describe()
        return super().format_help()

    def error(self, message: str) -> NoReturn:  # one line and status 2, like a bad scenario
        self.exit(EXIT_INVALID, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _check_description() -> str:
    """``check``'s help: what it does, and the slips its diagnosis knows, from the catalogues."""
    from .core.graph.slips import GRAPH_SLIPS
    from .core.slips import SLIPS

    return ("Validate a scenario and check its expectations. A printed figure that does not hold is either computed "
            "right from earlier printed figures or a root slip, named when an entry of the slip catalogue reproduces "
            "it: " + "; ".join(s.sentence for s in SLIPS) + ". In a computation graph: "
            + "; ".join(s.sentence for s in GRAPH_SLIPS.values()) + ".")


def parser() -> argparse.ArgumentParser:
    """The parser of ``bpdebug`` and its commands."""
    p = _Parser(prog="bpdebug", description="A terminal step debugger for backpropagation.")
    p.add_argument("--version", action="version", version=f"bpdebug {__version__}")
    sub = p.add_subparsers(dest="command", metavar="{check,export,run,practice,serve}")
    c = sub.add_parser("check", help="validate a scenario and check its expectations")
    c.describe = _check_description
    c.add_argument("scenario")
    c.add_argument("--json", action="store_true",
                   help="print one JSON object: each expectation with its diagnosis (holds, follows, root)")
    c.add_argument("--gradcheck", action="store_true",
                   help="check the gradients against a central difference (exit 1 above 1e-6): every parameter of "
                        "a small network, a sample of each larger weight matrix")
    c.add_argument("--all", dest="every", action="store_true",
                   help="with --gradcheck: check every parameter, however many")
    e = sub.add_parser("export", help="write the derivation transcript",
                       usage="bpdebug export SCENARIO [--epochs N] [--format FORMAT] [--weight NAME ...] [-o PATH] "
                             "[--full] [--exercise [--blank PARTS]] [--epoch N] [--example K]")
    e.add_argument("scenario", nargs="?")  # see _trailing_scenario
    e.set_defaults(command_parser=e)  # what refuses its arguments there
    e.add_argument("--format", default="md", help=_LaterHelp("{}", _export_formats))
    e.add_argument("--epochs", type=int, default=None, metavar="N", help="epochs to cover (default: the scenario's)")
    # NAME ...: one or more names after the flag, and the flag again for more (SCENARIO-FORMAT's synopsis)
    e.add_argument("--weight", action="extend", nargs="+", default=None, metavar="NAME",
                   help="write these parameters' chain rules in full (one or more names; repeatable; default: "
                        "every parameter)")
    e.add_argument("--full", action="store_true", help="full derivations for every epoch, not only first and last")
    e.add_argument("--exercise", action="store_true",
                   help=_LaterHelp("an exercise sheet ({}): the first epoch with its results blanked and numbered, "
                                   "the answers at the end", _exercise_formats))
    e.add_argument("--blank", default=None, metavar="PARTS",
                   help=_LaterHelp("with --exercise, what is blanked: {}, comma-separated (default all)",
                                   _exercise_parts_list))
    e.add_argument("-o", "--output", default=None, metavar="PATH",
                   help="write here instead of stdout (a file is replaced atomically, a device or FIFO written into)")
    _add_run_parser(sub)
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
    pr = sub.add_parser("practice", help="work out each next step's numbers before they are shown")
    pr.add_argument("scenario")
    pr.add_argument("--param", default=None, metavar="NAME",
                    help="the parameter whose gradient and update are asked (default: the first weight into the "
                         "outputs)")
    pr.add_argument("--json", action="store_true",
                    help="the session as one JSON object on standard output (the questions go to standard error)")
    return p


class _LaterHelp(str):
    """A help text completed only when help is printed (``--break``'s forms come from the condition registry,
    whose import costs a third of a second that ``bpdebug --version`` should not pay)."""

    fill: Callable[[], str]

    def __new__(cls, template: str, fill: Callable[[], str]) -> _LaterHelp:
        text = super().__new__(cls, template)
        text.fill = fill
        return text

    def __mod__(self, params: object) -> str:
        return str.__str__(self).format(self.fill()) % params


def _condition_forms() -> str:
    from .core.conditions import grammar

    return grammar()


def _export_formats() -> str:
    from .core.messages import either
    from .transcript import FORMATS, PICTURES

    return (either([*FORMATS, *PICTURES]) + " (default md); " + either(WEIGHT_FORMATS)
            + ": the weights after --epochs, with -o")


def _exercise_formats() -> str:
    from .transcript import EXERCISE_FORMATS

    return ", ".join(EXERCISE_FORMATS)


def _exercise_parts_list() -> str:
    from .transcript.exercise import EXERCISE_PARTS

    return ", ".join(EXERCISE_PARTS)


def _add_run_parser(sub) -> None:
    r = sub.add_parser("run", help="train headless until a condition holds (exit 0: ran to the end, 3: stopped)",
                       usage="bpdebug run SCENARIO [--epochs N] [--break COND ...] [--set NAME=VALUE ...] [--json]")
    r.add_argument("scenario", nargs="?")  # see _trailing_scenario
    r.set_defaults(command_parser=r)
    r.add_argument("--epochs", type=int, default=None, metavar="N", help="epochs to run (default: the scenario's)")
    r.add_argument("--break", dest="conditions", action="extend", nargs="+", default=[], metavar="COND",
                   help=_LaterHelp("stop where a COND holds (one or more; repeatable): {}; nan is always on",
                                   _condition_forms))
    r.add_argument("--set", dest="edits", action="extend", nargs="+", default=[], metavar="NAME=VALUE",
                   help="what if: change a parameter, learning_rate, an input xI[@N] or a target tK[@N] "
                        "before training (one or more; repeatable)")
    r.add_argument("--json", action="store_true", help="print one JSON object instead of text")


# The options that take one or more values (``--weight NAME ...``): written before the scenario, they would
# take it as one of their values; the last value is then the scenario (``export --weight w5 blog.toml``).
LIST_OPTIONS = {"export": {"--weight": "weight"}, "run": {"--break": "conditions", "--set": "edits"}}


def trailing_scenario(args: argparse.Namespace, argv: list[str]) -> None:
    """Give ``args.scenario`` the last value a list option took when the scenario was not given on its own
    (``export --weight w5 blog.toml --format txt``); otherwise refuse like argparse, in one line, status 2."""
    if getattr(args, "scenario", "") is not None:
        return
    options = LIST_OPTIONS.get(args.command, {})
    taken: dict[str, int] = {}  # values each list option took so far
    last: tuple[str, int] | None = None  # (dest, index in its list) of the last value of a run of 2 or more
    i = 0
    while i < len(argv):
        dest = options.get(argv[i])
        i += 1
        if dest is None:
            continue
        run = 0
        while i < len(argv) and not argv[i].startswith("-"):
            run, i = run + 1, i + 1
        taken[dest] = taken.get(dest, 0) + run
        if run > 1:
            last = (dest, taken[dest] - 1)
    if last is not None:
        args.scenario = getattr(args, last[0]).pop(last[1])
        return
    args.command_parser.error("the following arguments are required: scenario")
