"""The whole document: its top-level keys, and each section's validator called in the order the format reads
them (the first thing wrong is the one reported)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .. import optimizers
from ..params import ParamIndex
from ..safe_text import strip_controls
from ..training import Plan
from .data import DataSection
from .expect import ExpectSection
from .formulas import FormulaEntries
from .loss import LossSection
from .model import Scenario
from .network import NetworkSection
from .reader import Section
from .training import TrainingSection
from .weights import WeightsSection

if TYPE_CHECKING:  # read only where a scenario names a file
    from .. import datafiles


class Document(Section):
    """A network scenario's validator; a ``[graph]`` one is read by :func:`bpdebug.core.graph.scenario.read`, which
    uses this object's reader helpers and :meth:`plan` and :meth:`custom_optimizers`."""

    def scenario(self) -> Scenario:
        doc = self.doc
        top = {"title", "description", "network", "loss", "training", "data", "weights", "activations", "losses",
               "optimizers", "expect"}
        for k in doc:
            if k not in top:
                raise self.fail((k,), f"unknown key, expected one of {', '.join(sorted(top))}")
        title = strip_controls(self.string(doc["title"], ("title",)) if "title" in doc else Path(self.path).stem)
        description = (strip_controls(self.string(doc["description"], ("description",)), multiline=True)
                       if "description" in doc else "")

        net = NetworkSection(self.reader)
        network, layers, bias, shared = net.read()
        formulas = FormulaEntries(self.reader)
        activations = net.activations(network, layers, formulas.custom_activations())
        softmax_layers = {i + 2 for i, a in enumerate(activations) if a.is_softmax}

        loss_section = LossSection(self.reader)
        loss = loss_section.read(formulas.formula_losses())

        train = TrainingSection(self.reader)
        own_optimizers = formulas.custom_optimizers()
        training, lr, epochs = train.read(own_optimizers)
        params = ParamIndex(layers, bias, shared)
        frozen = train.frozen(training, params)

        files: list[datafiles.FileStamp] = []
        inputs, targets, classes = DataSection(self.reader).read(layers, files)
        loss_section.targets_for(loss, targets)

        plan = train.plan(training, lr, inputs.shape[0], own_optimizers)
        weights, init = WeightsSection(self.reader).weights(layers, bias, files, shared)
        expectations = ExpectSection(self.reader, softmax_layers).expectations(layers, params, inputs.shape[0],
                                                                               plan.optimizer, bias)

        return Scenario(
            path=self.path, title=title, description=description, layers=layers, activations=activations,
            bias=bias, loss=loss, learning_rate=lr, epochs=epochs, update=plan.mode, frozen=frozen,
            inputs=inputs, targets=targets, weights=weights, init=init, expectations=expectations,
            params=params, source_files=self.source_files + tuple(f.path.absolute() for f in files), plan=plan,
            files=tuple(files), classes=classes, shared_bias=shared,
        )

    # -- what a [graph] scenario shares with a network's
    def plan(self, training: dict, lr: float, n_examples: int,
             own: dict[str, optimizers.Optimizer] | None = None) -> Plan:
        return TrainingSection(self.reader).plan(training, lr, n_examples, own)

    def custom_optimizers(self) -> dict[str, optimizers.Optimizer]:
        return FormulaEntries(self.reader).custom_optimizers()
