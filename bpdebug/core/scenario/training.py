"""``[training]``: the learning rate and epochs, frozen parameters, and the plan (optimizer, hyperparameters,
mini-batches, shuffling)."""

from __future__ import annotations

from .. import optimizers
from ..messages import describe as _describe
from ..messages import one_of
from ..params import ParamIndex
from ..training import Plan
from .model import MAX_EPOCHS
from .reader import Section


class TrainingSection(Section):
    def read(self, own_optimizers: dict[str, optimizers.Optimizer]) -> tuple[dict, float, int]:
        """The [training] table (its keys: every optimizer's, the scenario's own among them), learning rate, epochs."""
        training = self.table(self.doc, ("training",), {"learning_rate", "epochs", "update", "frozen", "optimizer",
                                                        "batch_size", "shuffle", "seed", optimizers.WEIGHT_DECAY.key,
                                                        *optimizers.keys_of([*optimizers.OPTIMIZERS.values(),
                                                                             *own_optimizers.values()])}, True)
        if "learning_rate" not in training:
            raise self.fail(("training", "learning_rate"), "missing, expected a number > 0")
        lr = self.number(training["learning_rate"], ("training", "learning_rate"))
        if lr <= 0:
            raise self.fail(("training", "learning_rate"), f"expected a number > 0, got {lr:g}")
        epochs = self.integer(training.get("epochs", 1), ("training", "epochs"), 1, MAX_EPOCHS)
        return training, lr, epochs

    def plan(self, training: dict, lr: float, n_examples: int,
             own: dict[str, optimizers.Optimizer] | None = None) -> Plan:
        """The optimizer, its hyperparameters and the mini-batches (SCENARIO-FORMAT versions 2 and 3: ``own``
        holds the scenario's [optimizers.NAME])."""
        known = {**optimizers.OPTIMIZERS, **(own or {})}
        name = training.get("optimizer", optimizers.DEFAULT)
        if not isinstance(name, str) or name not in known:
            raise self.fail(("training", "optimizer"), one_of("optimizer", name, list(known)))
        opt = known[name]
        values: dict[str, float] = {}
        users = optimizers.keys_of(known.values())
        for key in (*users, optimizers.WEIGHT_DECAY.key):
            if key not in training:
                continue
            if key != optimizers.WEIGHT_DECAY.key and key not in opt.hyperparameters:
                raise self.fail(("training", key), f"not used by optimizer = \"{name}\", expected it only with "
                                f"optimizer = {' or '.join(repr(u).replace(chr(39), chr(34)) for u in users[key])}")
            hp = opt.hyperparameter(key)
            value = self.number(training[key], ("training", key))
            if not hp.accepts(value):
                raise self.fail(("training", key), f"expected {hp.expected} ({hp.meaning}), got {value:g}")
            values[key] = value
        hyper = opt.hyperparameters_with(lr, **values)
        if opt.is_formula:
            try:
                optimizers.check_start(opt, hyper)
            except optimizers.RuleError as exc:
                where = next((k for k in opt.hyperparameters if k in training), "optimizer")
                raise self.fail(("training", where), f"with these values, {exc}") from None
        update = training.get("update", "batch")
        if update not in ("batch", "online"):
            raise self.fail(("training", "update"), f"expected \"batch\" or \"online\", got {_describe(update)}")
        batch_size: int | None = None if update == "batch" else 1
        if "batch_size" in training:
            batch_size = self.integer(training["batch_size"], ("training", "batch_size"), 1)
            # both given: they must agree (batch_size = 1 is online; all the examples, or more, is batch)
            if "update" in training and not (batch_size == 1 if update == "online" else batch_size >= n_examples):
                raise self.fail(("training", "batch_size"), "update and batch_size both say how many examples an "
                                "update uses, expected one of them (batch_size = 1 is online, no batch_size is batch)")
            if "update" in training:  # it agrees: the update's own mode
                batch_size = None if update == "batch" else 1
            elif batch_size >= n_examples and n_examples > 1:
                batch_size = None  # every example at once: batch updates
            elif n_examples == 1:
                batch_size = None
        shuffle = training.get("shuffle", False)
        if not isinstance(shuffle, bool):
            raise self.fail(("training", "shuffle"), f"expected true or false, got {_describe(shuffle)}")
        if shuffle and batch_size is None:
            raise self.fail(("training", "shuffle"), "every example is in the one batch of each epoch, so there is "
                            "nothing to shuffle, expected batch_size (fewer than the examples) or update = \"online\"")
        seed = self.integer(training.get("seed", 0), ("training", "seed"), 0, 2**63 - 1)
        return Plan(hyper, opt, batch_size, shuffle, seed)

    def frozen(self, training: dict, params: ParamIndex) -> frozenset[str]:
        key = ("training", "frozen")
        value = training.get("frozen", [])
        if not isinstance(value, list):
            raise self.fail(key, f"expected a list of parameter names, got {_describe(value)}")
        out = set()
        for name in value:
            if not isinstance(name, str):
                raise self.fail(key, f"expected parameter names, got {_describe(name)}")
            p = params.find(name)
            if p is None:
                raise self.fail(key, f"unknown parameter '{name}', expected {params.describe_names()}")
            out.add(p.canonical)
        return frozenset(out)
