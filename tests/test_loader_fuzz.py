"""Fuzzing the loader: whatever the file, the outcome is a Scenario or one line naming the file, never a traceback.

Documents are drawn from the format's own keys and plausible values (the bundled scenarios' values among
them), with wrong types, wrong shapes, unknown keys, hostile strings, formulas and odd TOML spellings
(multi-line strings, comments, quoted keys, inline tables) mixed in; byte strings are drawn at random and
as random damage to a valid scenario. The property is the loader's contract, nothing more.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _bundled import NETWORKS
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bpdebug.core.scenario import Scenario, ScenarioError, load, loads
from bpdebug.core.toml_locator import TomlLocator

SCENARIOS = list(NETWORKS)
REAL = [tomllib.loads(p.read_text(encoding="utf-8")) for p in SCENARIOS]
# those that need no file beside them (iris.toml reads iris.csv), so their text alone loads anywhere
SELF_CONTAINED = [d for d in REAL if "file" not in d.get("data", {}) and "file" not in d.get("weights", {})]
NAME = "fuzz.toml"
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

Draw = Callable[[st.SearchStrategy[Any]], Any]  # data.draw, as the writer uses it
SCHEMA: dict[str, tuple[str, ...]] = {
    "network": ("layers", "activation", "bias"),
    "loss": ("function",),
    "training": ("learning_rate", "epochs", "update", "frozen", "optimizer", "momentum", "beta1", "beta2",
                 "epsilon", "alpha", "weight_decay", "batch_size", "shuffle", "seed"),
    "data": ("inputs", "targets", "file", "classes"),
    "weights": ("theta1", "theta2", "theta3", "init", "range", "seed", "file"),
}
WORDS = ("sigmoid", "tanh", "relu", "linear", "softmax", "soft", "sse", "half_sse", "mse", "cross_entropy",
         "binary_cross_entropy", "batch", "online", "uniform", "xavier", "he", "w1", "w5", "b1", "theta1[1,0]",
         "z2", "a3", "error", "loss", "grad.w5", "w5.after", "x", "", " z2\t", "theta1[1,\x1c0]", "grad. w5",
         "sgd", "momentum", "nesterov", "adam", "rmsprop", "m.w5", "vhat.w1", "z3[2]", "dE/da3", "dadz3", "delta3",
         "iris.csv", "/dev/zero", "model.safetensors", "../x.npz", "setosa")
HOSTILE = ("\x1b[31mred\x1b[0m", "\x1b]0;title\x07", "line\nbreak", "tab\there", "\u202eevil", "\x9b2J", "\x00",
           "\\", '"', "'''", '"""', "[training]", "# not a comment", "caf\u00e9 \u2202E/\u2202w")
FORMULAS = ("log(1 + exp(x))", "1/0", "x/0", "log(0)", "1/(x-x)", "sqrt(-1)", "(-1)**0.5", "exp(1000)", "x**4/4",
            "Max(x, 0)", "9**9**9", "abs(x)", "sqrt(x)", "x +", "__import__('os')", "tanh(x)*2", "0/0*x",
            "exp(exp(exp(10)))", "-" * 300 + "x", "(" * 100 + "x" + ")" * 100, "x if x else 0", "log(-2)*x")


def _formula() -> st.SearchStrategy[str]:
    leaf = st.sampled_from(["x", "0", "1", "2", "-1", "0.5", "1e308", "1e-320", "10"])
    unary = st.sampled_from(["exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "-"])

    def grow(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        binary = st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "**"]), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})")
        call = st.tuples(unary, inner).map(lambda t: f"{t[0]}({t[1]})" if t[0] != "-" else f"-{t[1]}")
        extreme = st.tuples(st.sampled_from(["Max", "Min"]), inner, inner).map(lambda t: f"{t[0]}({t[1]}, {t[2]})")
        return binary | call | extreme

    return st.sampled_from(FORMULAS) | st.recursive(leaf, grow, max_leaves=6)


SCALARS: st.SearchStrategy[Any] = st.one_of(
    st.integers(-3, 12), st.integers(), st.just(10**400), st.just(-(2**1100)),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-2, 2), st.booleans(), st.sampled_from(WORDS), st.sampled_from(HOSTILE), st.text(max_size=12),
)


