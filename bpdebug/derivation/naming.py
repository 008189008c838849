"""The names a derivation writes: the reader's vocabulary (w5, out_h1, net_o1, E_total, t_o1) or the
canonical one (a3_1, z3_1, theta2[1,1]), each in text and in LaTeX."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.params import Param
from ..text import naming

_SUPERSCRIPTS = str.maketrans("0123456789n", "⁰¹²³⁴⁵⁶⁷⁸⁹ⁿ")
SUBSCRIPTS = str.maketrans("0123456789n", "₀₁₂₃₄₅₆₇₈₉ₙ")
MODES = ("text", "canonical")


@dataclass(frozen=True)
class Name:
    """A quantity's name in text and LaTeX."""

    text: str
    latex: str
    indexed: bool  # differs per example (out, net, t, δ) rather than shared (weights)


class Names:
    """Every name of one network in one mode (``"text"`` or ``"canonical"``)."""

    def __init__(self, layers: tuple[int, ...], mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"names must be \"text\" or \"canonical\", got {mode!r}")
        self.layers, self.mode, self.L = layers, mode, len(layers)
        self.canonical = mode == "canonical"

    def _unit(self, l: int, u: int | str) -> tuple[str, str]:
        return naming.unit(self.L, l, u), naming.unit_latex(self.L, l, u)

    def out(self, l: int, u: int) -> Name:
        if self.canonical:
            return Name(f"a{l}_{u}", f"{{a^{{({l})}}_{{{u}}}}}", True)
        t, x = self._unit(l, u)
        if l == 1:
            return Name(t, f"i_{{{u}}}", True)
        return Name(f"out_{t}", f"out_{{{x}}}", True)

    def net(self, l: int, u: int | str) -> Name:
        if self.canonical:
            return Name(f"z{l}_{u}", f"{{z^{{({l})}}_{{{u}}}}}", True)
        t, x = self._unit(l, u)
        return Name(f"net_{t}", f"net_{{{x}}}", True)

    def target(self, u: int) -> Name:
        if self.canonical:
            return Name(f"t_{u}", f"t_{{{u}}}", True)
        return Name(f"t_o{u}", f"t_{{o{u}}}", True)

    def delta(self, l: int, u: int | str) -> Name:
        if self.canonical:
            return Name(f"δ{l}_{u}", f"{{\\delta^{{({l})}}_{{{u}}}}}", True)
        t, x = self._unit(l, u)
        return Name(f"δ_{t}", f"\\delta_{{{x}}}", True)

    @property
    def error(self) -> Name:
        return Name("E", "E", False) if self.canonical else Name("E_total", "E_{total}", False)

    def param(self, p: Param) -> Name:
        if self.canonical:
            col = p.canonical.split(",")[1][:-1]
            row = "*" if p.shared else p.row + 1  # theta1[*,0]: a shared bias, every row of column 0
            return Name(p.canonical, f"\\theta^{{({p.layer})}}_{{{row},{col}}}", False)
        return Name(p.short, f"{p.short[0]}_{{{p.short[1:]}}}", False)


def with_example(name: Name, example: int | str | None) -> Name:
    """The name as written for one example of a batch: out_o1⁽¹⁾, or out_o1⁽ⁿ⁾ inside Σ_n."""
    if example is None or not name.indexed:
        return name
    return Name(f"{name.text}⁽{str(example).translate(_SUPERSCRIPTS)}⁾", f"{{{{{name.latex}}}^{{({example})}}}}",
                True)


def partial(num: Name, den: Name) -> Name:
    """∂num/∂den in text and as a LaTeX fraction."""
    return Name(f"∂{num.text}/∂{den.text}", f"\\frac{{\\partial {num.latex}}}{{\\partial {den.latex}}}", False)
