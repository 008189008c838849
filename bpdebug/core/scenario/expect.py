"""``[[expect]]``: the figures a text printed, each a quantity of the one grammar
(:func:`~bpdebug.core.quantity.resolve`) checked at the step that computes it."""

from __future__ import annotations

from collections.abc import Collection

from .. import optimizers
from ..messages import describe as _describe
from ..params import ParamIndex
from ..quantity import Named, QuantityError, resolve
from ..safe_text import strip_controls
from .model import DEFAULT_TOLERANCE, MAX_EPOCHS, Expectation
from .reader import MISSING, Reader, Section


class ExpectSection(Section):
    def __init__(self, reader: Reader, softmax_layers: Collection[int] = ()) -> None:
        super().__init__(reader)
        self.softmax_layers = softmax_layers  # softmax layers: their dadz is a Jacobian, not a quantity

    def expectations(self, layers: tuple[int, ...], params: ParamIndex, n_examples: int,
                     optimizer: optimizers.Optimizer | None = None, bias: bool = True) -> tuple[Expectation, ...]:
        value = self.doc.get("expect", MISSING)
        if value is MISSING:
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
                                   named.shape, named.kind == "loss" and "example" in entry))
        return tuple(out)

    def quantity(self, q: str, key: tuple, layers: tuple[int, ...], params: ParamIndex,
                 optimizer: optimizers.Optimizer | None = None, bias: bool = True) -> Named:
        """The quantity a name means (the one grammar of :func:`~bpdebug.core.quantity.resolve`)."""
        opt = optimizer or optimizers.get(optimizers.DEFAULT)
        kept = opt.state_names + opt.shown_names
        every = (*optimizers.state_quantities(optimizers.OPTIMIZERS.values()), *kept)
        try:
            return resolve(q, layers, params, bias=bias, state_names=kept, optimizer=opt.name, every_state=every,
                           softmax_layers=tuple(self.softmax_layers))
        except QuantityError as exc:
            raise self.fail(key, str(exc)) from None
