"""Parameter names: canonical ``theta{l}[i,j]`` and the blog's short ``w1 … b1 …``.

With shared biases (``[network] bias = "shared"``) each layer has one bias, fed to all its units: ``b1`` is the
bias into layer 2, ``b2`` into layer 3, …, canonical ``theta1[*,0]``, ``theta2[*,0]``, … (every row of column 0,
all equal); ``theta1[i,0]`` names it too.

Every place a parameter is named (command line, ``frozen``, ``[[expect]]``, transcripts, the app)
goes through :class:`ParamIndex`, so both forms are accepted everywhere.
"""

from __future__ import annotations

import operator
import re
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import overload

import numpy as np

_SHORT = re.compile(r"^([wb])([1-9][0-9]*)$")  # w5, b12 (already lower case and stripped)
_CANONICAL = re.compile(r"^\s*theta\s*(\d+)\s*\[\s*(\d+|\*)\s*,\s*(\d+)\s*\]\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Param:
    """One parameter: entry ``(i, j)`` (0-based row, column) of weight matrix ``layer`` (1-based, the
    layer it leaves). ``j == 0`` is the bias column when the network has bias units. A shared bias (``shared``) is
    the whole column 0 (all rows equal): ``row`` is 0 and :attr:`cells` indexes every row."""

    short: str  # "w5", "b3"
    canonical: str  # "theta2[1,1]"
    layer: int  # l in theta_l: the layer the connection leaves (1-based)
    row: int  # receiving unit, 0-based (the i of the canonical name minus 1)
    col: int  # column in theta_l: 0 = bias when bias is on, else the sending unit
    is_bias: bool
    network_has_bias: bool = True
    shared: bool = False  # one bias shared by every unit of layer ``layer + 1`` (column 0, every row)

    @property
    def cells(self) -> tuple[int | slice, int]:
        """Its entries of theta_``layer`` as an index: ``(row, col)``, or every row of column 0 when shared."""
        return (slice(None), 0) if self.shared else (self.row, self.col)

    @property
    def receiving_unit(self) -> int:
        """1-based unit of layer ``layer + 1`` this parameter feeds (a shared bias: the first of them all)."""
        return self.row + 1

    @property
    def sending_unit(self) -> int:
        """1-based unit of layer ``layer`` it comes from; 0 for the bias unit."""
        if self.is_bias:
            return 0
        return self.col if self.network_has_bias else self.col + 1


class ParamIndex(Sequence[Param]):
    """All parameters of a network shape, in the transcript order: w1 … wN, then b1 … bM.

    Nothing is built per parameter up front (a 784-128-10 network has 101,770): a :class:`Param` is made
    from the layer shapes when it is asked for (by position, name or iteration), and the first full
    iteration keeps them all for the next."""

    def __init__(self, layers: tuple[int, ...], bias: bool, shared: bool = False) -> None:
        self.bias = bias
        self.shared = shared and bias  # one bias per layer, shared by its units
        self.layers = layers
        n_in = [layers[l - 1] for l in range(1, len(layers))]
        n_out = [layers[l] for l in range(1, len(layers))]
        # where each layer's weights and biases start in the order w1 … wN, b1 … bM
        self._w_starts = [0, *accumulate(o * i for o, i in zip(n_out, n_in, strict=True))]
        self._b_starts = ([0, *accumulate(1 if self.shared else o for o in n_out)] if bias
                          else [0] * (len(layers)))
        self.n_weights = self._w_starts[-1]
        self.n_biases = self._b_starts[-1]
        self._all: tuple[Param, ...] | None = None

    # ------------------------------------------------------------------------------------- sequence
    @property
    def params(self) -> ParamIndex:
        """The parameters in order (this index itself: a sequence made on demand)."""
        return self

    def __len__(self) -> int:
        return self.n_weights + self.n_biases

    @overload
    def __getitem__(self, k: int) -> Param: ...

    @overload
    def __getitem__(self, k: slice) -> tuple[Param, ...]: ...

    def __getitem__(self, k: int | slice) -> Param | tuple[Param, ...]:
        if isinstance(k, slice):
            return tuple(self[i] for i in range(*k.indices(len(self))))
        n = len(self)
        k = operator.index(k)
        if k < 0:
            k += n
        if not 0 <= k < n:
            raise IndexError(f"parameter index {k} out of range for {n} parameters")
        if self._all is not None:
            return self._all[k]
        if k < self.n_weights:
            l = bisect_right(self._w_starts, k)  # 1-based layer
            i, j = divmod(k - self._w_starts[l - 1], self.layers[l - 1])
            return self._weight(k, l, i, j)
        b = k - self.n_weights
        l = bisect_right(self._b_starts, b)
        return self._bias(b, l, b - self._b_starts[l - 1])

    def __iter__(self) -> Iterator[Param]:
        if self._all is None:
            self._all = tuple(self._build())
        return iter(self._all)

    def _build(self) -> Iterator[Param]:
        for l in range(1, len(self.layers)):
            n_out, n_in = self.layers[l], self.layers[l - 1]
            k = self._w_starts[l - 1]
            for i in range(n_out):
                for j in range(n_in):
                    yield self._weight(k, l, i, j)
                    k += 1
        for l in range(1, len(self.layers) if self.bias else 1):
            for i in range(1 if self.shared else self.layers[l]):
                yield self._bias(self._b_starts[l - 1] + i, l, i)

    def _weight(self, k: int, l: int, i: int, j: int) -> Param:
        """Weight number ``k`` (0-based): row ``i``, sending unit ``j`` (0-based) of layer ``l``."""
        col = j + 1 if self.bias else j
        return Param(f"w{k + 1}", f"theta{l}[{i + 1},{j + 1}]", l, i, col, False, self.bias)

    def _bias(self, b: int, l: int, i: int) -> Param:
        """Bias number ``b`` (0-based): the one into row ``i`` of layer ``l`` (shared: into every row)."""
        if self.shared:
            return Param(f"b{b + 1}", f"theta{l}[*,0]", l, 0, 0, True, True, True)
        return Param(f"b{b + 1}", f"theta{l}[{i + 1},0]", l, i, 0, True, self.bias)

    def position(self, p: Param) -> int:
        """Where ``p`` stands in the order (what ``list.index`` gives, without a search)."""
        if p.is_bias:
            k = self.n_weights + self._b_starts[p.layer - 1] + (0 if self.shared else p.row)
        else:
            k = self._w_starts[p.layer - 1] + p.row * self.layers[p.layer - 1] + p.sending_unit - 1
        if self[k] != p:
            raise ValueError(f"{p} is not a parameter of this network")
        return k

    def index(self, value: object, start: int = 0, stop: int | None = None) -> int:
        if not isinstance(value, Param):
            raise ValueError(f"{value!r} is not a parameter")
        k = self.position(value)
        if not start <= k < (len(self) if stop is None else stop):
            raise ValueError(f"{value} is not in the range asked for")
        return k

    def __contains__(self, value: object) -> bool:
        try:
            self.index(value)
        except (ValueError, IndexError):
            return False
        return True

    def at(self, layer: int, row: int, col: int) -> Param:
        """The parameter at entry ``(row, col)`` (0-based) of weight matrix ``layer``."""
        if not 1 <= layer < len(self.layers) or not 0 <= row < self.layers[layer]:
            raise IndexError(f"no entry ({row}, {col}) in theta{layer}")
        n_in = self.layers[layer - 1]
        if self.bias and col == 0:
            if self.shared:
                return self._bias(self._b_starts[layer - 1], layer, 0)
            return self._bias(self._b_starts[layer - 1] + row, layer, row)
        j = col - 1 if self.bias else col
        if not 0 <= j < n_in:
            raise IndexError(f"no entry ({row}, {col}) in theta{layer}")
        return self._weight(self._w_starts[layer - 1] + row * n_in + j, layer, row, j)

    def first_weight(self, layer: int) -> Param:
        """The first weight leaving ``layer`` (w5 for layer 2 on the blog)."""
        return self[self._w_starts[layer - 1]] if self.n_weights else self[0]

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``layer``, ``row``, ``col`` and ``is_bias`` of every parameter, in order, as arrays (for views
        that handle every parameter at once)."""
        layer, row, col, bias = [], [], [], []
        for l in range(1, len(self.layers)):
            n_out, n_in = self.layers[l], self.layers[l - 1]
            layer.append(np.full(n_out * n_in, l))
            row.append(np.repeat(np.arange(n_out), n_in))
            col.append(np.tile(np.arange(n_in) + (1 if self.bias else 0), n_out))
            bias.append(np.zeros(n_out * n_in, dtype=bool))
        if self.bias:
            for l in range(1, len(self.layers)):
                n_out = 1 if self.shared else self.layers[l]
                layer.append(np.full(n_out, l))
                row.append(np.arange(n_out))
                col.append(np.zeros(n_out, dtype=np.intp))
                bias.append(np.ones(n_out, dtype=bool))
        cat = np.concatenate
        return (cat(layer).astype(np.intp), cat(row).astype(np.intp), cat(col).astype(np.intp), cat(bias))

    @property
    def shorts(self) -> list[str]:
        return [f"w{k}" for k in range(1, self.n_weights + 1)] + [f"b{k}" for k in range(1, self.n_biases + 1)]

    def longest_names(self) -> tuple[int, int]:
        """The length of the longest short and of the longest canonical name."""
        short = max(len(f"w{self.n_weights}") if self.n_weights else 0, len(f"b{self.n_biases}") if self.n_biases
                    else 0)
        canonical = max((len(f"theta{l}[{self.layers[l]},{self.layers[l - 1]}]") for l in range(1, len(self.layers))),
                        default=0)
        return short, canonical

    # ---------------------------------------------------------------------------------------- names
    def find(self, name: str) -> Param | None:
        """The parameter called ``name`` (short or canonical, spaces and case forgiven), or None."""
        if not isinstance(name, str):
            return None
        key = name.strip()
        m = _SHORT.match(key.lower())
        if m:
            k = int(m[2]) - 1
            if m[1] == "w":
                return self[k] if k < self.n_weights else None
            return self[self.n_weights + k] if k < self.n_biases else None
        m = _CANONICAL.match(key)
        if m:
            l, j = int(m[1]), int(m[3])
            if m[2] == "*":  # theta1[*,0]: a shared bias, every row of column 0
                return self.at(l, 0, 0) if self.shared and j == 0 and 1 <= l < len(self.layers) else None
            i = int(m[2])
            if not 1 <= l < len(self.layers) or not 1 <= i <= self.layers[l]:
                return None
            if j == 0:
                return self.at(l, i - 1, 0) if self.bias else None
            if j > self.layers[l - 1]:
                return None
            return self.at(l, i - 1, j if self.bias else j - 1)
        return None

    def get(self, name: str) -> Param:
        """Like :meth:`find` but raises KeyError naming what exists."""
        p = self.find(name)
        if p is None:
            raise KeyError(f"unknown parameter '{name}', expected {self.describe_names()}")
        return p

    def describe_names(self) -> str:
        """A short human list of valid names, for error messages."""
        parts = [f"w1..w{self.n_weights}"] if self.n_weights else []
        if self.n_biases:
            parts.append(f"b1..b{self.n_biases}" + (" (one shared bias per layer)" if self.shared else ""))
        last = len(self.layers) - 1
        parts.append(f"or theta1[i,j]..theta{last}[i,j]" + (" (theta1[*,0]: b1)" if self.shared else ""))
        return ", ".join(parts)
