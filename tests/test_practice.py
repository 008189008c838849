"""Practice mode: ``bpdebug practice SCENARIO`` asks each next step's numbers; a right answer advances, a wrong
one does not and says which entries are off and which slip of the catalogue it is. Driven by feeding stdin;
the expected numbers are the blog's consistent worked example (blog-figures.md) or computed here by hand."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest

from bpdebug import cli
from bpdebug.core.engine import Trace
from bpdebug.core.scenario import load
from _wide import wide_scenario

from bpdebug.text.practice import MAX_ASKED, MIN_SIGNIFICANT, PracticeSession, parse_numbers, tolerance

BLOG = str(Path(__file__).resolve().parent.parent / "bpdebug" / "scenarios" / "blog.toml")
IRIS = str(Path(__file__).resolve().parent.parent / "bpdebug" / "scenarios" / "iris.toml")
ONLINE = str(Path(__file__).resolve().parent.parent / "bpdebug" / "scenarios" / "online.toml")


def sig(v: float) -> float:
    return 1 / (1 + math.exp(-v))


# the blog, by hand (blog-figures.md gives z2, a2, z3, a3, E, ∂E/∂w5 and w5 to 5-7 digits)
Z2 = (0.345, 0.975)
A2 = (sig(0.345), sig(0.975))
Z3 = (0.5 + 0.4 * A2[0] + 0.3 * A2[1], 0.2 + 0.5 * A2[0] + 0.1 * A2[1])
A3 = (sig(Z3[0]), sig(Z3[1]))
T = (0.6905, 0.8657)
ERR = (0.5 * (T[0] - A3[0]) ** 2, 0.5 * (T[1] - A3[1]) ** 2)
D3 = ((A3[0] - T[0]) * A3[0] * (1 - A3[0]), (A3[1] - T[1]) * A3[1] * (1 - A3[1]))
D2 = ((0.4 * D3[0] + 0.5 * D3[1]) * A2[0] * (1 - A2[0]), (0.3 * D3[0] + 0.1 * D3[1]) * A2[1] * (1 - A2[1]))
GW5 = D3[0] * A2[0]
W5 = 0.4 - 0.1 * GW5


def run(argv: list[str], typed: str, monkeypatch, capsys) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(typed))
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def fmt(values) -> str:
    return " ".join(f"{v:.6g}" for v in values)


def test_the_published_figures_agree_with_the_hand_computation():
    assert pytest.approx((0.58540, 0.72611), abs=5e-6) == A2
    assert pytest.approx((0.95200, 0.56531), abs=5e-6) == Z3 and pytest.approx((0.72152, 0.63768), abs=5e-6) == A3
    assert sum(ERR) == pytest.approx(0.0264773, abs=5e-8) and pytest.approx(0.0036483, abs=5e-8) == GW5
    assert pytest.approx(0.3996352, abs=5e-8) == W5


def test_tolerance_is_the_digits_typed_and_at_least_three_significant():
    assert tolerance("0.735", 0.7349726) == pytest.approx(0.0005)
    assert tolerance("0.7", 0.7349726) == pytest.approx(0.0005)  # 1 digit typed: 3 significant still asked
    assert tolerance("0.58540", 0.5854046) == pytest.approx(0.000005)
    assert tolerance("3.6483e-3", 0.0036483) == pytest.approx(0.00000005)
    assert parse_numbers("0.1, −0.2 [3]") == ["0.1", "-0.2", "3"] and parse_numbers("0.1 x") is None


def test_a_whole_walk_right_answers_advance_to_a_perfect_score(monkeypatch, capsys):
    answers = [Z2, A2, Z3, A3, ERR, (sum(ERR),), D3, D2, (GW5,), (W5,)]
    code, out, _ = run(["practice", BLOG], "".join(fmt(a) + "\n" for a in answers), monkeypatch, capsys)
    assert code == 0
    assert out.count("right:") == 10 and "not yet" not in out
    assert [f"({k}/10)" in out for k in range(1, 11)] == [True] * 10
    assert out.strip().endswith("score: 10 of 10 right (10 at the first try, without a hint), 0 revealed")


def test_a_wrong_answer_does_not_advance_and_says_why(monkeypatch, capsys):
    no_bias = (0.2 * 0.85 + 0.3 * 0.25, 0.5 * 0.85 + 0.6 * 0.25)  # z2 without the bias
    typed = f"{fmt(no_bias)}\n{Z2[0]:.6g} 1.00\n{fmt(Z2)}\n{fmt((sig(no_bias[0]), sig(no_bias[1])))}\nq\n"
    code, out, _ = run(["practice", BLOG], typed, monkeypatch, capsys)
    lines = out.splitlines()
    assert code == 0
    first = [k for k, line in enumerate(lines) if line.startswith("(1/10)")]
    assert len(first) == 3  # asked again after each wrong answer
    assert "z2[1], z2[2] are off; your answer is what the bias left out (theta1) gives" in out
    assert "not yet: z2[2] is off." in out  # only the entry that is off
    # a2 as σ of the z2 without its bias, after z2 itself was right
    assert "not yet: a2[1], a2[2] are off; your answer is what the bias left out (theta1) gives" in out
    assert "score: 1 of 10 right (0 at the first try, without a hint), 0 revealed" in out


def test_hints_give_the_formula_then_the_numbers_and_reveal_moves_on(monkeypatch, capsys):
    code, out, _ = run(["practice", BLOG], f"{fmt(Z2)}\n{fmt(A2)}\nh\nh\nr\nq\n", monkeypatch, capsys)
    assert "hint: z3 = Θ2 · [1, a2]\n" in out
    assert "hint: z3 = Θ2 · [1, a2]: z3[1] = 0.5 + 0.4·0.5854046 + 0.3·0.726115;" in out
    assert "z3 = [0.9519963, 0.5653138]" in out and "(4/10) a3" in out
    assert "score: 2 of 10 right (2 at the first try, without a hint), 1 revealed" in out


def test_json_is_a_teachers_record(monkeypatch, capsys):
    code, out, err = run(["practice", BLOG, "--json", "--param", "w1"], f"{fmt(Z2)}\n0.5 0.5\nr\n", monkeypatch,
                         capsys)
    doc = json.loads(out, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
    assert doc["parameter"] == "w1" and doc["score"]["right"] == 1 and doc["score"]["revealed"] == 1
    assert doc["log"][0]["result"] == "right" and doc["log"][1]["off"] == ["a2[1]", "a2[2]"]
    assert "(1/" in err and "(1/" not in out


def test_online_practice_asks_every_examples_pass(monkeypatch, capsys):
    s = load(ONLINE)
    session = PracticeSession(Trace(s))
    # one linear unit and four examples: per example z2, a2, the error terms, E, delta2, ∂E/∂w1 and w1
    assert len(session.questions) == 4 * 7
    # example 2 sees the weights example 1 left: o = 0.1 (the Widrow-Hoff steps of online.toml, by hand)
    example2 = [q for q in session.questions if "(example 2)" in q.title]
    assert example2[0].answer == pytest.approx((0.1,))


def test_a_bad_param_is_a_one_line_error(monkeypatch, capsys):
    code, _, err = run(["practice", BLOG, "--param", "w99"], "", monkeypatch, capsys)
    assert code == 2 and err.count("\n") == 1 and "--param w99: unknown parameter" in err


def test_practice_starts_at_the_step_asked_and_counts_from_there():
    trace = Trace(load(BLOG))
    session = PracticeSession(trace, start=2)  # at z3: z2 and a2 are behind
    assert session.current.title.startswith("z3") and session.prompt().startswith("(3/10)")
    assert session.asked == 8 and session.score()["questions"] == 8
    trace.extend(2)
    later = PracticeSession(trace, epoch=2, start=trace.steps_per_epoch + 1)  # a2 of epoch 2
    assert later.current.step == trace.steps_per_epoch + 1 and later.current.title.startswith("a2")
    assert later.current.answer == pytest.approx(tuple(trace[trace.steps_per_epoch + 1].value("a2")[0]))


def test_a_mini_batch_question_names_its_batch_and_examples():
    trace = Trace(load(IRIS))
    session = PracticeSession(trace)
    first = trace.epoch(1).passes[0]
    listed = ", ".join(str(r + 1) for r in first.rows[:3])
    assert f"(mini-batch 1: examples {listed}, …)" in session.questions[0].title
    assert not any("(example 1)" in q.title for q in session.questions)


def test_too_few_significant_digits_are_asked_again_not_called_off():
    session = PracticeSession(Trace(load(BLOG)))
    short = " ".join(f"{v:.{MIN_SIGNIFICANT - 1}g}" for v in Z2)  # 0.34 0.97: right to the digits typed
    feedback = session.answer(short)
    assert not feedback.correct and "significant digits" in feedback.message and "off" not in feedback.message
    assert session.position == 0 and session.tries == 0
    wrong = session.answer("0.1 0.97")  # 0.1 is wrong even at one digit: off
    assert "z2[1] is off" in wrong.message
    assert session.answer(fmt(Z2)).correct


def test_a_wide_layer_is_asked_a_few_units_at_a_time(tmp_path):
    trace = Trace(load(wide_scenario(tmp_path / "wide.toml")))
    session = PracticeSession(trace)
    z2 = [q for q in session.questions if q.title.startswith("z2")]
    assert all(q.size <= MAX_ASKED for q in session.questions)
    whole = np.ravel(trace[0].value("z2"))  # 2 examples × 128 units
    assert len(z2) == -(-whole.size // MAX_ASKED) and sum(q.size for q in z2) == whole.size
    assert z2[1].answer == pytest.approx(tuple(whole[MAX_ASKED:2 * MAX_ASKED]))
    assert f"(part 2 of {len(z2)})" in z2[1].title
    assert session.answer(" ".join(f"{v:.7g}" for v in z2[0].answer)).correct
    assert session.current is z2[1]
