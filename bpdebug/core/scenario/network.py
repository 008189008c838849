"""``[network]``: the layers, the bias and an activation per non-input layer."""

from __future__ import annotations

from .. import activations as act
from ..messages import describe as _describe
from ..messages import one_of
from ..messages import short_number as _short_number
from .reader import Section

MAX_PARAMETERS = 1_000_000  # 784-128-10 has 101,770; each parameter costs ~400 bytes of names and index


class NetworkSection(Section):
    def read(self) -> tuple[dict, tuple[int, ...], bool, bool]:
        """The [network] table, its layers, whether it has biases, and whether they are shared."""
        network = self.table(self.doc, ("network",), {"layers", "activation", "bias"}, True)
        layers = self.layers(network)
        bias = network.get("bias", True)
        shared = bias == "shared"  # one bias per layer, shared by its units (SCENARIO-FORMAT version 3)
        if shared:
            bias = True
        if not isinstance(bias, bool):
            raise self.fail(("network", "bias"), f"expected true, false or \"shared\", got {_describe(bias)}")

        count = sum(layers[l] * (layers[l - 1] + (1 if bias else 0)) for l in range(1, len(layers)))
        if count > MAX_PARAMETERS:
            raise self.fail(("network", "layers"), f"{count:,} parameters, expected at most {MAX_PARAMETERS:,} "
                            "(every one is named, stepped through and kept per checkpoint)")
        return network, layers, bias, shared

    def layers(self, network: dict) -> tuple[int, ...]:
        key = ("network", "layers")
        if "layers" not in network:
            raise self.fail(key, "missing, expected units per layer such as [2, 2, 2]")
        value = network["layers"]
        if not isinstance(value, list) or len(value) < 2:
            raise self.fail(key, f"expected a list of at least 2 unit counts (input and output), got "
                            f"{_describe(value)}")
        out = []
        for n, v in enumerate(value):
            if isinstance(v, bool) or not isinstance(v, int):
                raise self.fail(key, f"layer {n + 1} is {_describe(v)}, expected a whole number of units >= 1")
            if v < 1:
                raise self.fail(key, f"layer {n + 1} has {_short_number(v)} units, expected at least 1 unit per layer")
            if v > 100_000:
                raise self.fail(key, f"layer {n + 1} has {_short_number(v)} units, expected at most 100000")
            out.append(v)
        return tuple(out)

    def activations(self, network: dict, layers: tuple[int, ...],
                    customs: dict[str, act.Activation]) -> tuple[act.Activation, ...]:
        key = ("network", "activation")
        value = network.get("activation", "sigmoid")
        n = len(layers) - 1
        names = [value] * n if isinstance(value, str) else value
        if not isinstance(names, list):
            raise self.fail(key, f"expected a name or a list of {n} names, got {_describe(value)}")
        if len(names) != n:
            raise self.fail(key, f"expected {n} names, one per non-input layer, got {len(names)}")
        known = list(act.BUILTIN) + sorted(customs)
        out = []
        for i, name in enumerate(names):
            if not isinstance(name, str):
                raise self.fail(key, f"entry {i + 1} is {_describe(name)}, expected an activation name")
            if name in customs:
                out.append(customs[name])
            elif name in act.BUILTIN:
                entry = act.builtin(name)
                if entry.is_softmax and i != n - 1:
                    raise self.fail(key, f"{name} in hidden layer {i + 2}, expected {name} only in the "
                                    "output layer")
                if entry.is_softmax and layers[-1] < 2:
                    raise self.fail(key, f"{name} over 1 output unit is always 1, expected at least 2 "
                                    "output units")
                out.append(entry)
            else:
                raise self.fail(key, one_of("activation", name, known, quote="'"))
        return tuple(out)
