"""Malformed scenarios are refused with one line, ``FILE:LINE: KEY: what was wrong, what was expected``.

Each case breaks a valid scenario in one place and says which key the message must name, which line
(found by a marker in the broken text, so the cases read like the files they describe) and what the
message must say. Every case goes through ``bpdebug check``: exit status 2, nothing on stdout, exactly
one line on stderr and the same line as ``ScenarioError`` from ``loads``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from bpdebug import cli
from bpdebug.core.scenario import ScenarioError, load, loads

BASE = """\
title = "a valid scenario to break"
description = "the blog's network, one place at a time"

[network]
layers = [2, 2, 2]
activation = "sigmoid"
bias = true

[loss]
function = "half_sse"

[training]
learning_rate = 0.1
epochs = 1
update = "batch"
frozen = ["w2"]

[data]
inputs = [[0.85, 0.25]]
targets = [[0.6905, 0.8657]]

[weights]
theta1 = [[0.1, 0.2, 0.3],
          [0.4, 0.5, 0.6]]
theta2 = [[0.5, 0.4, 0.3],
          [0.2, 0.5, 0.1]]

[activations.soft]
expr = "log(1 + exp(x))"

[[expect]]
quantity = "z2"
value = [0.345, 0.975]
"""

MATRICES = """theta1 = [[0.1, 0.2, 0.3],
          [0.4, 0.5, 0.6]]