def _matrix() -> st.SearchStrategy[Any]:
    number = st.floats(-3, 3) | st.integers(-2, 2) | SCALARS
    return st.integers(1, 4).flatmap(lambda w: st.lists(st.lists(number, min_size=w, max_size=w), min_size=1,
                                                       max_size=3)) | st.lists(number, max_size=4)


VALUES: st.SearchStrategy[Any] = st.one_of(
    SCALARS,
    st.lists(st.integers(-1, 5), max_size=5),  # layer lists, frozen lists and the like
    st.sampled_from([[-1e308, 1e308], [0, 5e-324], [1, 0], [-0.5, 0.5]]),  # ranges at the edges of float64
    st.lists(st.sampled_from(WORDS), max_size=4),
    _matrix(),
    st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["a", "expr", "value", "b c"]), inner, max_size=2), max_leaves=6),
)


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """A scenario dict: usually a bundled one with a few keys replaced, removed or added; sometimes from nothing."""
    doc: dict[str, Any] = (
        _copy(draw(st.sampled_from(REAL))) if draw(st.integers(0, 4)) else {}
    )
    for _ in range(draw(st.integers(0, 4))):
        where = draw(st.sampled_from([*SCHEMA, "title", "description", "activations", "expect", "bogus"]))
        action = draw(st.sampled_from(["set", "delete", "replace-table"]))
        if where in SCHEMA:
            table = doc.setdefault(where, {}) if isinstance(doc.get(where), dict) else doc.setdefault(where, {})
            if not isinstance(table, dict):
                doc[where] = table = {}
            key = draw(st.sampled_from([*SCHEMA[where], "extra"]))
            if action == "delete":
                table.pop(key, None)
            elif action == "replace-table":
                doc[where] = draw(VALUES)
            else:
                table[key] = draw(VALUES)
        elif where == "activations":
            name = draw(st.sampled_from(["soft", "sigmoid", "my act", "x2", "soft\x1b"]))
            doc["activations"] = {name: {"expr": draw(_formula())}} if action != "replace-table" else draw(VALUES)
            if draw(st.booleans()) and isinstance(doc.get("network"), dict):
                doc["network"]["activation"] = name
        elif where == "expect":
            entry = {"quantity": draw(st.sampled_from(WORDS)), "value": draw(VALUES)}
            for k in draw(st.lists(st.sampled_from(["epoch", "example", "tolerance", "source", "when"]),
                                   max_size=3)):
                entry[k] = draw(VALUES)
            doc["expect"] = [entry] if action != "replace-table" else draw(VALUES)
        elif action == "delete":
            doc.pop(where, None)
        else:
            doc[where] = draw(VALUES)
    return doc


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


# ------------------------------------------------------------------------------- a TOML writer with odd spellings

def _key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else _basic(k)


def _basic(s: str) -> str:
    out = []
    for c in s:
        if c in '"\\':
            out.append("\\" + c)
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def _string(s: str, draw: Draw) -> str:
    style = draw(st.integers(0, 3))
    if style == 1 and "'" not in s and not CONTROL.search(s) and "\n" not in s and "\r" not in s:
        return f"'{s}'"
    if style == 2:  # multi-line basic: a newline after the opening quotes is dropped by TOML
        body = _basic(s)[1:-1].replace("\\u000a", "\n") if "\r" not in s else _basic(s)[1:-1]
        return '"""\n' + body + '"""'
    if style == 3 and "'''" not in s and not CONTROL.search(s.replace("\n", "")) and not s.endswith("'") \
            and not s.startswith("\n"):
        return "'''" + s + "'''"
    return _basic(s)


def _value(v: Any, draw: Draw) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _string(v, draw)
    if isinstance(v, list):
        items: list[str] = [_value(x, draw) for x in v]
        if items and draw(st.booleans()):  # over several lines, with comments and a trailing comma
            return "[\n" + "".join(f"  {x},  # [data] ]\n" for x in items) + "]"
        return "[" + ", ".join(items) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x, draw)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def to_toml(doc: dict[str, Any], draw: Draw) -> str:
    return written(doc, draw)[0]


