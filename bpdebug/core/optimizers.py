"""Optimizers: how a gradient becomes an update. One registry entry per optimizer, each defined once.

An entry is data: its hyperparameters (each with its own default and range), the names of its state, and its
rule, assignments read top to bottom in the formula language of :mod:`.expr` (``g`` the gradient, ``p`` the
parameter, ``t`` the update count from 1, a hyperparameter by its ``[training]`` key). Its NumPy step computes
that rule; for a built-in optimizer the step is written by hand (the source the py export pastes), for one a
scenario defines (``[optimizers.NAME]``, :func:`from_formulas`) it is the NumPy code generated from the rule,
so the engine and the exported script run the same text. A test holds every built-in step to its rule bit for
bit. SymPy never enters here: the text layer prints the rule (:mod:`bpdebug.text.update_rule`).

The built-in definitions are torch.optim's (documentation form, ``dampening = 0``, ``amsgrad = False``), so
numbers agree with what users run:

- ``sgd``:      p ← p − η·g
- ``momentum``: v ← μ·v + g;  p ← p − η·v
- ``nesterov``: v ← μ·v + g;  p ← p − η·(g + μ·v)
- ``adam``:     m ← β₁·m + (1 − β₁)·g;  v ← β₂·v + (1 − β₂)·g²;  m̂ ← m/(1 − β₁ᵗ);  v̂ ← v/(1 − β₂ᵗ);
  p ← p − η·m̂/(√v̂ + ε)
- ``rmsprop``:  v ← α·v + (1 − α)·g²;  p ← p − η·g/(√v + ε)

Weight decay (L2, as torch.optim's ``weight_decay``) comes first when λ ≠ 0: g ← g + λ·p. The state
starts at zero; ``t`` counts updates from 1. A frozen parameter never changes, nor does its state.

State layout: ``state[l]`` is the tuple of arrays of weight matrix ``l`` (0-based), one per name in
``Optimizer.state_names``, each shaped like the matrix.
"""

from __future__ import annotations

import functools
import inspect
import keyword
import math
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from . import expr as ex

Arrays = tuple[np.ndarray, ...]
State = tuple[Arrays, ...]  # state[layer][index in state_names]


# --------------------------------------------------------------------------------------- hyperparameters

class Hyperparameters:
    """The numbers one update reads, by ``[training]`` key: the learning rate, the weight decay and the
    optimizer's own (its entry's :attr:`Optimizer.hyper`, completed with their defaults by
    :meth:`Optimizer.hyperparameters_with`). Read as attributes, as the steps do (``h.beta1``)."""

    __slots__ = ("_values",)
    _values: Mapping[str, float]

    def __init__(self, learning_rate: float, weight_decay: float = 0.0, **own: float) -> None:
        values = {"learning_rate": float(learning_rate), **{k: float(v) for k, v in own.items()},
                  "weight_decay": float(weight_decay)}
        object.__setattr__(self, "_values", MappingProxyType(values))

    def __getattr__(self, key: str) -> float:
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(f"no hyperparameter {key!r} (these are {', '.join(self._values)})") from None

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError("Hyperparameters are immutable")

    def __getitem__(self, key: str) -> float:
        return self._values[key]

    def __contains__(self, key: object) -> bool:
        return key in self._values

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(self._values)

    def replace(self, **changes: float) -> Hyperparameters:
        """The same numbers with ``changes`` (keys it has)."""
        unknown = [k for k in changes if k not in self._values]
        if unknown:
            raise KeyError(unknown[0])
        values = {**self._values, **{k: float(v) for k, v in changes.items()}}
        lr, decay = values.pop("learning_rate"), values.pop("weight_decay")
        return Hyperparameters(lr, decay, **values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Hyperparameters) and dict(self._values) == dict(other._values)

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._values.items())))

    def __repr__(self) -> str:
        return f"Hyperparameters({', '.join(f'{k}={v!r}' for k, v in self._values.items())})"

    def __reduce__(self) -> tuple[Any, ...]:
        own = {k: v for k, v in self._values.items() if k not in ("learning_rate", "weight_decay")}
        return (_hyperparameters, (self.learning_rate, self.weight_decay, own))


def _hyperparameters(learning_rate: float, weight_decay: float, own: dict[str, float]) -> Hyperparameters:
    return Hyperparameters(learning_rate, weight_decay, **own)