theta2 = [[0.5, 0.4, 0.3],
          [0.2, 0.5, 0.1]]"""

LINE = re.compile(r"^(?P<file>[^\n]+?):(?:(?P<line>\d+):)? (?P<key>[^:\n]+): (?P<message>[^\n]+)$")


def test_the_base_scenario_is_valid():
    s = loads(BASE)
    assert s.layers == (2, 2, 2) and len(s.expectations) == 1


@dataclass
class Case:
    id: str
    text: str
    key: str
    says: str  # a fragment of the message
    at: str | int | None = None  # a marker: the message names the first line containing it (or this line)

    def line(self) -> int | None:
        if self.at is None or isinstance(self.at, int):
            return self.at
        for n, line in enumerate(self.text.splitlines(), start=1):
            if self.at in line:
                return n
        raise AssertionError(f"marker {self.at!r} not in the text of {self.id}")


def edit(old: str, new: str, text: str = BASE) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


REAL_EPOCH = edit("epochs = 1", "epoch = 1  # the real one")


def expr(formula: str) -> str:
    return edit('expr = "log(1 + exp(x))"', f"expr = '{formula}'")


def generated(init_lines: str) -> str:
    return edit(MATRICES, init_lines)


CASES = [
    # ---- not TOML
    Case("toml-invalid-value", edit("bias = true", "bias = yes"), "toml", "not valid TOML", "bias = yes"),
    Case("toml-duplicate-key", edit("epochs = 1", "epochs = 1\nepochs = 2"), "toml", "not valid TOML",
         "epochs = 2"),
    Case("toml-duplicate-table", BASE + "\n[network]  # again\nbias = false\n", "toml", "not valid TOML",
         "# again"),
    Case("toml-unterminated-string", edit('function = "half_sse"', 'function = "half_sse'), "toml",
         "not valid TOML", 'function = "half_sse'),
    Case("empty-file", "", "(file)", "the file is empty, expected a TOML scenario", 1),
    Case("blank-file", "\n   \n\n", "(file)", "the file is empty, expected", 1),
    # ---- unknown keys, at every level
    Case("unknown-top", edit('title = "a valid', 'titel = "a valid'), "titel", "unknown key, expected one of",
         "titel"),
    Case("unknown-network", edit("bias = true", "bias = true\nbiases = 1"), "network.biases",
         "unknown key, expected one of activation, bias, layers", "biases"),
    Case("unknown-network-dotted", edit("bias = true", "bias = true\nfoo.bar = 1"), "network.foo",
         "unknown key", "foo.bar"),
    Case("unknown-network-quoted", edit("bias = true", 'bias = true\n"my key" = 1'), "network.my key",
         "unknown key", '"my key"'),
    Case("unknown-loss", edit('function = "half_sse"', 'function = "half_sse"\nreduction = "sum"'),
         "loss.reduction", "unknown key, expected one of function", "reduction"),
    Case("unknown-training", edit("epochs = 1", "epoch = 1"), "training.epoch",
         "unknown key, expected one of alpha, batch_size, beta1, beta2, epochs, epsilon, frozen, learning_rate, "
         "momentum, optimizer, seed, shuffle, update, weight_decay", "epoch = 1"),
    Case("unknown-data", edit("inputs =", "input ="), "data.input",
         "unknown key, expected one of classes, file, inputs, targets", "input ="),
    Case("unknown-weights", edit("theta2 =", "theta3 ="), "weights.theta3",
         "unknown key, expected one of file, init, range, seed, theta1, theta2", "theta3"),
    Case("unknown-activation-key", edit('expr = "log(1 + exp(x))"', 'expr = "log(1 + exp(x))"\nderivative = "x"'),
         "activations.soft.derivative", "unknown key, expected expr", "derivative"),
    Case("unknown-expect-key", BASE + '\n[[expect]]\nquantity = "a2"\nvalue = [0.5, 0.7]\nwhen = 1\n',
         "expect[2].when", "unknown key, expected one of epoch, example", "when = 1"),
    # ---- missing keys
    Case("missing-network", edit('[network]\nlayers = [2, 2, 2]\nactivation = "sigmoid"\nbias = true\n', ""),
         "network", "missing, expected a [network] table"),
    Case("missing-layers", edit("layers = [2, 2, 2]\n", ""), "network.layers", "missing, expected units per layer",
         "[network]"),
    Case("missing-training", edit('[training]\nlearning_rate = 0.1\nepochs = 1\nupdate = "batch"\nfrozen = ["w2"]\n',
                                  ""), "training", "missing, expected a [training] table"),
    Case("missing-learning-rate", edit("learning_rate = 0.1\n", ""), "training.learning_rate",
         "missing, expected a number > 0", "[training]"),
    Case("missing-targets", edit("targets = [[0.6905, 0.8657]]\n", ""), "data.targets",
         "missing, expected one row per example", "[data]"),
    Case("missing-weights-table", edit("[weights]\n" + MATRICES + "\n", ""), "weights",
         "missing, expected a [weights] table"),
    Case("missing-theta2", edit("theta2 = [[0.5, 0.4, 0.3],\n          [0.2, 0.5, 0.1]]\n", ""), "weights.theta2",
         "missing, expected 2 rows of 3 columns for layers 2 -> 2 with bias", "[weights]"),
    Case("no-matrices-no-init", edit(MATRICES, ""), "weights", "expected the matrices theta1, theta2 or init",
         "[weights]"),
    Case("missing-expr", edit('expr = "log(1 + exp(x))"\n', ""), "activations.soft.expr",
         "missing, expected a formula in x", "[activations.soft]"),
    Case("missing-expect-value", edit("value = [0.345, 0.975]\n", ""), "expect[1].value",
         "missing, expected the printed number", "[[expect]]"),
    # ---- wrong types
    Case("bool-learning-rate", edit("learning_rate = 0.1", "learning_rate = true"), "training.learning_rate",
         "expected a number, got true (a boolean)", "learning_rate"),
    Case("string-learning-rate", edit("learning_rate = 0.1", 'learning_rate = "0.1"'), "training.learning_rate",
         'expected a number, got "0.1" (a string)', "learning_rate"),
    Case("date-learning-rate", edit("learning_rate = 0.1", "learning_rate = 1979-05-27"),
         "training.learning_rate", "expected a number", "learning_rate"),
    Case("number-bias", edit("bias = true", "bias = 1"), "network.bias", "expected true, false or \"shared\", got 1",
         "bias = 1"),
    Case("string-layers", edit("layers = [2, 2, 2]", 'layers = "2, 2, 2"'), "network.layers",
         "expected a list of at least 2 unit counts", "layers"),
    Case("bool-in-layers", edit("layers = [2, 2, 2]", "layers = [2, true, 2]"), "network.layers",
         "layer 2 is true (a boolean), expected a whole number", "layers"),
    Case("float-epochs", edit("epochs = 1", "epochs = 1.5"), "training.epochs",
         "expected a whole number from 1 to", "epochs"),
    Case("string-inputs", edit("inputs = [[0.85, 0.25]]", 'inputs = "0.85, 0.25"'), "data.inputs",
         "expected inputs as a non-empty list of rows", "inputs"),
    Case("bool-in-matrix", edit("[0.4, 0.5, 0.6]]", "[0.4, false, 0.6]]"), "weights.theta1",
         "row 2, column 2 is false (a boolean), expected a number", "theta1"),
    Case("string-frozen", edit('frozen = ["w2"]', 'frozen = "w2"'), "training.frozen",
         "expected a list of parameter names", "frozen"),
    Case("number-title", edit('title = "a valid scenario to break"', "title = 3"), "title",
         "expected a string, got 3", "title"),
    Case("network-not-a-table", edit('[network]\nlayers = [2, 2, 2]\nactivation = "sigmoid"\nbias = true\n',
                                     "network = [2, 2, 2]\n", edit('title = "a valid scenario to break"\n', "")),
         "network", "expected a table, got a list of 3", "network ="),
    Case("number-activation", edit('activation = "sigmoid"', "activation = 3"), "network.activation",
         "expected a name or a list of 2 names", "activation"),
    Case("string-expect-value", edit("value = [0.345, 0.975]", 'value = "0.345"'), "expect[1].value",
         "expected a number", "value"),
    Case("expect-not-tables", "expect = 3\n" + BASE.split("[[expect]]")[0], "expect",
         "expected [[expect]] tables", "expect = 3"),
    Case("activation-spec-not-a-table", 'activations.relu2 = "max(x, 0)"\n' + BASE, "activations.relu2",
         "expected a table with expr", "activations.relu2"),
    # ---- shapes and counts
    Case("ragged-matrix", edit("[0.4, 0.5, 0.6]]", "[0.4, 0.5]]"), "weights.theta1",
         "ragged rows: row 1 has 3 numbers, row 2 has 2, expected rows of equal length", "theta1"),
    Case("misshaped-matrix", edit("theta2 = [[0.5, 0.4, 0.3],\n          [0.2, 0.5, 0.1]]",
                                  "theta2 = [[0.5, 0.4],\n          [0.2, 0.5]]"), "weights.theta2",
         "expected 2 rows of 3 columns for layers 2 -> 2 with bias, got 2 rows of 2", "theta2"),
    Case("too-many-rows", edit("[0.2, 0.5, 0.1]]", "[0.2, 0.5, 0.1],\n          [0.3, 0.3, 0.3]]"),
         "weights.theta2", "expected 2 rows of 3 columns for layers 2 -> 2 with bias, got 3 rows of 3", "theta2"),
    Case("flat-matrix", edit("theta2 = [[0.5, 0.4, 0.3],\n          [0.2, 0.5, 0.1]]", "theta2 = [0.5, 0.4, 0.3]"),
         "weights.theta2", "expected 2 rows of 3 columns for layers 2 -> 2 with bias, got one flat row", "theta2"),
    Case("bias-matrices-without-bias", edit("bias = true", "bias = false"), "weights.theta1",
         "expected 2 rows of 2 columns for layers 2 -> 2 without bias, got 2 rows of 3", "theta1"),
    Case("empty-row", edit("inputs = [[0.85, 0.25]]", "inputs = [[]]"), "data.inputs",
         "row 1 is empty, expected a list of numbers", "inputs"),
    Case("inputs-vs-layers", edit("inputs = [[0.85, 0.25]]", "inputs = [[0.85, 0.25, 1.0]]"), "data.inputs",
         "expected 2 numbers per example for the 2 input units, got 3", "inputs"),
    Case("targets-vs-outputs", edit("targets = [[0.6905, 0.8657]]", "targets = [[0.6905]]"), "data.targets",
         "expected 2 numbers per example for the 2 output units, got 1", "targets"),
    Case("rows-of-inputs-vs-targets", edit("targets = [[0.6905, 0.8657]]", "targets = [[0.6905, 0.8657], [0, 1]]"),
         "data.targets", "1 rows of inputs but 2 rows of targets", "targets"),
    Case("activation-list-length", edit('activation = "sigmoid"', 'activation = ["sigmoid"]'),
         "network.activation", "expected 2 names, one per non-input layer, got 1", "activation"),
    # ---- numbers out of range
    Case("nan-input", edit("inputs = [[0.85, 0.25]]", "inputs = [[nan, 0.25]]"), "data.inputs",
         "row 1, column 1 is nan, expected a finite number", "inputs"),
    Case("inf-weight", edit("[0.2, 0.5, 0.1]]", "[0.2, -inf, 0.1]]"), "weights.theta2",
         "row 2, column 2 is -inf, expected a finite number", "theta2"),
    Case("inf-learning-rate", edit("learning_rate = 0.1", "learning_rate = inf"), "training.learning_rate",
         "expected a finite number, got inf", "learning_rate"),
    Case("nan-expect", edit("value = [0.345, 0.975]", "value = [nan, 0.975]"), "expect[1].value",
         "expected a finite number, got nan", "value"),
    Case("zero-width-layer", edit("layers = [2, 2, 2]", "layers = [2, 0, 2]"), "network.layers",
         "layer 2 has 0 units, expected at least 1 unit per layer", "layers"),
    Case("single-layer", edit("layers = [2, 2, 2]", "layers = [2]"), "network.layers",
         "expected a list of at least 2 unit counts (input and output), got a list of 1", "layers"),
    Case("learning-rate-zero", edit("learning_rate = 0.1", "learning_rate = 0"), "training.learning_rate",
         "expected a number > 0, got 0", "learning_rate"),
    Case("learning-rate-negative", edit("learning_rate = 0.1", "learning_rate = -0.5"), "training.learning_rate",
         "expected a number > 0, got -0.5", "learning_rate"),
    Case("epochs-zero", edit("epochs = 1", "epochs = 0"), "training.epochs", "got 0", "epochs"),
    Case("epochs-beyond-reach", edit("epochs = 1", "epochs = 100000000000000"), "training.epochs",
         "expected a whole number from 1 to 1000000", "epochs"),
    # ---- names
    Case("softmax-hidden", edit('activation = "sigmoid"', 'activation = ["softmax", "sigmoid"]'),
         "network.activation", "softmax in hidden layer 2, expected softmax only in the output layer", "activation"),
    Case("softmax-one-output", edit("layers = [2, 2, 2]", "layers = [2, 2, 1]",
                                    edit('activation = "sigmoid"', 'activation = ["sigmoid", "softmax"]')),
         "network.activation", "expected at least 2 output units", "activation"),
    Case("unknown-activation", edit('activation = "sigmoid"', 'activation = "sigmod"'), "network.activation",
         "unknown activation 'sigmod', expected one of sigmoid, tanh, relu, linear, softmax, soft", "activation"),
    Case("unknown-loss-name", edit('function = "half_sse"', 'function = "l2"'), "loss.function",
         'unknown loss "l2", expected one of sse, half_sse', "function"),
    Case("unknown-update", edit('update = "batch"', 'update = "stochastic"'), "training.update",
         'expected "batch" or "online"', "update"),
    Case("unknown-init", generated('init = "gaussian"'), "weights.init",
         "unknown init \"gaussian\", expected one of uniform, xavier, he", "init"),
    Case("matrices-and-init", edit("theta1 = [[0.1", 'init = "uniform"\ntheta1 = [[0.1'), "weights.theta1",
         "expected either init or the matrices, never both", "theta1"),
    Case("range-without-init", edit("theta1 = [[0.1", "range = [0, 1]\ntheta1 = [[0.1"), "weights.range",
         'only used with init, expected init = "uniform" beside it', "range"),
    Case("seed-without-init", edit("theta1 = [[0.1", "seed = 3\ntheta1 = [[0.1"), "weights.seed",
         "only used with init", "seed"),
    Case("range-with-xavier", generated('init = "xavier"\nrange = [-1, 1]'), "weights.range",
         'only used with init = "uniform"', "range"),
    Case("range-backwards", generated('init = "uniform"\nrange = [1, -1]'), "weights.range",
         "expected low < high, got [1, -1]", "range"),
    Case("negative-seed", generated('init = "uniform"\nseed = -1'), "weights.seed",
         "expected a whole number >= 0, got -1", "seed"),
    Case("unknown-frozen", edit('frozen = ["w2"]', 'frozen = ["w2", "b9"]'), "training.frozen",
         "unknown parameter 'b9', expected w1..w8, b1..b4, or theta1[i,j]..theta2[i,j]", "frozen"),
    Case("frozen-bias-without-bias", edit('frozen = ["w2"]', 'frozen = ["b1"]', edit("bias = true", "bias = false")),
         "training.frozen", "unknown parameter 'b1', expected w1..w8, or theta1", "frozen"),
    Case("expect-grad-w99", edit('quantity = "z2"', 'quantity = "grad.w99"'), "expect[1].quantity",
         "'grad.w99': unknown parameter 'w99', expected w1..w8", "quantity"),
    Case("expect-theta9-after", edit('quantity = "z2"', 'quantity = "theta9[1,1].after"'), "expect[1].quantity",
         "unknown parameter 'theta9[1,1]'", "quantity"),
    Case("expect-z1", edit('quantity = "z2"', 'quantity = "z1"'), "expect[1].quantity",
         "'z1': the input layer has no z, expected z2..z3 or a1..a3", "quantity"),
    Case("expect-a7", edit('quantity = "z2"', 'quantity = "a7"'), "expect[1].quantity",
         "'a7': no layer 7, expected layers 1..3", "quantity"),
    Case("expect-unknown-quantity", edit('quantity = "z2"', 'quantity = "gradient"'), "expect[1].quantity",
         "unknown quantity 'gradient', expected z2..z3, a1..a3, error, loss", "quantity"),
    Case("expect-value-length", edit("value = [0.345, 0.975]", "value = [0.345]"), "expect[1].value",
         "z2 has 2 values, expected a list of 2 numbers, got 1", "value"),
    Case("expect-list-for-scalar", edit('quantity = "z2"\nvalue = [0.345, 0.975]', 'quantity = "loss"\nvalue = [1, 2]'),
         "expect[1].value", "loss has 1 value, expected a number, got 2", "value"),
    Case("expect-example-out-of-range", edit("value = [0.345, 0.975]", "value = [0.345, 0.975]\nexample = 2"),
         "expect[1].example", "expected an example from 1 to 1, got 2", "example"),
    Case("expect-epoch-zero", edit("value = [0.345, 0.975]", "value = [0.345, 0.975]\nepoch = 0"),
         "expect[1].epoch", "expected a whole number from 1 to 1000000, got 0", "epoch = 0"),
    Case("expect-negative-tolerance", edit("value = [0.345, 0.975]", "value = [0.345, 0.975]\ntolerance = -0.1"),
         "expect[1].tolerance", "expected a tolerance >= 0", "tolerance"),
    # ---- custom activations: mathematics only, never Python
    Case("formula-import", expr('__import__("os").system("echo hi")'), "activations.soft.expr",
         "is not allowed, expected one of exp, log", "expr"),
    Case("formula-dunder-class", expr("x.__class__"), "activations.soft.expr", "attribute access is not allowed",
         "expr"),
    Case("formula-lambda", expr("lambda x: x"), "activations.soft.expr", "lambda 'lambda x: x' is not allowed",
         "expr"),
    Case("formula-open", expr('open("f")'), "activations.soft.expr", "call of 'open' is not allowed", "expr"),
    Case("formula-unknown-name", expr("y + 1"), "activations.soft.expr", "unknown name 'y', expected only x",
         "expr"),
    Case("formula-exp-two-arguments", expr("exp(x, 2)"), "activations.soft.expr", "exp takes one argument",
         "expr"),
    Case("formula-string-constant", expr('x + "a"'), "activations.soft.expr",
         "unexpected constant 'a', expected a number", "expr"),
    Case("formula-keyword", expr("exp(x=1)"), "activations.soft.expr", "keyword arguments to exp are not allowed",
         "expr"),
    Case("formula-subscript", expr("x[0]"), "activations.soft.expr", "is not allowed", "expr"),
    Case("formula-comparison", expr("x > 0"), "activations.soft.expr", "is not allowed", "expr"),
    Case("formula-syntax", expr("x +"), "activations.soft.expr", "not a formula", "expr"),
    Case("formula-empty", expr(""), "activations.soft.expr", "got an empty string", "expr"),
    Case("formula-not-a-string", edit('expr = "log(1 + exp(x))"', "expr = 3"), "activations.soft.expr",
         "expected a string, got 3", "expr"),
    Case("custom-named-tanh", edit("[activations.soft]", "[activations.tanh]"), "activations.tanh",
         "'tanh' is built in, expected a new name", "[activations.tanh]"),
    Case("custom-named-softmax", edit("[activations.soft]", "[activations.softmax]"), "activations.softmax",
         "'softmax' is built in", "[activations.softmax]"),
    Case("custom-bad-name", edit("[activations.soft]", '[activations."my act"]'), "activations.my act",
         "expected a name of letters, digits and underscores", "my act"),
    Case("huge-integer-target", edit("targets = [[0.6905, 0.8657]]", "targets = [[0.6905, 1" + "0" * 400 + "]]"),
         "data.targets", "row 1, column 2 is 100000000000... (401 digits, beyond a 64-bit float), expected a finite",
         "targets ="),
    Case("huge-integer-learning-rate", edit("learning_rate = 0.1", "learning_rate = 1" + "0" * 400),
         "training.learning_rate", "expected a finite number, got 100000000000... (401 digits", "learning_rate"),
    Case("integer-of-5000-digits", edit("epochs = 1", "epochs = 1" + "0" * 5000), "toml",
         "a number of more than 4300 digits", "epochs = 1000"),
    Case("hex-integer-of-5000-digits", edit("epochs = 1", "epochs = 0x" + "f" * 5000), "training.epochs",
         "expected a whole number from 1 to 1000000, got an integer of about 6021 digits", "epochs = 0x"),
    Case("range-wider-than-float64", generated('init = "uniform"\nrange = [-1e308, 1e308]'),
         "weights.range", "[-1e+308, 1e+308] is wider than a 64-bit float holds, expected high - low below 1.8e308",
         "range ="),
    Case("too-many-parameters", edit("layers = [2, 2, 2]", "layers = [2, 1000, 1000, 2]"), "network.layers",
         "1,006,002 parameters, expected at most 1,000,000", "layers ="),
    Case("expect-quantity-with-control-character", edit('quantity = "z2"', 'quantity = "theta2[1,\\u001c0]"'),
         "expect[1].quantity", "contains control characters, expected a quantity such as", 'quantity = "theta2'),
    # ---- formulas whose value is not a finite real number (SymPy's zoo, nan, I): refused, never a KeyError
    Case("formula-one-over-zero", expr("1/0"), "activations.soft.expr",
         "'1 / 0' is undefined (a division by zero or log(0)), expected a formula finite for real x", "expr"),
    Case("formula-x-over-zero", expr("x/0"), "activations.soft.expr", "'x / 0' is undefined", "expr"),
    Case("formula-log-zero", expr("log(0)"), "activations.soft.expr", "'log(0)' is undefined", "expr"),
    Case("formula-over-x-minus-x", expr("1/(x-x)"), "activations.soft.expr", "'1 / (x - x)' is undefined", "expr"),
    Case("formula-zero-over-zero", expr("x + 0/0"), "activations.soft.expr", "'0 / 0' is undefined (0/0", "expr"),
    Case("formula-sqrt-minus-one", expr("sqrt(-1)"), "activations.soft.expr",
         "'sqrt(-1)' is a complex number, expected real values for real x", "expr"),
    Case("formula-power-half-of-minus-one", expr("(-1)**0.5"), "activations.soft.expr",
         "'(-1) ** 0.5' is a complex number", "expr"),
    Case("formula-log-of-negative", expr("x*log(-2)"), "activations.soft.expr", "'log(-2)' is a complex number",
         "expr"),
    Case("formula-float64-overflow", expr("x + exp(1000)"), "activations.soft.expr",
         "'exp(1000)' is beyond the range of a 64-bit float", "expr"),
    Case("formula-infinite-literal", expr("1e999*x"), "activations.soft.expr",
         "the number 1e309 is beyond the range of a 64-bit float", "expr"),
    Case("formula-inside-max", expr("Max(x, 1/0)"), "activations.soft.expr", "'1 / 0' is undefined", "expr"),
    # ---- what a loss requires of its targets
    Case("bce-target-two", edit('function = "half_sse"', 'function = "binary_cross_entropy"',
                                edit("targets = [[0.6905, 0.8657]]", "targets = [[0.6905, 2]]")), "data.targets",
         "row 1, column 2 is 2, expected a target from 0 to 1 for binary_cross_entropy", "targets ="),
    Case("bce-target-negative", edit('function = "half_sse"', 'function = "binary_cross_entropy"',
                                     edit("targets = [[0.6905, 0.8657]]", "targets = [[-0.5, 1]]")), "data.targets",
         "row 1, column 1 is -0.5, expected a target from 0 to 1", "targets ="),
    Case("ce-target-negative", edit('function = "half_sse"', 'function = "cross_entropy"',
                                    edit("targets = [[0.6905, 0.8657]]", "targets = [[1.5, -0.5]]")), "data.targets",
         "row 1, column 2 is -0.5, expected a target >= 0 for cross_entropy", "targets ="),
    # ---- nesting: refused in one line, never a RecursionError (tomllib's own recursion included)
    Case("nested-arrays-500", edit("epochs = 1", "epochs = " + "[" * 500 + "]" * 500), "toml",
         "values nested too deeply", "epochs = [[["),
    Case("nested-inline-tables-500", edit("epochs = 1", "epochs = " + "{a = " * 500 + "1" + "}" * 500), "toml",
         "values nested too deeply", "epochs = {a"),
    Case("nested-arrays-40", edit("epochs = 1", "epochs = " + "[" * 40 + "]" * 40), "toml",
         "values nested too deeply (arrays or tables more than 32 levels", "epochs = [[["),
    # ---- the line is found through multi-line strings, comments and inline tables
    Case("line-after-multiline-description",
         edit('description = "the blog\'s network, one place at a time"',
              'description = """\nnot a header:\n[training]\nepoch = 1\n"""', REAL_EPOCH), "training.epoch",
         "unknown key", "# the real one"),
    Case("line-after-literal-multiline",
         edit('description = "the blog\'s network, one place at a time"',
              "description = \'\'\'\n[training]\nepoch = 1 \\\n\'\'\'", REAL_EPOCH), "training.epoch",
         "unknown key", "# the real one"),
    Case("line-after-escaped-quotes-in-multiline",
         edit('description = "the blog\'s network, one place at a time"',
              'description = """a \\""" b\n[training]\nepoch = 1 """', REAL_EPOCH), "training.epoch",
         "unknown key", "# the real one"),
    Case("line-after-comment-header", edit("[network]", "# [training]\n# epoch = 1\n[network]", REAL_EPOCH),
         "training.epoch", "unknown key", "# the real one"),
    Case("line-of-inline-table-key",
         edit("[loss]\nfunction = \"half_sse\"\n", "", edit("[network]", 'loss = { function = "half_sse", '
                                                             'reduction = "sum" }\n\n[network]')),
         "loss.reduction", "unknown key", "reduction"),
    Case("line-in-array-of-inline-tables",
         edit('[[expect]]\nquantity = "z2"\nvalue = [0.345, 0.975]\n', "",
              edit("[network]", 'expect = [\n  { quantity = "z2", value = [0.345, 0.975] },  # [training]\n'
                   '  { quantity = "a2", value = [0.5, 0.7], when = 1 },\n]\n\n[network]')),
         "expect[2].when", "unknown key", "when = 1"),
    Case("line-after-array-with-brackets-in-strings",
         edit('frozen = ["w2"]', 'frozen = ["w2", # a [comment]\n  ]\nnote = "]["', REAL_EPOCH),
         "training.epoch", "unknown key", "# the real one"),
]


