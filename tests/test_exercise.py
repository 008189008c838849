"""Exercise sheets: ``bpdebug export SCENARIO --exercise [--blank …]`` writes the first epoch with its results
blanked and numbered, ``(7) ________``, and the answer key at the end under ``## Answers``."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bpdebug import cli
from bpdebug.core.engine import Trace
from bpdebug.core.scenario import load
from bpdebug.transcript import Options, render
from bpdebug.transcript.exercise import EXERCISE_PARTS

SCENARIOS = Path(__file__).resolve().parent.parent / "bpdebug" / "scenarios"
ALL = frozenset(EXERCISE_PARTS)
BLANK = re.compile(r"\((\d+)\) ________")


def sheet(name: str, fmt: str = "txt", parts: frozenset[str] = ALL) -> str:
    s = load(SCENARIOS / name)
    return render(fmt, Trace(s), Options(1, None, False, parts))


def split(text: str, heading: str) -> tuple[str, str]:
    body, _, key = text.partition(heading)
    assert key, f"no {heading!r} in the sheet"
    return body, key


def key_of(key: str) -> dict[int, tuple[str, float]]:
    """(n) quantity answer rows of the txt answer table."""
    out = {}
    for m in re.finditer(r"^\s*\((\d+)\)\s+(\S.*?)\s{2,}(-?[\d.e+-]+)\s*$", key, re.M):
        out[int(m[1])] = (m[2], float(m[3]))
    return out


def test_the_blog_sheet_blanks_every_result_and_keys_every_blank():
    body, key = split(sheet("blog.toml"), "Answers\n-------")
    blanks = [int(n) for n in BLANK.findall(body)]
    assert blanks == list(range(1, len(blanks) + 1)), "numbered in order, each once"
    answers = key_of(key)
    assert sorted(answers) == blanks
    named = {q: v for q, v in answers.values()}
    # the consistent worked example (blog-figures.md), computed independently of bpdebug
    published = {"z2[1]": 0.345, "z2[2]": 0.975, "a2[1]": 0.58540, "a2[2]": 0.72611, "z3[1]": 0.95200,
                 "z3[2]": 0.56531, "a3[1]": 0.72152, "a3[2]": 0.63768, "E": 0.0264773,
                 "grad.w5 (grad.theta2[1,1])": 0.0036483, "w5.after (theta2.after[1,1])": 0.3996352}
    for q, v in published.items():
        assert named[q] == pytest.approx(v, abs=6e-6), q
    # every result of the full transcript's pass is a blank: 2 z, 2 a per layer, 2 error terms and E,
    # 2 deltas per layer, 12 gradients and 12 new weights
    assert len(blanks) == 8 + 3 + 4 + 12 + 12
    # and no result is left in the body: none of the full transcript's computed numbers appear before the key
    for q in ("a2[1]", "z3[1]", "E", "grad.w5 (grad.theta2[1,1])", "w5.after (theta2.after[1,1])"):
        assert f"{named[q]:.6g}"[:6] not in body, q


def test_a_sheet_blanks_only_the_parts_asked_for():
    full = render("txt", Trace(load(SCENARIOS / "blog.toml")), Options(1))
    forward_only, key = split(sheet("blog.toml", parts=frozenset({"forward"})), "Answers\n-------")
    assert {q for q, _ in key_of(key).values()} == {"z2[1]", "z2[2]", "a2[1]", "a2[2]", "z3[1]", "z3[2]",
                                                    "a3[1]", "a3[2]"}
    assert "0.02647731" in full and "0.02647731" in forward_only  # the total error is still shown
    updates, key = split(sheet("blog.toml", parts=frozenset({"updates"})), "Answers\n-------")
    assert all(re.fullmatch(r"[wb]\d+\.after \(theta\d\.after\[\d,\d\]\)", q) for q, _ in key_of(key).values())
    assert len(key_of(key)) == 12
    assert "0.5854046" in updates


def test_online_sheets_blank_the_weights_an_earlier_example_left():
    body, key = split(sheet("online.toml", parts=frozenset({"updates"})), "Answers\n-------")
    answers = key_of(key)
    names = [q for q, _ in answers.values()]
    assert "b1.after (theta1.after[1,0], example 1)" in names  # b1 after example 1 (Widrow-Hoff: 0.1)
    assert {"z2[1] (example 1)", "a2[1] (example 3)", "delta2[1] (example 4)"} <= \
        {q for q, _ in key_of(split(sheet("online.toml"), "Answers\n-------")[1]).values()}
    assert dict(answers.values())["b1.after (theta1.after[1,0], example 1)"] == pytest.approx(0.1)
    assert dict(answers.values())["w1.after (theta1.after[1,1], example 4)"] == pytest.approx(0.8124)
    # example 2 starts from example 1's weights: their blanks are pointed to, not shown
    example2 = body[body.index("Example 2"):body.index("Example 3")]
    assert "(1)" in example2 and "0.19" not in example2.split("Errors")[0]


@pytest.mark.parametrize("fmt", ["md", "txt", "tex"])
def test_the_answer_key_names_parameters_by_their_short_names(fmt):
    """Every gradient and new weight of the key by the scenario's name for it (w5, b3), the canonical name
    once in brackets, and each of the blog's 12 parameters twice (its gradient and its new value)."""
    s = load(SCENARIOS / "blog.toml")
    _, key = split(sheet("blog.toml", fmt), {"md": "\n## Answers\n", "txt": "Answers\n-------", "tex": "Answers}"}[fmt])
    found = re.findall(r"(grad\.)?([wb]\d+)(\.after)? \((grad\.)?theta(\d)(\.after)?\[(\d),(\d)\]\)",
                       key.replace("\\_", "_"))
    assert len(found) == 2 * len(s.params)
    for grad, short, after, grad2, layer, after2, i, j in found:
        assert (grad, after) == (grad2, after2) and bool(grad) != bool(after)
        assert s.params.get(short).canonical == f"theta{layer}[{i},{j}]"
    assert {short for _, short, *_ in found} == set(s.params.shorts)
    assert "grad.theta" not in re.sub(r"\(grad\.theta\d\[\d,\d\]\)", "", key.replace("\\_", "_"))


