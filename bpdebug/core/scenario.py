"""Scenario files: loading, validation, and the immutable value the engine runs.

The format is the contract in SCENARIO-FORMAT.md (version 1). Anything invalid is refused with one
:class:`ScenarioError` whose text is ``FILE:LINE: KEY: what was wrong, what was expected``.
"""

from __future__ import annotations

import math
import os
import re
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import activations as act
from . import datafiles, losses, optimizers, toml_fast
from .expr import FormulaError
from .messages import count as _count
from .messages import describe as _describe
from .messages import one_of
from .messages import short_number as _short_number
from .params import Param, ParamIndex
from .quantity import Named, QuantityError, resolve
from .safe_text import escape_controls, strip_controls
from .toml_locator import TomlLocator
from .training import Plan

if TYPE_CHECKING:
    from .graph.scenario import GraphScenario

DEFAULT_TOLERANCE = 0.0005
INIT_METHODS = ("uniform", "xavier", "he")
# a scenario is text a person writes: 784-128-10 with every weight written out is 6 MB. tomllib is pure Python and
# costs ~15x a file's size in memory, so larger data and weights belong in [data] / [weights] files (read by NumPy)
MAX_FILE_BYTES = 16 * 2**20
MAX_NESTING = 32  # arrays and tables inside each other; the format needs 3 ([weights] theta1 = [[...]])
_TOO_DEEP = (f"values nested too deeply (arrays or tables more than {MAX_NESTING} levels inside one another), "
             f"expected at most {MAX_NESTING}")
MAX_PARAMETERS = 1_000_000  # 784-128-10 has 101,770; each parameter costs ~400 bytes of names and index
MAX_EPOCHS = 1_000_000  # beyond this, `bpdebug check` of an expectation would not finish in any useful time
TYPICAL_OUTPUT, TYPICAL_TARGET = 0.7, 0.2  # where a formula loss and its derivative must be finite numbers
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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
    #            "change" | "state" (quantity.resolve); grad / param / param_after / change of a whole matrix: param None
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
    example_given: bool = False  # `example` written: "loss" is then that example's update's, not the epoch's


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
        for stamp in self.files:
            try:
                datafiles.verify(stamp)
            except datafiles.DataFileError as exc:
                raise ScenarioError(self.path, ".".join(exc.key), exc.message) from None


# --------------------------------------------------------------------------------------------- loading

def load(path: str | Path) -> Scenario:
    """Read and validate a scenario file; raise ScenarioError with a one-line message otherwise.

    The file is examined before it is read: a FIFO, a device, a socket or a directory is refused (reading a
    FIFO would wait for a writer forever), and so is a file larger than MAX_FILE_BYTES.
    """
    path = Path(path)
    shown = str(path)
    raw = _read_regular(path, shown)
    return loads(raw, shown, source_files=(path.absolute(),))


def load_any(path: str | Path) -> Scenario | GraphScenario:
    """As :func:`load`, and a ``[graph]`` scenario too (SCENARIO-FORMAT version 3), read by core/graph."""
    path = Path(path)
    return loads_any(_read_regular(path, str(path)), str(path), source_files=(path.absolute(),))


