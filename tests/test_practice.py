"""Practice mode: ``bpdebug practice SCENARIO`` asks each next step's numbers; a right answer advances, a wrong
one does not and says which entries are off and which slip of the catalogue it is. Driven by feeding stdin;
the expected numbers are the blog's consistent worked example (blog-figures.md) or computed here by hand."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest

from bpdebug import cli
from bpdebug.core.engine import Trace
from bpdebug.core.scenario import load
from bpdebug.text.practice import PracticeSession, parse_numbers, tolerance

BLOG = str(Path(__file__).resolve().parent.parent / "bpdebug" / "scenarios" / "blog.toml")
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
    typed = f"{fmt(no_bias)}\n{fmt((Z2[0], 1.0))}\n{fmt(Z2)}\n{fmt((sig(no_bias[0]), sig(no_bias[1])))}\nq\n"
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