def written(doc: dict[str, Any], draw: Draw) -> tuple[str, dict[tuple[Any, ...], int]]:
    """The TOML text of ``doc`` and the line the writer put each key and table header on."""
    top: list[tuple[tuple[Any, ...], str]] = []  # (key path, text) in the order written
    rest: list[tuple[tuple[Any, ...], str]] = []
    for k, v in doc.items():
        if isinstance(v, dict) and draw(st.integers(0, 4)):
            rest.append(((k,), f"\n[{_key(k)}]"))
            subtables = []
            for a, b in v.items():
                if isinstance(b, dict) and b and draw(st.booleans()):  # [activations.soft] rather than inline
                    subtables.append((a, b))
                else:
                    rest.append(((k, a), f"{_key(a)} = {_value(b, draw)}"))
            for a, b in subtables:  # after the table's own keys, as TOML requires
                rest.append(((k, a), f"\n[{_key(k)}.{_key(a)}]"))
                rest.extend(((k, a, c), f"{_key(c)} = {_value(d, draw)}") for c, d in b.items())
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v) and draw(st.booleans()):
            for n, entry in enumerate(v):
                rest.append(((k, n), f"\n[[{_key(k)}]]  # [training]"))
                rest.extend(((k, n, a), f"{_key(a)} = {_value(b, draw)}") for a, b in entry.items())
        else:
            top.append(((k,), f"{_key(k)} = {_value(v, draw)}"))
    text, lines = "", dict[tuple[Any, ...], int]()
    for path, chunk in top + rest:
        lines.setdefault(path, text.count("\n") + 1 + (1 if chunk.startswith("\n") else 0))
        text += chunk + "\n"
    return text, lines


# ------------------------------------------------------------------------------------------------- the property

def outcome(raw: bytes | str) -> Scenario | ScenarioError:
    try:
        scenario = loads(raw, NAME)
    except ScenarioError as exc:
        text = str(exc)
        assert text.startswith(NAME + ":"), text
        assert "\n" not in text and "\r" not in text, repr(text)
        assert not CONTROL.search(text), repr(text)
        return exc
    # a loaded scenario carries no control character to a terminal
    strings = [scenario.title, *(e.source or "" for e in scenario.expectations), *scenario.activation_names,
               *(e.quantity for e in scenario.expectations), *(a.expr or "" for a in scenario.activations)]
    assert not any(CONTROL.search(s) for s in strings), strings
    assert not CONTROL.search(scenario.description.replace("\n", "").replace("\t", ""))
    return scenario


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                         HealthCheck.data_too_large])


@FUZZ
@given(st.data())
def test_random_documents_load_or_are_refused_in_one_line(data: st.DataObject) -> None:
    doc = data.draw(documents())
    outcome(to_toml(doc, data.draw))


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_load_or_are_refused_in_one_line(raw: bytes) -> None:
    outcome(raw)


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=200) | st.sampled_from(SCENARIOS).map(lambda p: p.read_bytes()))
def test_files_load_or_are_refused_in_one_line_naming_them(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / NAME
        path.write_bytes(raw)
        cwd = os.getcwd()
        os.chdir(folder)  # so the name shown is the name given
        try:
            result = outcome_of_file(Path(NAME))
        finally:
            os.chdir(cwd)
        if isinstance(result, Scenario):
            assert result.source_files == (path.resolve(),) or os.path.samefile(result.source_files[0], path)


def outcome_of_file(path: Path) -> Scenario | ScenarioError:
    try:
        return load(path)
    except ScenarioError as exc:
        text = str(exc)
        assert text.startswith(f"{path}:") and "\n" not in text, repr(text)
        return exc


@FUZZ
@given(st.sampled_from(SCENARIOS), st.integers(0, 10**6), st.integers(0, 8), st.binary(max_size=12))
def test_damaged_scenarios_load_or_are_refused_in_one_line(path: Path, at: int, cut: int, insert: bytes) -> None:
    raw = path.read_bytes()
    at %= len(raw) + 1
    outcome(raw[:at] + insert + raw[at + cut:])


@FUZZ
@given(st.text(alphabet=st.sampled_from(list("[]{}=\"'#.,\n \tax1-+e_\\")), max_size=80))
def test_toml_punctuation_soup_loads_or_is_refused_in_one_line(text: str) -> None:
    outcome(text)


@FUZZ
@given(st.data())
def test_the_locator_finds_every_key_where_the_writer_put_it(data: st.DataObject) -> None:
    """Through multi-line strings holding "[training]", comments, quoted keys and arrays over several lines."""
    text, lines = written(data.draw(documents()), data.draw)
    try:
        tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError):
        return  # a document TOML refuses (a key twice, say): no lines to find
    locator = TomlLocator(text)
    for path, line in lines.items():
        assert locator.line(path) == line, (path, text)


