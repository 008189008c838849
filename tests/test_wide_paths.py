"""What a 784-128-10 network takes to open and step: parameter names made on demand, long number arrays
read by the fast TOML path (the same document and errors as tomllib), step text of a bounded length."""

from __future__ import annotations

import tomllib

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bpdebug.core import toml_fast
from bpdebug.core.params import ParamIndex

# ------------------------------------------------------------------------------------- parameter index


def reference_names(layers: tuple[int, ...], bias: bool) -> list[tuple[str, str, int, int, int, bool]]:
    """(short, canonical, layer, row, col, is_bias) as the text numbers them: every weight, layer by layer and
    row by row, then every bias."""
    weights, biases = [], []
    for l in range(1, len(layers)):
        for i in range(layers[l]):
            for j in range(layers[l - 1]):
                weights.append((f"theta{l}[{i + 1},{j + 1}]", l, i, j + 1 if bias else j, False))
            if bias:
                biases.append((f"theta{l}[{i + 1},0]", l, i, 0, True))
    return ([(f"w{k + 1}", *w) for k, w in enumerate(weights)]
            + [(f"b{k + 1}", *b) for k, b in enumerate(biases)])


shapes = st.tuples(st.lists(st.integers(1, 5), min_size=2, max_size=5).map(tuple), st.booleans())


@settings(deadline=None)
@given(shapes)
def test_param_index_names_every_parameter_as_the_text_does(shape):
    layers, bias = shape
    index = ParamIndex(layers, bias)
    expected = reference_names(layers, bias)
    by_position = [index[k] for k in range(len(index))]  # made one at a time
    assert [(p.short, p.canonical, p.layer, p.row, p.col, p.is_bias) for p in by_position] == expected
    assert list(index) == by_position and list(index.params) == by_position
    assert index.shorts == [e[0] for e in expected]
    layer, row, col, is_bias = index.arrays()
    assert (layer.tolist(), row.tolist(), col.tolist(), is_bias.tolist()) == (
        [e[2] for e in expected], [e[3] for e in expected], [e[4] for e in expected], [e[5] for e in expected])
    assert index.longest_names() == (max(len(e[0]) for e in expected), max(len(e[1]) for e in expected))
    for k, p in enumerate(by_position):
        assert index.find(p.short) == p and index.find(p.canonical) == p
        assert index.find(f"  {p.short.upper()} ") == p
        assert index.find(p.canonical.replace("[", " [ ").replace(",", " , ").upper()) == p
        assert index.index(p) == k and p in index
        assert index.at(p.layer, p.row, p.col) == p
    last = len(layers) - 1
    assert index.first_weight(last) == next(p for p in by_position if p.layer == last and not p.is_bias)


@given(shapes, st.text(max_size=12))
def test_param_index_finds_nothing_that_is_not_a_name(shape, name):
    layers, bias = shape
    index = ParamIndex(layers, bias)
    found = index.find(name)
    assert found is None or found in index
    for candidate in ("w0", "w01", f"w{index.n_weights + 1}", "b0", f"b{index.n_biases + 1}", "theta0[1,1]",
                      f"theta{len(layers)}[1,1]", "theta1[0,1]", f"theta1[1,{layers[0] + 1}]",
                      f"theta1[{layers[1] + 1},1]", "theta1[1,1]x", "w1 b1", 5):
        assert index.find(candidate) is None, candidate  # type: ignore[arg-type]
    assert (index.find("theta1[1,0]") is not None) == bias


def test_a_784_128_10_index_makes_no_parameter_until_asked():
    index = ParamIndex((784, 128, 10), True)
    assert len(index) == 101_770
    assert index.get("w100353").canonical == "theta2[1,1]" == index.first_weight(2).canonical
    assert index.find("theta1[128,784]").short == "w100352"
    assert index.find("b138").canonical == "theta2[10,0]"
    assert index[-1].short == "b138"
    assert index.describe_names() == "w1..w101632, b1..b138, or theta1[i,j]..theta2[i,j]"
    assert index._all is None  # nothing built for all 101,770


# --------------------------------------------------------------------------------------------- TOML


def _same_as_tomllib(text: str) -> None:
    try:
        expected: object = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        expected = ("error", str(exc))
    try:
        got: object = toml_fast.loads(text)
    except tomllib.TOMLDecodeError as exc:
        got = ("error", str(exc))
    assert repr(got) == repr(expected)  # ints stay ints, floats floats (and nan compares, as text)


TOKENS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-10**20, 10**20).map(str),
    st.sampled_from(["+1", "01", "1.", ".5", "1e5", "1E-5", "-0", "nan", "inf", "-inf", "1_000", "0x1f", "e",
                     "", "1 2", '"x"', "true", "1.5e+3", "[]", "[1, 2]", "[1,]", "1e400"]))
SEPARATORS = st.sampled_from([", ", ",", ",\n", " ,\n  ", ", # a comment\n", ",\r\n", ",,", "\n"])


@st.composite
def long_arrays(draw) -> str:
    n_rows = draw(st.integers(1, 4))
    rows = []
    for _ in range(n_rows):
        tokens = draw(st.lists(TOKENS, min_size=1, max_size=8))
        tokens = tokens * (600 // len(tokens) + 1)  # past MIN_FAST_LENGTH, so the fast path is tried
        seps = [", "] * len(tokens)
        for at, sep in draw(st.lists(st.tuples(st.integers(0, len(tokens) - 1), SEPARATORS), max_size=3)):
            seps[at] = sep
        rows.append("[" + "".join(t + s for t, s in zip(tokens, seps, strict=True))[: -len(seps[-1])] + "]")
    return "[" + ",\n".join(rows) + draw(st.sampled_from(["]", ",]", "", "]]", "] # end", "] x = 1"]))


@settings(deadline=None)  # tomllib itself takes a second on some of these documents
@given(long_arrays(), st.sampled_from(["", 'description = """\ninputs = ', "[data]\n", "a = 1\n"]),
       st.sampled_from(["", "\n[weights]\nseed = 7\n", "\nbad = \n", "\ninputs = 1\n"]))
def test_the_fast_path_reads_what_tomllib_reads(array, before, after):
    text = f"{before}inputs = {array}{after}"
    if before.startswith("description"):
        text += '\n"""\n'
    _same_as_tomllib(text)


def test_the_fast_path_is_taken_for_plain_numbers_and_keeps_line_numbers():
    rng = np.random.default_rng(3)
    inputs = "[" + ",\n".join("[" + ", ".join(repr(float(v)) for v in row) + "]"
                              for row in rng.uniform(-1, 1, size=(20, 50))) + "]"
    text = f"[data]\ninputs = {inputs}\ntargets = [[1, 0]]\n[weights]\nseed = 7\n"
    assert toml_fast._fast(text) is not None  # the JSON reader took the array
    _same_as_tomllib(text)
    bad = text + "oops\n"  # an error after the array: reported on the same line as tomllib reports it
    _same_as_tomllib(bad)