def test_markdown_sheet_has_its_answers_heading():
    text = sheet("blog.toml", "md")
    body, key = split(text, "\n## Answers\n")
    assert r"\text{(1) \_\_\_\_\_\_\_\_}" in body and "| (1) | `z2[1]` |" in key


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
@pytest.mark.parametrize("name", ["blog.toml", "online.toml", "deep.toml"])
def test_the_tex_sheet_compiles(name, tmp_path):
    tex = sheet(name, "tex")
    assert "Answers" in tex
    (tmp_path / "t.tex").write_text(tex, encoding="utf-8")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, "\n".join(line for line in run.stdout.splitlines() if line.startswith("!"))


def test_export_exercise_on_the_command_line(capsys):
    assert cli.main(["export", str(SCENARIOS / "blog.toml"), "--exercise", "--blank", "error,forward",
                     "--format", "txt"]) == 0
    out = capsys.readouterr().out
    assert "(11) ________" in out and "(12) ________" not in out  # 8 forward results, 2 error terms and E


@pytest.mark.parametrize("args, message", [
    (["--exercise", "--blank", "forward,bogus"], "--blank forward,bogus: unknown part bogus, expected some of"),
    (["--blank", "forward"], "--blank: only with --exercise"),
    (["--exercise", "--format", "json"], "--exercise: not available as json"),
])
def test_bad_exercise_arguments_are_one_line_errors(args, message, capsys):
    assert cli.main(["export", str(SCENARIOS / "blog.toml"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_the_exercise_options_name_the_registrys_formats_and_parts(capsys):
    """--help and the refusal of another format list what the transcript package says, never a list of their own."""
    from bpdebug.transcript import EXERCISE_FORMATS, FORMATS

    assert cli.main(["export", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert all(f in help_text for f in (*EXERCISE_FORMATS, *EXERCISE_PARTS, *FORMATS))
    other = next(f for f in FORMATS if f not in EXERCISE_FORMATS)
    assert cli.main(["export", str(SCENARIOS / "blog.toml"), "--exercise", "--format", other]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and all(f in err.split("expected")[1] for f in EXERCISE_FORMATS)