def test_the_writer_writes_the_bundled_scenarios_back() -> None:
    """The generator's TOML means what it says: a bundled scenario written by it loads the same."""

    @settings(max_examples=10, deadline=None)
    @given(st.sampled_from(range(len(SELF_CONTAINED))), st.data())
    def roundtrip(index: int, data: st.DataObject) -> None:
        text = to_toml(SELF_CONTAINED[index], data.draw)
        assert tomllib.loads(text) == SELF_CONTAINED[index]
        assert isinstance(outcome(text), Scenario)

    roundtrip()


# ------------------------------------------------------------------ check never ends in a traceback (issue 18)

MODES = {"batch": "", "online": 'update = "online"', "mini-batch": "batch_size = 2"}
OPTIMIZERS = {"sgd": ("", ()), "momentum": ('optimizer = "momentum"', ("v",)),
              "adam": ('optimizer = "adam"', ("m", "v", "mhat", "vhat")), "rmsprop": ('optimizer = "rmsprop"', ("v",)),
              "decay": ("weight_decay = 0.01", ())}


@st.composite
def checked_scenarios(draw: st.DrawFn) -> str:
    """A valid network scenario (any mode, a few optimizers, 1 to 3 epochs) with [[expect]] entries of every
    quantity kind, at any example and epoch, printed as the engine has it, nearly, or not at all."""
    layers = draw(st.lists(st.integers(1, 3), min_size=2, max_size=4))
    L = len(layers)
    activation = draw(st.sampled_from(["sigmoid", "tanh", "linear", "relu"]))
    examples = draw(st.integers(1, 4))
    epochs = draw(st.integers(1, 3))
    mode = draw(st.sampled_from(sorted(MODES)))
    if mode == "mini-batch" and examples < 3:
        mode = "batch"
    shuffle = "shuffle = true\nseed = 7" if mode != "batch" and draw(st.booleans()) else ""  # rows in any order
    optimizer = draw(st.sampled_from(sorted(OPTIMIZERS)))
    opt_line, states = OPTIMIZERS[optimizer]
    bias_kind = draw(st.sampled_from(["true", "false", "shared"]))  # shared: one bias per layer (version 3)
    bias = bias_kind != "false"
    number = st.floats(-2, 2).map(lambda v: round(v, draw(st.integers(1, 6))))
    xs = [[draw(number) for _ in range(layers[0])] for _ in range(examples)]
    ts = [[draw(number) for _ in range(layers[-1])] for _ in range(examples)]
    loss = draw(st.sampled_from(["sse", "half_sse", "mse"]))
    if layers[-1] >= 2 and draw(st.booleans()):  # a softmax output with cross-entropy and one-hot targets
        activations = [activation] * (L - 2) + ["softmax"]
        activation = "[" + ", ".join(f'"{a}"' for a in activations) + "]"
        loss = "cross_entropy"
        hot = [draw(st.integers(0, layers[-1] - 1)) for _ in range(examples)]
        ts = [[1.0 if k == h else 0.0 for k in range(layers[-1])] for h in hot]
    else:
        activation = f'"{activation}"'
    thetas = {f"theta{l}": [[draw(number) for _ in range(layers[l - 1] + bias)] for _ in range(layers[l])]
              for l in range(1, L)}
    if bias_kind == "shared":  # a valid shared bias: column 0 one number in every row
        for theta in thetas.values():
            for row in theta:
                row[0] = theta[0][0]
    n_weights = sum(layers[l] * layers[l - 1] for l in range(1, L))
    n_biases = (L - 1 if bias_kind == "shared" else sum(layers[1:])) if bias else 0
    names = [f"w{k}" for k in range(1, n_weights + 1)] + [f"b{k}" for k in range(1, n_biases + 1)]
    entries = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["layer", "unit", "error", "loss", "param", "matrix", "state", "bias"]))
        if kind in ("layer", "unit"):
            q = draw(st.sampled_from(["z", "a", "delta", "dadz", "dE/da"]))
            layer = draw(st.integers(1 if q == "a" else 2, L))
            size = layers[layer - 1]
            name = f"{q}{layer}"
            if kind == "unit":
                name += f"[{draw(st.integers(1, size))}]"
                size = 1
        elif kind == "error":
            name, size = "error", layers[-1]
        elif kind == "loss":
            name, size = "loss", 1
        elif kind == "param":
            name = draw(st.sampled_from(["", "grad.", "", ""])) + draw(st.sampled_from(names))
            name += draw(st.sampled_from(["", ".after", ".delta"])) if not name.startswith("grad.") else ""
            size = 1
        elif kind == "bias":  # a bias (shared or not): its value, gradient, new value or change
            if not n_biases:
                continue
            b = f"b{draw(st.integers(1, n_biases))}"
            name, size = draw(st.sampled_from([b, f"grad.{b}", f"{b}.after", f"{b}.delta"])), 1
        elif kind == "matrix":
            l = draw(st.integers(1, L - 1))
            name = draw(st.sampled_from(["theta{}", "grad.theta{}", "theta{}.after", "theta{}.delta"])).format(l)
            size = layers[l] * (layers[l - 1] + bias)
        else:
            if not states:
                continue
            name, size = f"{draw(st.sampled_from(states))}.{draw(st.sampled_from(names))}", 1
        values = [draw(number) for _ in range(size)]
        value = values[0] if size == 1 and draw(st.booleans()) else values
        entry = f'[[expect]]\nquantity = "{name}"\nvalue = {value}\n'
        if draw(st.booleans()):
            entry += f"example = {draw(st.integers(1, examples))}\n"
        if draw(st.booleans()):
            entry += f"epoch = {draw(st.integers(1, epochs))}\n"
        entry += f"tolerance = {draw(st.sampled_from([0.0, 1e-9, 0.0005, 0.05, 3.0]))}\n"
        entries.append(entry)
    weights = "\n".join(f"{k} = {v}" for k, v in thetas.items())
    frozen = f"frozen = [\"{draw(st.sampled_from(names))}\"]" if draw(st.booleans()) else ""
    return f"""[network]
layers = {layers}
activation = {activation}
bias = {'"shared"' if bias_kind == "shared" else bias_kind}
[loss]
function = "{loss}"
[training]
learning_rate = {draw(st.sampled_from([0.1, 0.5, 1.0]))}
epochs = {epochs}
{frozen}
{MODES[mode]}
{shuffle}
{opt_line}
[data]
inputs = {xs}
targets = {ts}
[weights]
{weights}
""" + "\n".join(entries)


