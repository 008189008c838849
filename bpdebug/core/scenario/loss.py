"""``[loss]``: the loss function (built in or a scenario's ``[losses.NAME]``), and what it requires of the targets."""

from __future__ import annotations

import numpy as np

from .. import losses
from ..messages import one_of
from .reader import Section


class LossSection(Section):
    def read(self, formula_losses: dict[str, losses.Loss]) -> losses.Loss:
        """The loss [loss] names among the built-in ones and the scenario's own."""
        loss_table = self.table(self.doc, ("loss",), {"function"}, False)
        loss_name = loss_table.get("function", "sse")
        known_losses = {**losses.NAMES, **formula_losses}
        if not isinstance(loss_name, str) or loss_name not in known_losses:
            raise self.fail(("loss", "function"), one_of("loss", loss_name, list(known_losses)))
        return known_losses[loss_name]

    def targets_for(self, loss: losses.Loss, targets: np.ndarray) -> None:
        """What a loss requires of its targets (the entry says: :meth:`~bpdebug.core.functions.Loss.check_targets`)."""
        wrong = loss.check_targets(targets)
        if wrong is not None:
            raise self.fail(("data", "targets"), wrong)
