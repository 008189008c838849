"""Practice's loss question on an online or mini-batch run is the update's loss (as ``[[expect]] loss`` with
``example`` is), its wording says so, and the slip catalogue reads a typed answer as that update's loss."""

from __future__ import annotations

from pathlib import Path

import pytest

from bpdebug.core.engine import Trace
from bpdebug.core.scenario import load, loads
from bpdebug.core.slips import slip
from bpdebug.text.practice import PracticeSession

SCENARIOS = Path(__file__).resolve().parent.parent / "bpdebug" / "scenarios"


def _loss_question(session: PracticeSession, example: int):
    return next(q for q in session.questions if q.expectation.kind == "loss" and q.expectation.example == example)


def test_the_loss_question_of_an_online_run_is_the_updates_loss_and_says_so():
    trace = Trace(load(SCENARIOS / "online.toml"))
    session = PracticeSession(trace)
    q = _loss_question(session, 2)
    # example 2 of online.toml, by hand: o = 0.1 with the weights example 1 left, t = 2
    assert q.answer == pytest.approx((0.5 * 1.9 ** 2,))
    assert q.expectation.example_given
    assert "this update" in q.title and "not the epoch" in q.title
    while session.current is not q:  # reveal the questions before it
        session.reveal()
    # the ½ dropped: twice the update's loss (the epoch's loss with the ½ dropped would be 30, not 3.61)
    feedback = session.answer(f"{2 * q.answer[0]:.6g}")
    assert not feedback.correct
    assert slip("squared_error_half").sentence in " ".join(feedback.slips)


def test_the_loss_question_of_a_batch_run_is_the_epochs_loss():
    session = PracticeSession(Trace(load(SCENARIOS / "blog.toml")))
    (q,) = [q for q in session.questions if q.expectation.kind == "loss"]
    assert "this update" not in q.title


def test_the_loss_question_of_a_mini_batch_is_that_mini_batchs_loss():
    text = (SCENARIOS / "online.toml").read_text().replace('update = "online"', "batch_size = 2")
    trace = Trace(loads(text[:text.index("[[expect]]")], "mini.toml"))  # online.toml's unit, 2 examples a batch
    session = PracticeSession(trace)
    q = [q for q in session.questions if q.expectation.kind == "loss"][1]  # the second mini-batch's
    assert "mini-batch 2" in q.title and "this update" in q.title
    second = trace.epoch(1).passes[1]
    assert q.answer == pytest.approx((second.loss,)) and second.loss != pytest.approx(trace.epoch(1).loss)
    # the figure the catalogue reads is the same number: the engine's value for it is the mini-batch's loss
    assert trace.check(q.expectation).computed == pytest.approx((second.loss,))