SHARED = """[network]
layers = [2, 2, 2]
bias = "shared"
[training]
learning_rate = 0.3
update = "online"
[loss]
function = "half_sse"
[data]
inputs = [[0.1, 0.2], [0.3, -0.4]]
targets = [[0.05, 0.95], [0.5, 0.5]]
[weights]
theta1 = [[0.4, 0.2, 0.25], [0.4, 0.3, 0.35]]
theta2 = [[0.65, 0.45, 0.5], [0.65, 0.55, 0.6]]
""" + "".join(f'[[expect]]\nquantity = "{q}"\nvalue = 0.1\nexample = 2\n' for q in ("b1", "grad.b1", "b1.after",
                                                                                     "b1.delta", "b2.after"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(checked_scenarios())
@example(SHARED)  # shared biases, each kind of figure on one, every run
def test_check_of_any_scenario_the_loader_accepts_is_one_json_object(text: str) -> None:
    import contextlib
    import io
    import json

    from bpdebug import cli

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / NAME
        path.write_text(text)
        try:
            load(path)
        except ScenarioError:
            return  # refused in one line: the loader's property, tested above
        for args in (["--json"], []):
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = cli.main(["check", str(path), *args])
            assert code in (0, 1), (code, err.getvalue(), text)
            assert "Traceback" not in out.getvalue() + err.getvalue()
            if args:
                doc = json.loads(out.getvalue())  # exactly one object: json.loads refuses anything after it
                assert isinstance(doc, dict) and len(doc["expectations"]) == text.count("[[expect]]")