@dataclass(frozen=True)
class Hyperparameter:
    """One ``[training]`` key an optimizer reads: its default and the values it accepts. ``symbol`` is the
    name its rule is printed with (``eta`` prints η, ``beta1`` β₁); the rule itself reads ``key``."""

    key: str  # the [training] key, and the name the rule reads
    default: float | None  # None: required (the learning rate)
    low: float | None = None  # None: no lower bound
    high: float | None = None  # None: no upper bound
    low_open: bool = False  # True: low itself is refused
    high_open: bool = False
    meaning: str = ""
    symbol: str = ""  # default: the key

    def __post_init__(self) -> None:
        if not self.symbol:
            object.__setattr__(self, "symbol", self.key)

    def accepts(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return self.high is None or value < self.high or (not self.high_open and value == self.high)

    @property
    def expected(self) -> str:
        """What ``accepts`` takes, in words: "a number in [0, 1)", "a number > 0"."""
        if self.low is None and self.high is None:
            return "a finite number"
        if self.high is None:
            assert self.low is not None
            return f"a number {'>' if self.low_open else '>='} {self.low:g}"
        if self.low is None:
            return f"a number {'<' if self.high_open else '<='} {self.high:g}"
        return f"a number in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"


# every optimizer reads these two; an entry lists only its own
LEARNING_RATE = Hyperparameter("learning_rate", None, 0.0, None, True, False, "learning rate", "eta")
WEIGHT_DECAY = Hyperparameter("weight_decay", 0.0, 0.0, None, False, False, "L2 weight decay", "lambda")
# what every rule may read besides its hyperparameters and its state
GRADIENT, PARAMETER, COUNT = "g", "p", "t"
WEIGHT_DECAY_RULE = "g = g + weight_decay*p"  # L2 weight decay, before the optimizer's own rule


# ------------------------------------------------------------------------------------ the NumPy steps
# Each step takes one parameter array p, its gradient g (weight decay already added), the state arrays
# before, the update count t (1, 2, …) and the hyperparameters h; it returns the new p, the new state and
# the intermediate values the rule names (Adam's m̂ and v̂), so the display shows the engine's numbers.

def sgd_step(p, g, state, t, h):
    return p - h.learning_rate * g, (), ()


def momentum_step(p, g, state, t, h):
    (v,) = state
    v = h.momentum * v + g
    return p - h.learning_rate * v, (v,), ()


def nesterov_step(p, g, state, t, h):
    (v,) = state
    v = h.momentum * v + g
    return p - h.learning_rate * (g + h.momentum * v), (v,), ()


def adam_step(p, g, state, t, h):
    m, v = state
    m = h.beta1 * m + (1.0 - h.beta1) * g
    v = h.beta2 * v + (1.0 - h.beta2) * (g * g)
    m_hat = m / (1.0 - h.beta1 ** t)
    v_hat = v / (1.0 - h.beta2 ** t)
    return p - h.learning_rate * m_hat / (np.sqrt(v_hat) + h.epsilon), (m, v), (m_hat, v_hat)


def rmsprop_step(p, g, state, t, h):
    (v,) = state
    v = h.alpha * v + (1.0 - h.alpha) * (g * g)
    return p - h.learning_rate * g / (np.sqrt(v) + h.epsilon), (v,), ()


Step = Callable[[np.ndarray, np.ndarray, Arrays, int, Hyperparameters], tuple[np.ndarray, Arrays, Arrays]]


# ------------------------------------------------------------------------------------------- the rules

class RuleError(ValueError):
    """A rule that cannot run; ``line`` is its 0-based line (None: the rule as a whole), ``part`` the part of
    the optimizer's table meant ("rule", "hyper", "state")."""

    def __init__(self, message: str, line: int | None = None, part: str = "rule") -> None:
        super().__init__(message)
        self.line, self.part = line, part


@functools.cache
def reserved() -> frozenset[str]:
    """The names a formula optimizer may not give a hyperparameter, a state or a value of its rule: what every
    rule reads, the learning rate and weight decay and their symbols, the other [training] keys (its
    hyperparameters are set there), and what the generated step's code names. A function, built on first use,
    so that importing the optimizers does not load the formula language."""
    from . import expr as ex
    return frozenset({GRADIENT, PARAMETER, COUNT, LEARNING_RATE.key, LEARNING_RATE.symbol, WEIGHT_DECAY.key,
                      WEIGHT_DECAY.symbol, "epochs", "update", "frozen", "optimizer", "batch_size", "shuffle",
                      "seed", "h", "np", "state", "Piecewise", *ex.FUNCTIONS})


def rule_target(line: str) -> str:
    """The name a rule's line assigns, as written before its ``=``."""
    return line.split("=", 1)[0].strip()


def parse_rule(lines: Sequence[str], hyper: Iterable[str], state: Sequence[str]) -> tuple[tuple[str, ex.Expr], ...]:
    """The assignments of ``lines`` as (target, tree); :class:`RuleError` for a rule that cannot run: a line
    outside the formula language, a name read before it is defined (neither g, p, t, a hyperparameter, a state
    nor assigned above), a target that is not p, a state or a new name, a name assigned twice, no p."""
    from . import expr as ex
    hyper = tuple(hyper)
    given = (GRADIENT, PARAMETER, COUNT, LEARNING_RATE.key, *hyper, *state)
    targets = [rule_target(line) if isinstance(line, str) else "" for line in lines]
    known = tuple(dict.fromkeys(given + tuple(t for t in targets if t.isidentifier())))
    out: list[tuple[str, ex.Expr]] = []
    defined = set(given)
    for i, line in enumerate(lines):
        if not isinstance(line, str):
            raise RuleError(f"line {i + 1} is not a string, expected an assignment such as \"r = r + g**2\"", i)
        try:
            target, tree = ex.parse_assignment(line, known)
        except ex.FormulaError as exc:
            raise RuleError(f"'{_short(line)}': {exc}", i) from None
        late = sorted(ex.names(tree) - defined)
        if late:
            raise RuleError(f"'{_short(line)}' reads {late[0]} before it is assigned, expected g, p, t, "
                            f"{', '.join(['learning_rate', *hyper, *state])} or a name assigned above", i)
        if target in (GRADIENT, COUNT, LEARNING_RATE.key, *hyper) or target in reserved() - {PARAMETER}:
            raise RuleError(f"'{_short(line)}' assigns {target}, expected p, a state "
                            f"({_or(list(state)) if state else 'none'}) or a new name", i)
        if keyword.iskeyword(target) or not target.isidentifier() or target != targets[i]:
            raise RuleError(f"'{_short(line)}' assigns '{targets[i] or target}', expected a name", i)
        if any(target == done for done, _ in out):
            raise RuleError(f"'{_short(line)}' assigns {target} a second time, expected each name assigned "
                            "once (give the new value a new name)", i)
        out.append((target, tree))
        defined.add(target)
    if not any(target == PARAMETER for target, _ in out):
        raise RuleError("never assigns p, expected a line such as \"p = p - learning_rate*g\"")
    return tuple(out)


def _short(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


def _or(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


# ----------------------------------------------------------------------------------------- the registry

@dataclass(frozen=True)
class Optimizer:
    """One optimizer: names, hyperparameters, state, rule and NumPy step, all defined here once."""

    name: str  # the scenario's `optimizer = "..."`
    title: str  # in prose: "Adam"
    latex: str  # in LaTeX: r"\text{Adam}"
    torch: str  # the definition it follows: a torch.optim class, or the scenario's [optimizers.NAME] table
    hyper: tuple[Hyperparameter, ...]  # its own [training] keys besides learning_rate and weight_decay
    state_names: tuple[str, ...]  # "v"; "m", "v"
    rule: tuple[str, ...]  # assignments top to bottom, as written ("v = momentum*v + g")
    step: Step = field(repr=False, compare=False)
    plain: bool = False  # plain gradient descent: the engine's own update, no state (the default optimizer)
    code: str | None = field(default=None, repr=False)  # a formula optimizer's generated step (None: built in)

    @functools.cached_property
    def assignments(self) -> tuple[tuple[str, ex.Expr], ...]:
        """Its rule parsed, on first use (a formula optimizer's rule was checked when its table was read; the
        built-in rules are checked by the tests, not by every start-up)."""
        return parse_rule(self.rule, self.hyperparameters, self.state_names)

    @property
    def hyperparameters(self) -> tuple[str, ...]:
        """The [training] keys it reads besides learning_rate and weight_decay."""
        return tuple(h.key for h in self.hyper)

    def hyperparameter(self, key: str) -> Hyperparameter:
        """The learning rate, the weight decay or one of its own, by key (KeyError otherwise)."""
        for h in (LEARNING_RATE, *self.hyper, WEIGHT_DECAY):
            if h.key == key:
                return h
        raise KeyError(key)

    def hyperparameters_with(self, learning_rate: float, **given: float) -> Hyperparameters:
        """Its hyperparameters: ``given`` where given, its defaults elsewhere (keys it does not read: KeyError)."""
        unknown = [k for k in given if k != WEIGHT_DECAY.key and k not in self.hyperparameters]
        if unknown:
            raise KeyError(f"optimizer {self.name!r} reads no {unknown[0]!r}")
        own = {h.key: float(given.get(h.key, h.default if h.default is not None else math.nan)) for h in self.hyper}
        return Hyperparameters(learning_rate, given.get(WEIGHT_DECAY.key, 0.0), **own)

    def complete(self, h: Hyperparameters) -> Hyperparameters:
        """``h`` with the defaults of whatever of its keys it lacks (and none it does not read)."""
        return self.hyperparameters_with(h.learning_rate, weight_decay=h.weight_decay,
                                         **{k: h[k] for k in self.hyperparameters if k in h})

    @property
    def shown_names(self) -> tuple[str, ...]:
        """The intermediate values its rule names (Adam's ``mhat``, ``vhat``), in the order assigned: read off
        its lines without parsing them (:func:`parse_rule` accepts a line only if its text before ``=`` is the
        name it assigns), so that loading a scenario does not parse every optimizer's rule."""
        targets = (rule_target(line) for line in self.rule)
        return tuple(t for t in targets if t != PARAMETER and t not in self.state_names)

    @property
    def uses_step_count(self) -> bool:
        from . import expr as ex
        return any(COUNT in ex.names(tree) for _, tree in self.assignments)

    @property
    def is_formula(self) -> bool:
        """Defined by a scenario's [optimizers.NAME] table (written back with the scenario)."""
        return self.code is not None

    @property
    def source(self) -> str:
        """The step function's source, as the py export pastes it."""
        return self.code if self.code is not None else textwrap.dedent(inspect.getsource(self.step))


OPTIMIZERS: dict[str, Optimizer] = {o.name: o for o in (
    Optimizer("sgd", "gradient descent", r"\text{SGD}", "torch.optim.SGD", (), (), ("p = p - learning_rate*g",),
              sgd_step, plain=True),
    Optimizer("momentum", "momentum", r"\text{momentum}", "torch.optim.SGD(momentum=μ)",
              (Hyperparameter("momentum", 0.9, 0.0, 1.0, meaning="momentum", symbol="mu"),), ("v",),
              ("v = momentum*v + g", "p = p - learning_rate*v"), momentum_step),
    Optimizer("nesterov", "Nesterov momentum", r"\text{Nesterov}", "torch.optim.SGD(momentum=μ, nesterov=True)",
              # torch.optim refuses Nesterov momentum without a momentum: 0 is out of its range
              (Hyperparameter("momentum", 0.9, 0.0, 1.0, True, meaning="momentum",
                              symbol="mu"),), ("v",),
              ("v = momentum*v + g", "p = p - learning_rate*(g + momentum*v)"), nesterov_step),
    Optimizer("adam", "Adam", r"\text{Adam}", "torch.optim.Adam",
              (Hyperparameter("beta1", 0.9, 0.0, 1.0, False, True, "decay of the first moment m"),
               Hyperparameter("beta2", 0.999, 0.0, 1.0, False, True, "decay of the second moment v"),
               Hyperparameter("epsilon", 1e-8, 0.0, None, True, False, "added to the root for stability")),
              ("m", "v"),
              ("m = beta1*m + (1 - beta1)*g", "v = beta2*v + (1 - beta2)*g**2", "mhat = m/(1 - beta1**t)",
               "vhat = v/(1 - beta2**t)", "p = p - learning_rate*mhat/(sqrt(vhat) + epsilon)"), adam_step),
    Optimizer("rmsprop", "RMSProp", r"\text{RMSProp}", "torch.optim.RMSprop",
              (Hyperparameter("alpha", 0.99, 0.0, 1.0, meaning="decay of the mean square v"),
               Hyperparameter("epsilon", 1e-8, 0.0, None, True, False, "added to the root for stability")),
              ("v",), ("v = alpha*v + (1 - alpha)*g**2", "p = p - learning_rate*g/(sqrt(v) + epsilon)"),
              rmsprop_step),
)}

DEFAULT = "sgd"


@functools.cache
def _weight_decay() -> tuple[tuple[str, ex.Expr], ...]:
    """g <- g + weight_decay*p parsed, on first use (not while the optimizers are imported)."""
    from . import expr as ex
    return (ex.parse_assignment(WEIGHT_DECAY_RULE, (GRADIENT, PARAMETER, WEIGHT_DECAY.key)),)


def state_quantities(entries: Iterable[Optimizer]) -> tuple[str, ...]:
    """Every name of state or intermediate value of ``entries`` an [[expect]] may ask for ("v.w5", "mhat.w5")."""
    return tuple(dict.fromkeys(n for o in entries for n in o.state_names + o.shown_names))


def get(name: str) -> Optimizer:
    """The optimizer called ``name`` (KeyError otherwise; the loader checks names first)."""
    return OPTIMIZERS[name]


def rule(opt: Optimizer, weight_decay: bool) -> tuple[tuple[str, ex.Expr], ...]:
    """The optimizer's assignments, preceded by g ← g + λ·p when weight decay is on."""
    return (_weight_decay() if weight_decay else ()) + opt.assignments


def keys_of(entries: Iterable[Optimizer]) -> dict[str, list[str]]:
    """Each hyperparameter key of ``entries`` (besides learning_rate and weight_decay) and the optimizers
    that read it, in registry order."""
    out: dict[str, list[str]] = {}
    for o in entries:
        for k in o.hyperparameters:
            out.setdefault(k, []).append(o.name)
    return out


# ------------------------------------------------------------------------------ formula optimizers

def from_formulas(name: str, hyper: Mapping[str, float], state: Sequence[str], lines: Sequence[str]) -> Optimizer:
    """An optimizer a scenario writes (``[optimizers.NAME]``): ``hyper`` its hyperparameters and their defaults
    (any finite value accepted), ``state`` its per-parameter state (starting at 0), ``lines`` its rule. Its step
    is the NumPy code generated from the rule. :class:`RuleError` for anything that cannot run, including a
    rule that is not finite where training starts (:func:`check_start`)."""
    from . import expr as ex
    for part, names_ in (("hyper", list(hyper)), ("state", list(state))):
        for n in names_:
            if not n.isidentifier() or keyword.iskeyword(n):
                raise RuleError(f"'{_short(n)}' is not a name, expected letters, digits and underscores", None, part)
            if n in reserved():
                raise RuleError(f"'{n}' is a name every rule has or a [training] key, expected another name "
                                f"(not {', '.join(sorted(reserved() - set(ex.FUNCTIONS) - {'Piecewise'}))} or a "
                                "function)", None, part)
    clash = sorted(set(hyper) & set(state))
    if clash:
        raise RuleError(f"'{clash[0]}' is both a hyperparameter and a state, expected different names", None, "state")
    if len(set(state)) != len(state):
        raise RuleError("a state name is given twice, expected each once", None, "state")
    hp = tuple(Hyperparameter(k, float(v), meaning=f"{name}'s {k}") for k, v in hyper.items())
    assignments = parse_rule(lines, hyper, state)
    code = step_code(name, hyper, tuple(state), assignments)
    namespace: dict[str, Any] = {"np": np}
    exec(compile(code, f"<optimizer {name}>", "exec"), namespace)  # noqa: S102 - code printed from a checked tree
    opt = Optimizer(name, name, rf"\text{{{name}}}".replace("_", r"\_"), f"[optimizers.{name}]", hp, tuple(state),
                    tuple(lines), namespace[f"{name}_step"], code=code)
    check_start(opt, opt.hyperparameters_with(0.1))
    return opt


def step_code(name: str, hyper: Iterable[str], state: tuple[str, ...],
              assignments: Sequence[tuple[str, ex.Expr]]) -> str:
    """The step function of a formula optimizer: the rule's lines as NumPy code (:func:`.expr.numpy_code`),
    the hyperparameters read from ``h``, the signature and results of the built-in steps."""
    from . import expr as ex
    rename = {k: f"h.{k}" for k in (LEARNING_RATE.key, *hyper)}
    shown = [t for t, _ in assignments if t != PARAMETER and t not in state]
    lines = [f"def {name}_step(p, g, state, t, h):",
             f'    """[optimizers.{name}]: its rule, line by line."""']
    if state:
        lines.append(f"    ({', '.join(state)},) = state")
    lines += [f"    {target} = {ex.numpy_code(tree, rename)}" for target, tree in assignments]

    def tup(names_: Sequence[str]) -> str:
        return f"({', '.join(names_)},)" if names_ else "()"

    lines.append(f"    return p, {tup(state)}, {tup(shown)}")
    return "\n".join(lines) + "\n"


START_P, START_G = (0.5, -0.5), (0.1, -0.2)  # where check_start evaluates a rule: typical p and g


def check_start(opt: Optimizer, h: Hyperparameters) -> None:
    """Refuse (:class:`RuleError`) a rule whose values are not finite where training starts: every state 0,
    t = 1, p and g typical values (:data:`START_P`, :data:`START_G`), the hyperparameters ``h``."""
    from . import expr as ex
    env: dict[str, Any] = {PARAMETER: np.array(START_P), GRADIENT: np.array(START_G), COUNT: 1.0,
                           **{k: h[k] for k in h.keys}, **{s: np.zeros(len(START_P)) for s in opt.state_names}}
    with np.errstate(all="ignore"):
        for i, (target, tree) in enumerate(opt.assignments):
            value = np.asarray(ex.evaluate(tree, env), dtype=float)
            if not np.isfinite(value).all():
                raise RuleError(f"'{_short(opt.rule[i])}' is not finite where training starts (every state 0, "
                                f"t = 1, p = {START_P[0]:g}, g = {START_G[0]:g}; {target} = {_first_bad(value)}), "
                                "expected a rule defined there (an epsilon in a denominator?)", i)
            env[target] = value


def _first_bad(value: np.ndarray) -> str:
    bad = value[~np.isfinite(value)]
    return str(float(bad.flat[0])) if bad.size else "nan"


# ------------------------------------------------------------------------------------------ one update

class Update(NamedTuple):
    """One update of every weight matrix."""

    weights: Arrays  # after the update
    state: State  # after the update
    gradients: Arrays  # the g the optimizer used: the gradient plus λ·p when weight decay is on
    # shown[l][k]: intermediate value ``opt.shown_names[k]`` of matrix l (Adam's m̂, v̂)
    shown: State


def zero_state(opt, weights):
    """Zeros like every matrix for every state name (the state before the first update)."""
    return tuple(tuple(np.zeros_like(w, dtype=float) for _ in opt.state_names) for w in weights)


def apply(opt, h, weights, gradients, state, t, masks=None):
    """Update ``t`` (1-based) of every matrix with optimizer ``opt`` (its ``step``) and hyperparameters ``h``;
    ``state[l]`` holds matrix l's state arrays. ``masks``: True where a parameter learns; a frozen one keeps
    its value and its state exactly, even when its gradient is inf or nan. (Untyped: the py export pastes it.)"""
    step, decay = opt.step, h.weight_decay
    new_weights, new_state, used, shown = [], [], [], []
    for l, (w, g) in enumerate(zip(weights, gradients, strict=True)):
        if decay:
            g = g + decay * w
        s = state[l]
        w2, s2, extra = step(w, g, s, t, h)
        if masks is not None:
            keep = masks[l]
            w2 = np.where(keep, w2, w)
            s2 = tuple(np.where(keep, new, old) for new, old in zip(s2, s, strict=True))
        new_weights.append(w2)
        new_state.append(s2)
        used.append(g)
        shown.append(extra)
    return Update(tuple(new_weights), tuple(new_state), tuple(used), tuple(shown))


# --------------------------------------------------------------------------------- the rule with numbers

def values_at(opt: Optimizer, update: Update, weights_before: Sequence[np.ndarray],
              gradients: Sequence[np.ndarray], state_before: State, layer: int, row: int,
              col: int) -> tuple[dict[str, float], dict[str, float]]:
    """The values of one parameter (``layer`` 1-based, the matrix it sits in; ``row``, ``col`` 0-based) read
    from the engine's arrays: ``before`` the update under the rule's names (``p``, ``g`` the gradient of the
    loss, each state name) and ``after`` each assignment (``p``, each state name, each of
    ``opt.shown_names`` and ``g``, the gradient with weight decay added). Nothing is recomputed."""
    l = layer - 1
    before = {"p": float(weights_before[l][row, col]), "g": float(gradients[l][row, col])}
    after = {"p": float(update.weights[l][row, col]), "g": float(update.gradients[l][row, col])}
    for k, name in enumerate(opt.state_names):
        before[name] = float(state_before[l][k][row, col])
        after[name] = float(update.state[l][k][row, col])
    for k, name in enumerate(opt.shown_names):
        after[name] = float(update.shown[l][k][row, col])
    return before, after
