"""The Python transcript of a graph (``bpdebug export GRAPH --format py``): a NumPy script that is the node engine
by construction. It pastes the registry's own operations (forward and local derivative; an activation's
functions), the engine's ``Tape``, ``forward_pass``, ``backward_pass`` and ``update_leaves``, and the optimizer's
``apply`` and step (:func:`inspect.getsource`), then the program as a table of nodes. Run, it prints the JSON
transcript's ``epochs`` and ``final``, equal to ``--format json``'s number for number."""

from __future__ import annotations

import inspect
import textwrap

from ..core import functions, optimizers
from ..core.graph import engine
from ..core.graph.ops import OPS
from ..core.graph.trace import GraphTrace

ENGINE_CODE = (engine.Tape, engine.forward_pass, engine.backward_pass, engine.update_leaves)
OPTIMIZER_CODE = (optimizers.Update, optimizers.zero_state, optimizers.apply)


def _source(obj: object) -> str:
    return textwrap.dedent(inspect.getsource(obj)).rstrip() + "\n"  # type: ignore[arg-type]


def _doc(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"""', "'''")


def script(trace: GraphTrace, epochs: int) -> str:
    s, p = trace.scenario, trace.program
    used = list(dict.fromkeys(n.op for n in p.nodes if n.computed))
    ops = [OPS[name] for name in used]
    activations = [functions.activation(op.activation) for op in ops if op.activation]
    opt, h = s.plan.optimizer, s.plan.hyper
    lines = [f'"""{_doc(s.title)}: the graph\'s forward and backward passes and its updates, as bpdebug\'s node engine',
             "computes them (its own source, pasted), for " + f"{epochs} epoch{'s' if epochs != 1 else ''}.",
             "",
             f"Written by: bpdebug export {_doc(s.path)} --format py --epochs {epochs}",
             "Run it: python this.py  (prints the epochs and final state of the JSON transcript)",
             '"""', "",
             "from __future__ import annotations", "", "import json", "import math",
             "from dataclasses import dataclass, field", "from types import SimpleNamespace",
             "from typing import NamedTuple",
             "", "import numpy as np", "",
             "Arrays = tuple  # the optimizer's arrays (one array: the learned leaves)", "State = tuple", "", ""]
    blocks = [a.source for a in activations]
    blocks += [op.source for op in ops]
    blocks += [_source(c) for c in ENGINE_CODE]
    blocks += [_source(c) for c in OPTIMIZER_CODE] + [opt.source]
    lines.append("\n\n".join(b.rstrip() + "\n" for b in blocks))
    forwards = ", ".join(f"{OPS[n.op].forward.__name__}" if n.computed else "None" for n in p.nodes)
    locals_ = ", ".join(f"{OPS[n.op].local.__name__}" if n.computed else "None" for n in p.nodes)
    constants = ", ".join(repr(float(n.value)) if n.value is not None else "0.0" for n in p.nodes)
    leaves = [i for i, n in enumerate(p.nodes) if n.op == "leaf"]
    index = {name: k for k, name in enumerate(p.leaves)}
    hyper = ", ".join(f"{k}={h[k]!r}" for k in h.keys)
    lines += ["", "",
              "# the program's nodes: leaves first, then each operation in the order the program computes it",
              "# (forward and local derivative of its op, the nodes it reads, a power's exponent, a leaf's or a",
              "# constant's value)",
              f"KEYS = {[n.key for n in p.nodes]!r}",
              f"tape = Tape(forward=({forwards},), local=({locals_},),",
              f"            args={tuple(n.args for n in p.nodes)!r},",
              f"            k={tuple(n.k for n in p.nodes)!r},",
              f"            constants=np.array([{constants}]), leaves=np.array({leaves!r}, dtype=np.intp),",
              f"            output={p.output})",
              f"LEAVES = {list(p.leaves)!r}",
              f"LEARN = {list(s.learn)!r}",
              f"learned = np.array({[index[n] for n in s.learn]!r}, dtype=np.intp)",
              f"mask = np.array({[n not in s.frozen for n in s.learn]!r}, dtype=bool)",
              f"plan = SimpleNamespace(optimizer=SimpleNamespace(step={opt.step.__name__}, "
              f"state_names={opt.state_names!r}), hyper=SimpleNamespace({hyper}))",
              "optimizers = SimpleNamespace(apply=apply)",
              f"EPOCHS = {epochs}",
              "",
              "",
              "def finite(v):",
              "    v = float(v)",
              "    return v if math.isfinite(v) else None",
              "",
              "",
              "def main():",
              "    leaves = tape.constants[tape.leaves].copy()",
              "    state = tuple(np.zeros(len(learned)) for _ in plan.optimizer.state_names)",
              "    epochs = []",
              "    with np.errstate(all='ignore'):",
              "        for epoch in range(1, EPOCHS + 1):",
              "            values = forward_pass(tape, leaves)",
              "            grads = backward_pass(tape, values)",
              "            after, state, _ = update_leaves(plan, learned, mask, leaves, grads[tape.leaves[learned]], "
              "state, epoch)",
              "            epochs.append({'epoch': epoch, 'loss': finite(values[tape.output]),",
              "                           'params_before': {n: finite(leaves[LEAVES.index(n)]) for n in LEARN},",
              "                           'values': [finite(v) for v in values], "
              "'gradients': [finite(g) for g in grads],",
              "                           'params_after': {n: finite(after[LEAVES.index(n)]) for n in LEARN}})",
              "            leaves = after",
              "            if not (np.isfinite(values).all() and np.isfinite(grads).all() and "
              "np.isfinite(after).all()):",
              "                break  # the numbers stopped being finite: the JSON transcript stops here too",
              "        final = forward_pass(tape, leaves)[tape.output]",
              "    print(json.dumps({'epochs': epochs, 'final': {'loss': finite(final), "
              "'leaves': {n: finite(leaves[i]) for i, n in enumerate(LEAVES)}}}))",
              "",
              "",
              "if __name__ == '__main__':",
              "    main()",
              ""]
    return "\n".join(lines)
