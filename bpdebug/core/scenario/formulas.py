"""``[activations.NAME]``, ``[losses.NAME]`` and ``[optimizers.NAME]``: a scenario's own entries, written as
formulas (parsed, never evaluated as Python) and tried once where they will run."""

from __future__ import annotations

import re

import numpy as np

from .. import activations as act
from .. import losses, optimizers
from ..messages import describe as _describe
from ..messages import one_of
from .reader import MISSING, Section

TYPICAL_OUTPUT, TYPICAL_TARGET = 0.7, 0.2  # where a formula loss and its derivative must be finite numbers
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PARAM_NAME = re.compile(r"^(?:[wb]\d+|theta\d+(?:\[.*)?)$")  # w5, b1, theta2[1,1]: not a state's name


class FormulaEntries(Section):
    def custom_activations(self) -> dict[str, act.Activation]:
        table = self.doc.get("activations", MISSING)
        if table is MISSING:
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
            from ..expr import FormulaError  # here: a scenario without formulas never loads the formula language
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
        table = self.doc.get("losses", MISSING)
        if table is MISSING:
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
            from ..expr import FormulaError  # here: a scenario without formulas never loads the formula language
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
        table = self.doc.get("optimizers", MISSING)
        if table is MISSING:
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
                if _PARAM_NAME.fullmatch(other):
                    raise self.fail(key + ("state" if other in state else "hyper",), f"'{other}' is a parameter's "
                                    "name, expected another name")
            try:
                out[name] = optimizers.from_formulas(name, defaults, [n.strip() for n in state],
                                                     [" ".join(line.split()) for line in rule])
            except optimizers.RuleError as exc:
                where = key + (exc.part,) + ((exc.line,) if exc.line is not None else ())
                raise self.fail(where, str(exc)) from None
        return out