def _read_regular(path: Path, shown: str) -> bytes:
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is a no-op for a regular file
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ScenarioError(shown, "(file)", "no such file, expected a path to a .toml scenario") from None
    except IsADirectoryError:
        raise ScenarioError(shown, "(file)", "is a directory, expected a .toml scenario file") from None
    except OSError as exc:
        raise ScenarioError(shown, "(file)", f"cannot be read ({exc.strerror or exc})") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise ScenarioError(shown, "(file)", "is a directory, expected a .toml scenario file")
        if not stat.S_ISREG(st.st_mode):
            kind = ("a FIFO" if stat.S_ISFIFO(st.st_mode) else "a character device" if stat.S_ISCHR(st.st_mode)
                    else "a block device" if stat.S_ISBLK(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode)
                    else "not a regular file")
            raise ScenarioError(shown, "(file)", f"is {kind}, expected a regular .toml scenario file")
        if st.st_size > MAX_FILE_BYTES:
            raise ScenarioError(shown, "(file)", f"is {st.st_size:,} bytes, expected a scenario of at most "
                                f"{MAX_FILE_BYTES:,} bytes (larger data or weights go in a [data] or [weights] file)")
        chunks, total = [], 0
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
            total += len(chunk)
            if total > MAX_FILE_BYTES:  # grew while being read
                raise ScenarioError(shown, "(file)", f"grew beyond {MAX_FILE_BYTES:,} bytes while being read, "
                                    f"expected a scenario of at most {MAX_FILE_BYTES:,} bytes")
        return b"".join(chunks)
    except OSError as exc:
        raise ScenarioError(shown, "(file)", f"cannot be read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)


def loads(raw: bytes | str, path: str = "<scenario>", *, source_files: tuple[Path, ...] = ()) -> Scenario:
    """Validate scenario text (``path`` is only used in messages; ``source_files`` are the files it came from).
    A graph scenario is refused in one line: what reads a network cannot read it (see :func:`loads_any`)."""
    found = loads_any(raw, path, source_files=source_files)
    if not isinstance(found, Scenario):
        raise ScenarioError(path, "graph", "a graph scenario, which this reads only as a network (the app, bpdebug "
                            "check, run, practice and export read it), expected [network] here",
                            found.line)
    return found


def loads_any(raw: bytes | str, path: str = "<scenario>", *,
              source_files: tuple[Path, ...] = ()) -> Scenario | GraphScenario:
    """As :func:`loads`, and a ``[graph]`` scenario too."""
    if isinstance(raw, bytes):
        if b"\x00" in raw:
            raise ScenarioError(path, "(file)", "is a binary file, expected a TOML text scenario")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ScenarioError(path, "(file)", f"is not UTF-8 text (byte {exc.start}), "
                                "expected a TOML text scenario") from None
    else:
        text = raw
    text = text.removeprefix("\ufeff")  # a byte order mark, as some editors write UTF-8
    if not text.strip():
        raise ScenarioError(path, "(file)", "the file is empty, expected a TOML scenario with [network], "
                            "[training], [data] and [weights]", 1)
    try:
        doc = toml_fast.loads(text)  # tomllib's document and errors, long number arrays read in C
    except RecursionError:
        raise ScenarioError(path, "toml", _TOO_DEEP, TomlLocator(text).deepest_line) from None
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        line = int(m[1]) if m else None
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", msg).rstrip(".")
        if m is None and "end of document" in msg:
            line = text.count("\n") + 1
        raise ScenarioError(path, "toml", f"not valid TOML: {msg[:1].lower() + msg[1:]}", line) from None
    except ValueError:  # Python refuses to read an integer of more than 4300 digits from text
        long = re.search(r"[0-9_]{4300,}", text)
        raise ScenarioError(path, "toml", "a number of more than 4300 digits, expected numbers a 64-bit float can "
                            "hold", text.count("\n", 0, long.start()) + 1 if long else None) from None
    if _nesting(doc) > MAX_NESTING:
        locator = TomlLocator(text)
        raise ScenarioError(path, "toml", _TOO_DEEP, locator.deepest_line)
    validator = _Validator(path, text, doc, source_files)
    if "graph" in doc:
        from .graph.scenario import read  # the [graph] section is the graph package's (it imports this module)

        return read(validator)
    return validator.scenario()


def _nesting(doc: dict[str, Any]) -> int:
    """How deep arrays and tables sit inside one another below the top level, found without recursion."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(v, 0) for v in doc.values()]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, list):
            deepest = max(deepest, depth + 1)
            if deepest > MAX_NESTING:
                return deepest
            pending.extend((v, depth + 1) for v in value if isinstance(v, list | dict))
        elif isinstance(value, dict):
            # a table header's sub-table and an inline table cannot be told apart here: count both (the
            # format's deepest table is [activations.NAME], two levels)
            deepest = max(deepest, depth + 1)
            if deepest > MAX_NESTING:
                return deepest
            pending.extend((v, depth + 1) for v in value.values() if isinstance(v, list | dict))
    return deepest


# ------------------------------------------------------------------------------------------ validation

class _Validator:
    def __init__(self, path: str, text: str, doc: dict[str, Any], source_files: tuple[Path, ...] = ()) -> None:
        self.path, self.text, self.doc, self.source_files = path, text, doc, source_files
        self._locator: TomlLocator | None = None

    @property
    def locator(self) -> TomlLocator:
        """Built on first use: a valid scenario without expectations never scans its text twice."""
        if self._locator is None:
            self._locator = TomlLocator(self.text)
        return self._locator

    def fail(self, key: tuple[Any, ...] | str, message: str) -> ScenarioError:
        keypath = tuple(key.split(".")) if isinstance(key, str) else key
        shown = ".".join(str(k) if not isinstance(k, int) else f"[{k + 1}]" for k in keypath)
        shown = shown.replace(".[", "[")
        return ScenarioError(self.path, shown, message, self.locator.line(keypath))

    # -- small typed readers
    def table(self, parent: dict, key: tuple, allowed: set[str], required: bool) -> dict:
        value = _get(parent, key[-1])
        if value is _MISSING:
            if required:
                raise self.fail(key, f"missing, expected a [{'.'.join(map(str, key))}] table")
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a table, got {_describe(value)}")
        for k in value:
            if k not in allowed:
                raise self.fail(key + (k,), f"unknown key, expected one of {', '.join(sorted(allowed))}")
        return value

    def number(self, value: Any, key: tuple) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"expected a number, got {_describe(value)}")
        if not _finite(value):
            raise self.fail(key, f"expected a finite number, got {_short_number(value)}")
        return float(value)

    def integer(self, value: Any, key: tuple, minimum: int, maximum: int | None = None) -> int:
        wanted = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"expected a whole number {wanted}, got {_describe(value)}")
        if value < minimum or (maximum is not None and value > maximum):
            raise self.fail(key, f"expected a whole number {wanted}, got {_short_number(value)}")
        return value

    def string(self, value: Any, key: tuple) -> str:
        if not isinstance(value, str):
            raise self.fail(key, f"expected a string, got {_describe(value)}")
        return value

    def matrix(self, value: Any, key: tuple, what: str) -> np.ndarray:
        """A list of rows of finite numbers; a flat list is one row."""
        if not isinstance(value, list) or not value:
            raise self.fail(key, f"expected {what} as a non-empty list of rows, got {_describe(value)}")
        rows = [value] if not isinstance(value[0], list) else value
        fast = self._fast_matrix(rows)
        if fast is not None:
            return fast
        width = None
        out = []
        for r, row in enumerate(rows):
            if not isinstance(row, list):
                raise self.fail(key, f"row {r + 1} is {_describe(row)}, expected a list of numbers "
                                "(every row a list)")
            if not row:
                raise self.fail(key, f"row {r + 1} is empty, expected a list of numbers")
            if width is None:
                width = len(row)
            elif len(row) != width:
                raise self.fail(key, f"ragged rows: row 1 has {width} numbers, row {r + 1} has {len(row)}, "
                                "expected rows of equal length")
            cells = []
            for c, cell in enumerate(row):
                if isinstance(cell, bool) or not isinstance(cell, int | float):
                    raise self.fail(key, f"row {r + 1}, column {c + 1} is {_describe(cell)}, expected a number")
                if not _finite(cell):
                    raise self.fail(key, f"row {r + 1}, column {c + 1} is {_short_number(cell)}, expected a finite "
                                    "number")
                cells.append(float(cell))
            out.append(cells)
        arr = np.array(out, dtype=float)
        arr.setflags(write=False)
        return arr

    @staticmethod
    def _fast_matrix(rows: list[Any]) -> np.ndarray | None:
        """The matrix at NumPy's speed when every row is a list of the same number of finite int/float values;
        None otherwise, and the cell-by-cell reader says what is wrong (a 784-128-10 scenario has 330,000 cells)."""
        if not all(type(row) is list for row in rows) or not rows[0] or len({len(row) for row in rows}) != 1:
            return None
        if not {type(cell) for row in rows for cell in row} <= {int, float}:  # bool is a type of its own
            return None
        try:
            arr = np.array(rows, dtype=float)
        except OverflowError:  # an integer beyond float64
            return None
        if not np.isfinite(arr).all():
            return None
        arr.setflags(write=False)
        return arr

    # -- the document
    def scenario(self) -> Scenario:
        doc = self.doc
        top = {"title", "description", "network", "loss", "training", "data", "weights", "activations", "losses",
               "optimizers", "expect"}
        for k in doc:
            if k not in top:
                raise self.fail((k,), f"unknown key, expected one of {', '.join(sorted(top))}")
        title = strip_controls(self.string(doc["title"], ("title",)) if "title" in doc else Path(self.path).stem)
        description = (strip_controls(self.string(doc["description"], ("description",)), multiline=True)
                       if "description" in doc else "")

        network = self.table(doc, ("network",), {"layers", "activation", "bias"}, True)
        layers = self.layers(network)
        bias = network.get("bias", True)
        shared = bias == "shared"  # one bias per layer, shared by its units (SCENARIO-FORMAT version 3)
        if shared:
            bias = True
        if not isinstance(bias, bool):
            raise self.fail(("network", "bias"), f"expected true, false or \"shared\", got {_describe(bias)}")

        count = sum(layers[l] * (layers[l - 1] + (1 if bias else 0)) for l in range(1, len(layers)))
        if count > MAX_PARAMETERS:
            raise self.fail(("network", "layers"), f"{count:,} parameters, expected at most {MAX_PARAMETERS:,} "
                            "(every one is named, stepped through and kept per checkpoint)")

        customs = self.custom_activations()
        activations = self.activations(network, layers, customs)
        self._softmax_layers = {i + 2 for i, a in enumerate(activations) if a.is_softmax}

        formula_losses = self.formula_losses()
        loss_table = self.table(doc, ("loss",), {"function"}, False)
        loss_name = loss_table.get("function", "sse")
        known_losses = {**losses.NAMES, **formula_losses}
        if not isinstance(loss_name, str) or loss_name not in known_losses:
            raise self.fail(("loss", "function"), one_of("loss", loss_name, list(known_losses)))
        loss = known_losses[loss_name]

        own_optimizers = self.custom_optimizers()
        training = self.table(doc, ("training",), {"learning_rate", "epochs", "update", "frozen", "optimizer",
                                                   "batch_size", "shuffle", "seed", optimizers.WEIGHT_DECAY.key,
                                                   *optimizers.keys_of([*optimizers.OPTIMIZERS.values(),
                                                                        *own_optimizers.values()])}, True)
        if "learning_rate" not in training:
            raise self.fail(("training", "learning_rate"), "missing, expected a number > 0")
        lr = self.number(training["learning_rate"], ("training", "learning_rate"))
        if lr <= 0:
            raise self.fail(("training", "learning_rate"), f"expected a number > 0, got {lr:g}")
        epochs = self.integer(training.get("epochs", 1), ("training", "epochs"), 1, MAX_EPOCHS)

        params = ParamIndex(layers, bias, shared)
        frozen = self.frozen(training, params)

        data = self.table(doc, ("data",), {"inputs", "targets", "file", "classes"}, True)
        files: list[datafiles.FileStamp] = []
        classes = None
        if "file" in data:
            table = self.from_file(lambda base: datafiles.read_data(
                base, data["file"], data.get("inputs"), data.get("targets"), data.get("classes"), layers[0],
                layers[-1]))
            inputs, targets, classes = table.inputs, table.targets, table.classes
            for a in (inputs, targets):
                a.setflags(write=False)
            files.append(table.stamp)
        else:
            if "classes" in data:
                raise self.fail(("data", "classes"), "only used with file = \"....csv\", expected the class labels "
                                "of a CSV column")
            for k in ("inputs", "targets"):
                if k not in data:
                    raise self.fail(("data", k), "missing, expected one row per example (or file = \"data.csv\")")
            inputs = self.matrix(data["inputs"], ("data", "inputs"), "inputs")
            targets = self.matrix(data["targets"], ("data", "targets"), "targets")
        if inputs.shape[1] != layers[0]:
            raise self.fail(("data", "inputs"), f"expected {_count(layers[0], 'number')} per example for the "
                            f"{_count(layers[0], 'input unit')}, got {inputs.shape[1]}")
        if targets.shape[1] != layers[-1]:
            raise self.fail(("data", "targets"), f"expected {_count(layers[-1], 'number')} per example for the "
                            f"{_count(layers[-1], 'output unit')}, got {targets.shape[1]}")
        if targets.shape[0] != inputs.shape[0]:
            raise self.fail(("data", "targets"), f"expected one row per example: {inputs.shape[0]} rows of "
                            f"inputs but {targets.shape[0]} rows of targets")

        self.targets_for(loss, targets)

        plan = self.plan(training, lr, inputs.shape[0], own_optimizers)
        weights, init = self.weights(layers, bias, files, shared)
        expectations = self.expectations(layers, params, inputs.shape[0], plan.optimizer, bias)

        return Scenario(
            path=self.path, title=title, description=description, layers=layers, activations=activations,
            bias=bias, loss=loss, learning_rate=lr, epochs=epochs, update=plan.mode, frozen=frozen,
            inputs=inputs, targets=targets, weights=weights, init=init, expectations=expectations,
            params=params, source_files=self.source_files + tuple(f.path.absolute() for f in files), plan=plan,
            files=tuple(files), classes=classes, shared_bias=shared,
        )

    @property
    def folder(self) -> Path:
        """Where the files a scenario names are looked for: the scenario's own folder."""
        if self.source_files:
            return self.source_files[0].parent
        return Path(self.path).parent if not self.path.startswith("<") else Path.cwd()

    def from_file(self, read: Any) -> Any:
        """``read(folder)``, its DataFileError turned into the one-line ScenarioError of its key."""
        try:
            return read(self.folder)
        except datafiles.DataFileError as exc:
            raise self.fail(exc.key, exc.message) from None

    def plan(self, training: dict, lr: float, n_examples: int,
             own: dict[str, optimizers.Optimizer] | None = None) -> Plan:
        """The optimizer, its hyperparameters and the mini-batches (SCENARIO-FORMAT versions 2 and 3: ``own``
        holds the scenario's [optimizers.NAME])."""
        known = {**optimizers.OPTIMIZERS, **(own or {})}
        name = training.get("optimizer", optimizers.DEFAULT)
        if not isinstance(name, str) or name not in known:
            raise self.fail(("training", "optimizer"), one_of("optimizer", name, list(known)))
        opt = known[name]
        values: dict[str, float] = {}
        users = optimizers.keys_of(known.values())
        for key in (*users, optimizers.WEIGHT_DECAY.key):
            if key not in training:
                continue
            if key != optimizers.WEIGHT_DECAY.key and key not in opt.hyperparameters:
                raise self.fail(("training", key), f"not used by optimizer = \"{name}\", expected it only with "
                                f"optimizer = {' or '.join(repr(u).replace(chr(39), chr(34)) for u in users[key])}")
            hp = opt.hyperparameter(key)
            value = self.number(training[key], ("training", key))
            if not hp.accepts(value):
                raise self.fail(("training", key), f"expected {hp.expected} ({hp.meaning}), got {value:g}")
            values[key] = value
        hyper = opt.hyperparameters_with(lr, **values)
        if opt.is_formula:
            try:
                optimizers.check_start(opt, hyper)
            except optimizers.RuleError as exc:
                where = next((k for k in opt.hyperparameters if k in training), "optimizer")
                raise self.fail(("training", where), f"with these values, {exc}") from None
        update = training.get("update", "batch")
        if update not in ("batch", "online"):
            raise self.fail(("training", "update"), f"expected \"batch\" or \"online\", got {_describe(update)}")
        batch_size: int | None = None if update == "batch" else 1
        if "batch_size" in training:
            batch_size = self.integer(training["batch_size"], ("training", "batch_size"), 1)
            # both given: they must agree (batch_size = 1 is online; all the examples, or more, is batch)
            if "update" in training and not (batch_size == 1 if update == "online" else batch_size >= n_examples):
                raise self.fail(("training", "batch_size"), "update and batch_size both say how many examples an "
                                "update uses, expected one of them (batch_size = 1 is online, no batch_size is batch)")
            if "update" in training:  # it agrees: the update's own mode
                batch_size = None if update == "batch" else 1
            elif batch_size >= n_examples and n_examples > 1:
                batch_size = None  # every example at once: batch updates
            elif n_examples == 1:
                batch_size = None
        shuffle = training.get("shuffle", False)
        if not isinstance(shuffle, bool):
            raise self.fail(("training", "shuffle"), f"expected true or false, got {_describe(shuffle)}")
        if shuffle and batch_size is None:
            raise self.fail(("training", "shuffle"), "every example is in the one batch of each epoch, so there is "
                            "nothing to shuffle, expected batch_size (fewer than the examples) or update = \"online\"")
        seed = self.integer(training.get("seed", 0), ("training", "seed"), 0, 2**63 - 1)
        return Plan(hyper, opt, batch_size, shuffle, seed)

    def targets_for(self, loss: losses.Loss, targets: np.ndarray) -> None:
        """What a loss requires of its targets (the entry says: :meth:`~bpdebug.core.functions.Loss.check_targets`)."""
        wrong = loss.check_targets(targets)
        if wrong is not None:
            raise self.fail(("data", "targets"), wrong)

    def layers(self, network: dict) -> tuple[int, ...]:
        key = ("network", "layers")
        if "layers" not in network:
            raise self.fail(key, "missing, expected units per layer such as [2, 2, 2]")
        value = network["layers"]
        if not isinstance(value, list) or len(value) < 2:
            raise self.fail(key, f"expected a list of at least 2 unit counts (input and output), got "
                            f"{_describe(value)}")
        out = []
        for n, v in enumerate(value):
            if isinstance(v, bool) or not isinstance(v, int):
                raise self.fail(key, f"layer {n + 1} is {_describe(v)}, expected a whole number of units >= 1")
            if v < 1:
                raise self.fail(key, f"layer {n + 1} has {_short_number(v)} units, expected at least 1 unit per layer")
            if v > 100_000:
                raise self.fail(key, f"layer {n + 1} has {_short_number(v)} units, expected at most 100000")
            out.append(v)
        return tuple(out)

    def custom_activations(self) -> dict[str, act.Activation]:
        table = self.doc.get("activations", _MISSING)
        if table is _MISSING:
            return {}
        if not isinstance(table, dict):
            raise self.fail(("activations",), f"expected tables such as [activations.softplus], got "
                            f"{_describe(table)}")
        out = {}
        for name, spec in table.items():
            key = ("activations", name)
            if not _IDENT.fullmatch(name):
                raise self.fail(key, "expected a name of letters, digits and underscores")
            if name in act.BUILTIN:
                raise self.fail(key, f"'{name}' is built in, expected a new name for a custom activation")
            if not isinstance(spec, dict):
                raise self.fail(key, f"expected a table with expr = \"...\", got {_describe(spec)}")
            for k in spec:
                if k != "expr":
                    raise self.fail(key + (k,), "unknown key, expected expr")
            if "expr" not in spec:
                raise self.fail(key + ("expr",), "missing, expected a formula in x such as \"log(1 + exp(x))\"")
            # whitespace (a formula written over lines) is one space: the formula is shown as written
            expr = " ".join(self.string(spec["expr"], key + ("expr",)).split())
            try:
                activation = act.custom(name, expr)
                with np.errstate(all="ignore"):  # NaN at some x is the formula's business; failing to run is not
                    z = np.array([[-2.0, 0.0, 0.5, 3.0]])
                    activation.function(z)
                    if activation.derivative is not None:
                        activation.derivative(z, z)
            except FormulaError as exc:
                raise self.fail(key + ("expr",), str(exc)) from None
            except RecursionError:
                raise self.fail(key + ("expr",), "nested too deeply, expected a simpler formula") from None
            except Exception as exc:  # noqa: BLE001 - the generated NumPy code refused it: one line
                first = (str(exc).splitlines() or [type(exc).__name__])[0][:80]
                raise self.fail(key + ("expr",), f"cannot be derived or computed ({type(exc).__name__}: {first}), "
                                "expected a real formula in x") from None
            out[name] = activation
        return out

    def formula_losses(self) -> dict[str, losses.Loss]:
        """``[losses.NAME] term = "…" reduction = "sum"|"mean"``: losses written as one output's term in t and o."""
        table = self.doc.get("losses", _MISSING)
        if table is _MISSING:
            return {}
        if not isinstance(table, dict):
            raise self.fail(("losses",), f"expected tables such as [losses.huber], got {_describe(table)}")
        out = {}
        for name, spec in table.items():
            key = ("losses", name)
            if not _IDENT.fullmatch(name):
                raise self.fail(key, "expected a name of letters, digits and underscores")
            if name in losses.NAMES:
                raise self.fail(key, f"'{name}' is built in, expected a new name for a formula loss")
            if not isinstance(spec, dict):
                raise self.fail(key, f"expected a table with term = \"...\", got {_describe(spec)}")
            for k in spec:
                if k not in ("term", "reduction"):
                    raise self.fail(key + (k,), "unknown key, expected term or reduction")
            if "term" not in spec:
                raise self.fail(key + ("term",), "missing, expected one output's term in t (target) and o (output) "
                                "such as \"(t - o)**2\"")
            reduction = spec.get("reduction", "sum")
            if reduction not in losses.REDUCTIONS:
                raise self.fail(key + ("reduction",), one_of("reduction", reduction, list(losses.REDUCTIONS)))
            term = " ".join(self.string(spec["term"], key + ("term",)).split())
            try:
                loss = losses.formula_loss(name, term, reduction)
            except FormulaError as exc:
                raise self.fail(key + ("term",), str(exc)) from None
            except RecursionError:
                raise self.fail(key + ("term",), "nested too deeply, expected a simpler formula") from None
            with np.errstate(all="ignore"):  # a loss must be a number where outputs and targets usually are
                o, t = np.array([[TYPICAL_OUTPUT]]), np.array([[TYPICAL_TARGET]])
                values = (loss.terms(o, t), loss.grad(o, t))
            if not all(np.isfinite(v).all() for v in values):
                raise self.fail(key + ("term",), f"'{term}' or its derivative in o is not a finite number at "
                                f"o = {TYPICAL_OUTPUT}, t = {TYPICAL_TARGET}, expected a formula defined where "
                                "outputs and targets usually are")
            out[name] = loss
        return out

    def custom_optimizers(self) -> dict[str, optimizers.Optimizer]:
        """The scenario's [optimizers.NAME] tables (SCENARIO-FORMAT version 3): hyper, state and rule."""
        table = self.doc.get("optimizers", _MISSING)
        if table is _MISSING:
            return {}
        if not isinstance(table, dict):
            raise self.fail(("optimizers",), f"expected tables such as [optimizers.adagrad], got {_describe(table)}")
        out = {}
        for name, spec in table.items():
            key = ("optimizers", name)
            if not _IDENT.fullmatch(name):
                raise self.fail(key, "expected a name of letters, digits and underscores")
            if name in optimizers.OPTIMIZERS:
                raise self.fail(key, f"'{name}' is built in, expected a new name for an optimizer of your own")
            if not isinstance(spec, dict):
                raise self.fail(key, "expected a table with hyper = { ... }, state = [...] and rule = [...], got "
                                f"{_describe(spec)}")
            for k in spec:
                if k not in ("hyper", "state", "rule"):
                    raise self.fail(key + (k,), "unknown key, expected one of hyper, rule, state")
            hyper = spec.get("hyper", {})
            if not isinstance(hyper, dict):
                raise self.fail(key + ("hyper",), "expected a table of names and default values such as "
                                f"{{ epsilon = 1e-10 }}, got {_describe(hyper)}")
            defaults = {k: self.number(v, key + ("hyper", k)) for k, v in hyper.items()}
            state = spec.get("state", [])
            if not isinstance(state, list) or not all(isinstance(n, str) for n in state):
                raise self.fail(key + ("state",), f"expected a list of names such as [\"r\"], got {_describe(state)}")
            if "rule" not in spec:
                raise self.fail(key + ("rule",), "missing, expected assignments such as [\"r = r + g**2\", "
                                "\"p = p - learning_rate*g/(sqrt(r) + epsilon)\"]")
            rule = spec["rule"]
            if not isinstance(rule, list) or not rule or not all(isinstance(line, str) for line in rule):
                raise self.fail(key + ("rule",), f"expected a list of assignments such as [\"p = p - "
                                f"learning_rate*g\"], got {_describe(rule)}")
            for other in (*state, *defaults):
                if self.params_pattern.fullmatch(other):
                    raise self.fail(key + ("state" if other in state else "hyper",), f"'{other}' is a parameter's "
                                    "name, expected another name")
            try:
                out[name] = optimizers.from_formulas(name, defaults, [n.strip() for n in state],
                                                     [" ".join(line.split()) for line in rule])
            except optimizers.RuleError as exc:
                where = key + (exc.part,) + ((exc.line,) if exc.line is not None else ())
                raise self.fail(where, str(exc)) from None
        return out

    params_pattern = re.compile(r"^(?:[wb]\d+|theta\d+(?:\[.*)?)$")

    def activations(self, network: dict, layers: tuple[int, ...],
                    customs: dict[str, act.Activation]) -> tuple[act.Activation, ...]:
        key = ("network", "activation")
        value = network.get("activation", "sigmoid")
        n = len(layers) - 1
        names = [value] * n if isinstance(value, str) else value
        if not isinstance(names, list):
            raise self.fail(key, f"expected a name or a list of {n} names, got {_describe(value)}")
        if len(names) != n:
            raise self.fail(key, f"expected {n} names, one per non-input layer, got {len(names)}")
        known = list(act.BUILTIN) + sorted(customs)
        out = []
        for i, name in enumerate(names):
            if not isinstance(name, str):
                raise self.fail(key, f"entry {i + 1} is {_describe(name)}, expected an activation name")
            if name in customs:
                out.append(customs[name])
            elif name in act.BUILTIN:
                entry = act.builtin(name)
                if entry.is_softmax and i != n - 1:
                    raise self.fail(key, f"{name} in hidden layer {i + 2}, expected {name} only in the "
                                    "output layer")
                if entry.is_softmax and layers[-1] < 2:
                    raise self.fail(key, f"{name} over 1 output unit is always 1, expected at least 2 "
                                    "output units")
                out.append(entry)
            else:
                raise self.fail(key, one_of("activation", name, known, quote="'"))
        return tuple(out)

    def frozen(self, training: dict, params: ParamIndex) -> frozenset[str]:
        key = ("training", "frozen")
        value = training.get("frozen", [])
        if not isinstance(value, list):
            raise self.fail(key, f"expected a list of parameter names, got {_describe(value)}")
        out = set()
        for name in value:
            if not isinstance(name, str):
                raise self.fail(key, f"expected parameter names, got {_describe(name)}")
            p = params.find(name)
            if p is None:
                raise self.fail(key, f"unknown parameter '{name}', expected {params.describe_names()}")
            out.add(p.canonical)
        return frozenset(out)

    def weights(self, layers: tuple[int, ...], bias: bool, files: list[datafiles.FileStamp],
                shared: bool = False) -> tuple[tuple[np.ndarray, ...], InitSpec | None]:
        """The starting matrices; with shared biases, column 0 of each holds one number (refused otherwise)."""
        weights, init = self._weights(layers, bias, files, shared)
        if shared:
            self.shared_columns(weights, "file" in self.doc.get("weights", {}))
        return weights, init

    def shared_columns(self, weights: tuple[np.ndarray, ...], from_file: bool) -> None:
        """Refuse a bias column whose rows differ: a shared bias is one number."""
        for l, w in enumerate(weights, start=1):
            column = w[:, 0]
            differ = np.flatnonzero(column != column[0])
            if len(differ):
                r = int(differ[0])
                raise self.fail(("weights", "file" if from_file else f"theta{l}"),
                                f"bias = \"shared\" gives layer {l + 1} one bias, expected column 0 of theta{l} to "
                                f"hold the same number in every row, got {float(column[0])!r} in row 1 and "
                                f"{float(column[r])!r} in row {r + 1}")

    def _weights(self, layers: tuple[int, ...], bias: bool, files: list[datafiles.FileStamp],
                 shared: bool) -> tuple[tuple[np.ndarray, ...], InitSpec | None]:
        names = [f"theta{l}" for l in range(1, len(layers))]
        table = self.table(self.doc, ("weights",), set(names) | {"init", "range", "seed", "file"}, True)
        given = [n for n in names if n in table]
        if "file" in table:
            others = [k for k in table if k != "file"]
            if others:
                raise self.fail(("weights", others[0]), "expected either file or the matrices or init, never both")
            weights, stamp = self.from_file(lambda base: datafiles.read_weights(base, table["file"], layers, bias))
            for w in weights:
                w.setflags(write=False)
            files.append(stamp)
            return weights, None
        if "init" in table:
            if given:
                raise self.fail(("weights", given[0]), "expected either init or the matrices, never both")
            return self.generated(table, layers, bias, shared)
        for k in ("range", "seed"):
            if k in table:
                raise self.fail(("weights", k), "only used with init, expected init = \"uniform\" beside it")
        if not given:
            raise self.fail(("weights",), f"expected the matrices {', '.join(names)} or init = \"uniform\" (or "
                            "file = \"weights.npz\")")
        out = []
        for l, name in enumerate(names, start=1):
            if name not in table:
                raise self.fail(("weights", name), f"missing, expected {_shape_text(layers, l, bias)}")
            m = self.matrix(table[name], ("weights", name), name)
            want = (layers[l], layers[l - 1] + (1 if bias else 0))
            if not isinstance(table[name][0], list) and want[0] != 1:
                raise self.fail(("weights", name), f"expected {_shape_text(layers, l, bias)}, got one flat row")
            if m.shape != want:
                raise self.fail(("weights", name), f"expected {_shape_text(layers, l, bias)}, got "
                                f"{m.shape[0]} row{'s' if m.shape[0] != 1 else ''} of {m.shape[1]}")
            out.append(m)
        return tuple(out), None

    def generated(self, table: dict, layers: tuple[int, ...], bias: bool,
                  shared: bool = False) -> tuple[tuple[np.ndarray, ...], InitSpec]:
        method = table["init"]
        if method not in INIT_METHODS:
            raise self.fail(("weights", "init"), one_of("init", method, INIT_METHODS))
        low, high = -0.5, 0.5
        if "range" in table:
            if method != "uniform":
                raise self.fail(("weights", "range"), f"only used with init = \"uniform\", expected no range "
                                f"with {method}, which sets its own scale")
            r = table["range"]
            if not isinstance(r, list) or len(r) != 2:
                raise self.fail(("weights", "range"), f"expected [low, high], got {_describe(r)}")
            low = self.number(r[0], ("weights", "range"))
            high = self.number(r[1], ("weights", "range"))
            if not low < high:
                raise self.fail(("weights", "range"), f"expected low < high, got [{low:g}, {high:g}]")
            if not math.isfinite(high - low):
                raise self.fail(("weights", "range"), f"[{low:g}, {high:g}] is wider than a 64-bit float holds, "
                                "expected high - low below 1.8e308")
        seed = self.integer(table.get("seed", 0), ("weights", "seed"), 0)
        rng = np.random.default_rng(seed)
        out = []
        for l in range(1, len(layers)):
            n_in, n_out = layers[l - 1], layers[l]
            if method == "uniform":
                m = rng.uniform(low, high, size=(n_out, n_in + (1 if bias else 0)))
            else:
                if method == "xavier":
                    limit = math.sqrt(6.0 / (n_in + n_out))
                    w = rng.uniform(-limit, limit, size=(n_out, n_in))
                else:  # he
                    w = rng.normal(0.0, math.sqrt(2.0 / n_in), size=(n_out, n_in))
                m = np.hstack([np.zeros((n_out, 1)), w]) if bias else w
            if shared:  # one bias per layer: the first unit's draw for every unit
                m[:, 0] = m[0, 0]
            m.setflags(write=False)
            out.append(m)
        return tuple(out), InitSpec(method, low, high, seed)

    def expectations(self, layers: tuple[int, ...], params: ParamIndex, n_examples: int,
                     optimizer: optimizers.Optimizer | None = None, bias: bool = True) -> tuple[Expectation, ...]:
        value = self.doc.get("expect", _MISSING)
        if value is _MISSING:
            return ()
        if not isinstance(value, list):
            raise self.fail(("expect",), f"expected [[expect]] tables, got {_describe(value)}")
        allowed = {"quantity", "value", "epoch", "example", "tolerance", "source"}
        out = []
        for n, entry in enumerate(value):
            base = ("expect", n)
            if not isinstance(entry, dict):
                raise self.fail(base, f"expected an [[expect]] table, got {_describe(entry)}")
            for k in entry:
                if k not in allowed:
                    raise self.fail(base + (k,), f"unknown key, expected one of {', '.join(sorted(allowed))}")
            for k in ("quantity", "value"):
                if k not in entry:
                    raise self.fail(base + (k,), "missing, expected " + (
                        "a quantity such as \"z2\", \"loss\" or \"grad.w5\"" if k == "quantity"
                        else "the printed number or list of numbers"))
            quantity = self.string(entry["quantity"], base + ("quantity",)).strip()  # shown as the name it is
            if quantity != strip_controls(quantity):
                raise self.fail(base + ("quantity",), "contains control characters, expected a quantity such as "
                                "\"z2\", \"loss\" or \"grad.w5\"")
            named = self.quantity(quantity, base + ("quantity",), layers, params, optimizer, bias)
            size = named.size
            raw = entry["value"]
            vkey = base + ("value",)
            if named.shape is not None and isinstance(raw, list) and raw and all(isinstance(r, list) for r in raw):
                values = tuple(float(v) for v in self.matrix(raw, vkey, "the matrix").ravel())  # rows of a matrix
                scalar = False
            elif isinstance(raw, list):
                if not raw:
                    raise self.fail(vkey, "empty list, expected numbers")
                values = tuple(self.number(v, vkey) for v in raw)
                scalar = False
            else:
                values = (self.number(raw, vkey),)
                scalar = True
            if len(values) != size:
                what = ("a number" if size == 1 else f"a list of {size} numbers" if named.shape is None
                        else f"{named.shape[0]} rows of {named.shape[1]} numbers")
                raise self.fail(vkey, f"{quantity} has {size} value{'s' if size != 1 else ''}, expected {what}, "
                                f"got {len(values)}")
            epoch = self.integer(entry.get("epoch", 1), base + ("epoch",), 1, MAX_EPOCHS)
            example = self.integer(entry.get("example", 1), base + ("example",), 1)
            if example > n_examples:
                raise self.fail(base + ("example",), f"expected an example from 1 to {n_examples}, got {example}")
            tol = self.number(entry.get("tolerance", DEFAULT_TOLERANCE), base + ("tolerance",))
            if tol < 0:
                raise self.fail(base + ("tolerance",), f"expected a tolerance >= 0, got {tol:g}")
            source = strip_controls(self.string(entry["source"], base + ("source",))) if "source" in entry else None
            out.append(Expectation(n, quantity, named.kind, values, scalar, epoch, example, tol, source,
                                   named.layer, named.param, self.locator.line(base), named.unit, named.state,
                                   named.shape, "example" in entry))
        return tuple(out)

    def quantity(self, q: str, key: tuple, layers: tuple[int, ...], params: ParamIndex,
                 optimizer: optimizers.Optimizer | None = None, bias: bool = True) -> Named:
        """The quantity a name means (the one grammar of :func:`~bpdebug.core.quantity.resolve`)."""
        opt = optimizer or optimizers.get(optimizers.DEFAULT)
        try:
            return resolve(q, layers, params, bias=bias, state_names=opt.state_names + opt.shown_names,
                           optimizer=opt.name, every_state=optimizers.STATE_QUANTITIES,
                           softmax_layers=tuple(getattr(self, "_softmax_layers", ())))
        except QuantityError as exc:
            raise self.fail(key, str(exc)) from None


def _shape_text(layers: tuple[int, ...], l: int, bias: bool) -> str:
    cols = layers[l - 1] + (1 if bias else 0)
    return (f"{layers[l]} row{'s' if layers[l] != 1 else ''} of {cols} columns for layers "
            f"{layers[l - 1]} -> {layers[l]}{' with bias' if bias else ' without bias'}")


_MISSING = object()


def _finite(value: int | float) -> bool:
    """A finite float64: an integer too large for one (10**400) is not."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _get(d: dict, k: str) -> Any:
    return d.get(k, _MISSING)


