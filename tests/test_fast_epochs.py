"""Trace.fast_epochs, the locked epoch iterator the breakpoint search reads: each epoch's loss and weights are
the stepped path's, bit for bit, from any starting epoch, for every update mode and optimizer of the bundled
scenarios; a thread stepping the trace meanwhile sees the same numbers."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from _bundled import NETWORKS

from bpdebug.core.engine import Trace
from bpdebug.core.scenario import load

SCENARIOS = list(NETWORKS)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
@pytest.mark.parametrize("start", [1, 3])
def test_fast_epochs_are_the_stepped_epochs(path: Path, start: int) -> None:
    scenario = load(path)
    fast = list(Trace(scenario).fast_epochs(start, start + 5))
    stepped = Trace(scenario)
    assert [e.epoch for e in fast] == list(range(start, start + 6))
    for e in fast:
        record = stepped.epoch(e.epoch)
        assert e.loss == record.loss or (np.isnan(e.loss) and np.isnan(record.loss))
        for got, want in zip(e.weights_before, record.weights_before, strict=True):
            np.testing.assert_array_equal(got, want)
        for got, want in zip(e.weights_after, record.weights_after, strict=True):
            np.testing.assert_array_equal(got, want)


def test_a_trace_stepped_while_the_iterator_trains_gives_the_same_numbers() -> None:
    scenario = load(SCENARIOS[0])
    trace, reference = Trace(scenario), Trace(scenario)
    epochs = 400
    seen: list[float] = []

    def step_about() -> None:
        for e in range(1, epochs + 1, 37):
            seen.append(trace.epoch(e).loss)

    worker = threading.Thread(target=step_about)
    worker.start()
    losses = [e.loss for e in trace.fast_epochs(1, epochs)]
    worker.join()
    assert losses == [reference.epoch(e).loss for e in range(1, epochs + 1)]
    assert seen == [reference.epoch(e).loss for e in range(1, epochs + 1, 37)]
