"""``[weights]``: the starting matrices, written out, in a file, or generated (``init``, :mod:`.init`); with shared
biases, one number in each bias column."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ..messages import describe as _describe
from ..messages import one_of
from .init import INIT_METHODS, draw
from .model import InitSpec
from .reader import Section

if TYPE_CHECKING:  # read only where a scenario names a file
    from .. import datafiles


class WeightsSection(Section):
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
            from .. import datafiles

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
        return draw(method, layers, bias, low, high, seed, shared), InitSpec(method, low, high, seed)


def _shape_text(layers: tuple[int, ...], l: int, bias: bool) -> str:
    cols = layers[l - 1] + (1 if bias else 0)
    return (f"{layers[l]} row{'s' if layers[l] != 1 else ''} of {cols} columns for layers "
            f"{layers[l - 1]} -> {layers[l]}{' with bias' if bias else ' without bias'}")
