"""Parameter names: canonical ``theta{l}[i,j]`` and the blog's short ``w1 … b1 …``.

Every place a parameter is named (command line, ``frozen``, ``[[expect]]``, transcripts, the app)
goes through :class:`ParamIndex`, so both forms are accepted everywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CANONICAL = re.compile(r"^\s*theta\s*(\d+)\s*\[\s*(\d+)\s*,\s*(\d+)\s*\]\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Param:
    """One parameter: entry ``(i, j)`` (0-based row, column) of weight matrix ``layer`` (1-based, the
    layer it leaves). ``j == 0`` is the bias column when the network has bias units."""

    short: str  # "w5", "b3"
    canonical: str  # "theta2[1,1]"
    layer: int  # l in theta_l: the layer the connection leaves (1-based)
    row: int  # receiving unit, 0-based (the i of the canonical name minus 1)
    col: int  # column in theta_l: 0 = bias when bias is on, else the sending unit
    is_bias: bool
    network_has_bias: bool = True

    @property
    def receiving_unit(self) -> int:
        """1-based unit of layer ``layer + 1`` this parameter feeds."""
        return self.row + 1

    @property
    def sending_unit(self) -> int:
        """1-based unit of layer ``layer`` it comes from; 0 for the bias unit."""
        if self.is_bias:
            return 0
        return self.col if self.network_has_bias else self.col + 1


class ParamIndex:
    """All parameters of a network shape, in the transcript order: w1 … wN, then b1 … bM."""

    def __init__(self, layers: tuple[int, ...], bias: bool) -> None:
        weights: list[Param] = []
        biases: list[Param] = []
        for l in range(1, len(layers)):
            n_out, n_in = layers[l], layers[l - 1]
            for i in range(n_out):
                if bias:
                    biases.append(Param(f"b{len(biases) + 1}", f"theta{l}[{i + 1},0]", l, i, 0, True, bias))
                for j in range(n_in):
                    col = j + 1 if bias else j
                    weights.append(
                        Param(f"w{len(weights) + 1}", f"theta{l}[{i + 1},{j + 1}]", l, i, col, False, bias)
                    )
        self.params: tuple[Param, ...] = tuple(weights + biases)
        self._by_short = {p.short: p for p in self.params}
        self._by_canonical = {p.canonical: p for p in self.params}
        self.bias = bias
        self.layers = layers

    def __iter__(self):
        return iter(self.params)

    def __len__(self) -> int:
        return len(self.params)

    @property
    def shorts(self) -> list[str]:
        return [p.short for p in self.params]

    def find(self, name: str) -> Param | None:
        """The parameter called ``name`` (short or canonical, spaces and case forgiven), or None."""
        if not isinstance(name, str):
            return None
        key = name.strip()
        if key.lower() in self._by_short:
            return self._by_short[key.lower()]
        m = _CANONICAL.match(key)
        if m:
            return self._by_canonical.get(f"theta{int(m[1])}[{int(m[2])},{int(m[3])}]")
        return None

    def get(self, name: str) -> Param:
        """Like :meth:`find` but raises KeyError naming what exists."""
        p = self.find(name)
        if p is None:
            raise KeyError(f"unknown parameter '{name}', expected {self.describe_names()}")
        return p

    def describe_names(self) -> str:
        """A short human list of valid names, for error messages."""
        shorts = self.shorts
        ws = [s for s in shorts if s.startswith("w")]
        bs = [s for s in shorts if s.startswith("b")]
        parts = [f"w1..w{len(ws)}"] if ws else []
        if bs:
            parts.append(f"b1..b{len(bs)}")
        last = len(self.layers) - 1
        parts.append(f"or theta1[i,j]..theta{last}[i,j]")
        return ", ".join(parts)