@pytest.mark.parametrize("formula, says", [
    ("9**9**9**9", "exponent 387420489 is too large"),
    ("((9**999)**999)**999", "is too large a number"),
])
def test_a_formula_that_would_compute_a_huge_number_is_refused_at_once(formula, says):
    with pytest.raises(ScenarioError) as info:
        loads(expr(formula))
    assert says in info.value.message and "expected" in info.value.message


def test_there_are_enough_cases_and_their_ids_are_unique():
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)
    assert sum(c.at is not None for c in CASES) >= 0.9 * len(CASES)


def one_line(text: str) -> re.Match:
    assert text.endswith("\n") and text.count("\n") == 1, repr(text)
    m = LINE.match(text.rstrip("\n"))
    assert m, text
    return m


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_scenario_is_refused_with_one_line(case, tmp_path, capsys):
    path = tmp_path / "broken.toml"
    path.write_text(case.text, encoding="utf-8")
    assert cli.main(["check", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    m = one_line(err)
    assert m["file"] == str(path)
    assert m["key"] == case.key
    assert case.says in m["message"]
    if m["key"] != "toml":
        assert "expected" in m["message"]  # what was wrong, and what was expected
    expected_line = case.line()
    assert m["line"] == (str(expected_line) if expected_line else None), err
    # the same one line from the library, for programs that load scenarios themselves
    with pytest.raises(ScenarioError) as info:
        loads(case.text, str(path))
    assert str(info.value) == err.rstrip("\n")
    assert info.value.key == case.key and info.value.line == expected_line


def test_a_formula_is_never_run(tmp_path, capfd):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.toml"
    path.write_text(expr(f'__import__("os").system("touch {marker}")'))
    assert cli.main(["check", str(path)]) == 2
    out, err = capfd.readouterr()
    assert not marker.exists()
    assert out == "" and "activations.soft.expr" in err


# ----------------------------------------------------------------------------- files that are not text

@pytest.mark.parametrize("name, content, says", [
    ("binary.toml", b"\x00\x01\x02\xff PNG", "is a binary file, expected a TOML text scenario"),
    ("latin1.toml", BASE.replace("a valid scenario", "caf\xe9").encode("latin-1"), "is not UTF-8 text (byte"),
])
def test_files_that_are_not_utf8_text(tmp_path, capsys, name, content, says):
    path = tmp_path / name
    path.write_bytes(content)
    assert cli.main(["check", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    m = one_line(err)
    assert m["file"] == str(path) and m["key"] == "(file)" and says in m["message"]


def test_missing_file_and_directory(tmp_path, capsys):
    missing = tmp_path / "nowhere.toml"
    assert cli.main(["check", str(missing)]) == 2
    m = one_line(capsys.readouterr().err)
    assert (m["file"], m["key"]) == (str(missing), "(file)") and "no such file" in m["message"]
    assert cli.main(["check", str(tmp_path)]) == 2
    m = one_line(capsys.readouterr().err)
    assert (m["file"], m["key"]) == (str(tmp_path), "(file)") and "is a directory" in m["message"]
    with pytest.raises(ScenarioError):
        load(missing)


def test_a_later_mistake_is_found_after_earlier_valid_lines():
    """Line numbers follow [[expect]] tables by their count, not only by their key."""
    text = BASE + '\n[[expect]]\nquantity = "a2"\nvalue = [0.5, 0.7]\n\n[[expect]]\nquantity = "a9"\nvalue = 1\n'
    with pytest.raises(ScenarioError) as info:
        loads(text, "s.toml")
    assert info.value.key == "expect[3].quantity"
    assert info.value.line == text.splitlines().index('quantity = "a9"') + 1


# ------------------------------------------------------------------- the real command, in a new process

@pytest.mark.parametrize("content", [
    edit("bias = true", "bias = yes").encode(),
    b"\x00\x00\x00",
    expr('__import__("os").system("echo hi")').encode(),
    edit("theta2 = [[0.5, 0.4, 0.3],\n          [0.2, 0.5, 0.1]]",
         "theta2 = [[0.5, 0.4],\n          [0.2, 0.5]]").encode(),
], ids=["toml-syntax", "binary", "unsafe-formula", "misshaped"])
def test_python_m_bpdebug_check_refuses_without_a_traceback(tmp_path, content):
    path = tmp_path / "bad.toml"
    path.write_bytes(content)
    done = subprocess.run([sys.executable, "-m", "bpdebug", "check", str(path)], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent, timeout=60)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "Traceback" not in done.stderr and "hi\n" not in done.stderr
    m = one_line(done.stderr)
    assert m["file"] == str(path)


# ------------------------------------------------------------- files that are not regular, too large, with a BOM

@pytest.mark.parametrize("command", [["check"], ["export"], []], ids=["check", "export", "app"])
def test_a_fifo_given_as_the_scenario_is_refused_at_once(tmp_path, command):
    fifo = tmp_path / "scenario.toml"
    os.mkfifo(fifo)
    done = subprocess.run([sys.executable, "-m", "bpdebug", *command, str(fifo)], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == f"{fifo}: (file): is a FIFO, expected a regular .toml scenario file\n"


def test_a_device_is_refused(capsys):
    assert cli.main(["check", "/dev/null"]) == 2
    err = capsys.readouterr().err
    assert err == "/dev/null: (file): is a character device, expected a regular .toml scenario file\n"


def test_a_file_too_large_is_refused_before_it_is_read(tmp_path, capsys, monkeypatch):
    from bpdebug.core import scenario as module

    path = tmp_path / "big.toml"
    path.write_text(BASE + "# " + "x" * 5000 + "\n", encoding="utf-8")
    monkeypatch.setattr(module, "MAX_FILE_BYTES", 4096)
    assert cli.main(["check", str(path)]) == 2
    m = one_line(capsys.readouterr().err)
    assert m["key"] == "(file)"
    assert m["message"] == (f"is {path.stat().st_size:,} bytes, expected a scenario of at most 4,096 bytes "
                            "(larger data or weights go in a [data] or [weights] file)")


def test_the_size_limit_leaves_room_for_a_784_128_10_net_with_every_weight_written_out():
    from bpdebug.core import scenario as module

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    try:
        from networks import mnist_like_text
    finally:
        sys.path.pop(0)
    text = mnist_like_text(n_examples=256).encode()
    assert len(text) < module.MAX_FILE_BYTES


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_an_unreadable_file_is_one_line(tmp_path, capsys):
    path = tmp_path / "secret.toml"
    path.write_text(BASE, encoding="utf-8")
    os.chmod(path, 0)
    assert cli.main(["check", str(path)]) == 2
    assert "cannot be read (Permission denied)" in one_line(capsys.readouterr().err)["message"]


def test_a_utf8_file_with_a_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + BASE.encode("utf-8"))
    s = load(path)
    assert s.title == "a valid scenario to break" and s.layers == (2, 2, 2)
    bad = tmp_path / "bom-bad.toml"
    bad.write_bytes(b"\xef\xbb\xbf" + edit("epochs = 1", "epoch = 1").encode("utf-8"))
    with pytest.raises(ScenarioError) as info:
        load(bad)
    assert info.value.line == BASE.splitlines().index("epochs = 1") + 1  # the mark moves no line


def test_cross_entropy_accepts_targets_that_do_not_sum_to_one():
    s = loads(edit('function = "half_sse"', 'function = "cross_entropy"',
                   edit("targets = [[0.6905, 0.8657]]", "targets = [[0.5, 0.25]]")))
    assert s.loss.name == "cross_entropy" and s.targets.tolist() == [[0.5, 0.25]]


# -------------------------------------------------------------------------- control characters never reach out

ESC = "\\u001b"  # as written in a TOML basic string


def hostile(text: str = BASE) -> str:
    text = edit('title = "a valid scenario to break"', f'title = "{ESC}[31mred{ESC}[0m title{ESC}]0;pwned\\u0007"',
                text)
    text = edit('description = "the blog\'s network, one place at a time"',
                f'description = "line one\\nline two\\t{ESC}[2J\\u009b31m\\u202eevil\\r\\n"', text)
    return edit('value = [0.345, 0.975]', f'value = [0.345, 0.975]\nsource = "post{ESC}[1A{ESC}c, z2\\u0000"', text)


def test_control_characters_are_stripped_at_load_time():
    s = loads(hostile())
    assert s.title == "red title"
    assert s.description == "line one\nline two\tevil\n"
    assert s.expectations[0].source == "post, z2"


def test_check_and_markdown_carry_no_escape_to_the_terminal(tmp_path, capsys):
    path = tmp_path / "hostile.toml"
    path.write_text(hostile(), encoding="utf-8")
    cli.main(["check", str(path)])
    out = capsys.readouterr().out
    assert "post, z2" in out
    assert cli.main(["export", str(path)]) == 0
    markdown = capsys.readouterr().out
    assert "red title" in markdown
    for text in (out, markdown):
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", text), repr(text)


def test_an_error_shows_control_characters_escaped_on_one_line(tmp_path, capsys):
    path = tmp_path / "hostile.toml"
    path.write_text(edit("bias = true", f'bias = true\n"x{ESC}[31m\\ny" = 1'), encoding="utf-8")
    assert cli.main(["check", str(path)]) == 2
    m = one_line(capsys.readouterr().err)
    assert m["key"] == "network.x\\x1b[31m\\ny" and m["line"] == str(BASE.splitlines().index("bias = true") + 2)


# ------------------------------------------------------------------- a value of the wrong type, named

NAMED_KEYS = [  # (the line as written in BASE, how to write the wrong value, the key, the kind, the names)
    ('function = "half_sse"', "function = {}", "loss.function", "a loss name",
     "sse, half_sse, mse, cross_entropy, binary_cross_entropy"),
    ('update = "batch"', 'update = "batch"\noptimizer = {}', "training.optimizer", "an optimizer name",
     "sgd, momentum, nesterov, adam, rmsprop"),
    ('theta1 = [[0.1, 0.2, 0.3],\n          [0.4, 0.5, 0.6]]\ntheta2 = [[0.5, 0.4, 0.3],\n          [0.2, 0.5, 0.1]]',
     "init = {}", "weights.init", "an init name", "uniform, xavier, he"),
]
WRONG_VALUES = [  # (TOML, how the message names it)
    ("[]", "an empty list"),
    ("[1]", "a list of 1 value"),
    ('["sse", "mse"]', "a list of 2 values"),
    ("{}", "an empty table"),
    ("{ name = \"sse\" }", "a table"),
    ("3", "3 (a number)"),
    ("0.5", "0.5 (a number)"),
    ("true", "true (a boolean)"),
    ("1979-05-27", "1979-05-27 (a date)"),
    ("1979-05-27T07:32:00", "1979-05-27 07:32:00 (a date and time)"),
    ("07:32:00", "07:32:00 (a time of day)"),
]


@pytest.mark.parametrize("toml, named", WRONG_VALUES, ids=[w[0] for w in WRONG_VALUES])
@pytest.mark.parametrize("old, new, key, kind, names", NAMED_KEYS, ids=[k[2] for k in NAMED_KEYS])
def test_a_name_of_the_wrong_type_is_named_in_words(old, new, key, kind, names, toml, named):
    assert old in BASE
    text = BASE.replace(old, new.format(toml))
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.startswith(key.split(".")[1] + " ="))
    with pytest.raises(ScenarioError) as caught:
        loads(text, "s.toml")
    assert str(caught.value) == f"s.toml:{line}: {key}: expected {kind} (one of {names}), got {named}"


def test_an_activation_of_the_wrong_type_is_named_in_words():
    says = {toml: named for toml, named in WRONG_VALUES}
    for toml in ("3", "true", "{}", "1979-05-27"):
        with pytest.raises(ScenarioError) as caught:
            loads(BASE.replace('activation = "sigmoid"', f"activation = {toml}"), "s.toml")
        expected = f"expected a name or a list of 2 names, got {says[toml]}"
        assert str(caught.value) == f"s.toml:6: network.activation: {expected}"
    with pytest.raises(ScenarioError) as caught:
        loads(BASE.replace('activation = "sigmoid"', 'activation = ["tanh", []]'), "s.toml")
    assert str(caught.value) == "s.toml:6: network.activation: entry 2 is an empty list, expected an activation name"
