"""``[data]``: the inputs and targets, written out or in a file (``datafiles``), one row per example."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..messages import count as _count
from .reader import Section

if TYPE_CHECKING:  # read only where a scenario names a file
    from .. import datafiles


class DataSection(Section):
    def read(self, layers: tuple[int, ...],
             files: list[datafiles.FileStamp]) -> tuple[np.ndarray, np.ndarray, tuple[str, ...] | None]:
        """The inputs, the targets and a label column's classes; a file read is stamped into ``files``."""
        data = self.table(self.doc, ("data",), {"inputs", "targets", "file", "classes"}, True)
        classes = None
        if "file" in data:
            from .. import datafiles

            table = self.from_file(lambda base: datafiles.read_data(
                base, data["file"], data.get("inputs"), data.get("targets"), data.get("classes"), layers[0],
                layers[-1]))
            inputs, targets, classes = table.inputs, table.targets, table.classes
            for a in (inputs, targets):
                a.setflags(write=False)
            files.append(table.stamp)
        else:
            if "classes" in data:
                raise self.fail(("data", "classes"), "only used with file = \"....csv\", expected the class labels "
                                "of a CSV column")
            for k in ("inputs", "targets"):
                if k not in data:
                    raise self.fail(("data", k), "missing, expected one row per example (or file = \"data.csv\")")
            inputs = self.matrix(data["inputs"], ("data", "inputs"), "inputs")
            targets = self.matrix(data["targets"], ("data", "targets"), "targets")
        if inputs.shape[1] != layers[0]:
            raise self.fail(("data", "inputs"), f"expected {_count(layers[0], 'number')} per example for the "
                            f"{_count(layers[0], 'input unit')}, got {inputs.shape[1]}")
        if targets.shape[1] != layers[-1]:
            raise self.fail(("data", "targets"), f"expected {_count(layers[-1], 'number')} per example for the "
                            f"{_count(layers[-1], 'output unit')}, got {targets.shape[1]}")
        if targets.shape[0] != inputs.shape[0]:
            raise self.fail(("data", "targets"), f"expected one row per example: {inputs.shape[0]} rows of "
                            f"inputs but {targets.shape[0]} rows of targets")
        return inputs, targets, classes
