"""The command line as a user meets it: summaries, exit statuses, one-line errors."""

from __future__ import annotations

import io
import itertools
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bpdebug.cli import bundled_blog, main

BLOG = Path(__file__).resolve().parent.parent / "scenarios" / "blog.toml"


def test_check_blog_summarises_and_exits_1_because_the_post_has_slips(capsys):
    assert main(["check", str(BLOG)]) == 1
    out = capsys.readouterr().out
    assert "2-2-2, bias units on" in out
    assert "half_sse" in out
    assert "12: w1, w2, w3, w4, w5, w6, w7, w8, b1, b2, b3, b4" in out
    assert "starting loss 0.02647730815\n" in out  # the digits of every other figure, not repr's 17
    assert "FAILS  z2" in out and "computed [0.345, 0.975]" in out
    assert "holds  w5 " in out
    assert "FAILS  w5.after" in out and "computed 0.3996351668" in out


def test_bundled_blog_is_the_same_file_as_scenarios_blog():
    assert bundled_blog().read_bytes() == BLOG.read_bytes()


def test_check_invalid_scenario_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[network]\nlayers = [2, 0]\n")
    assert main(["check", str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith(f"{bad}:2: network.layers: layer 2 has 0 units")


def test_bad_arguments_exit_2_with_one_line(capsys):
    assert main(["check"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "scenario" in err


def test_app_refuses_a_bad_file_before_any_screen(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"\x00\x01binary")
    assert main([str(bad)]) == 2
    assert capsys.readouterr().err == f"{bad}: (file): is a binary file, expected a TOML text scenario\n"


def test_module_entry_point_runs_without_a_traceback(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("title = 3\n")
    run = subprocess.run([sys.executable, "-m", "bpdebug", "check", str(bad)], capture_output=True, text=True)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert run.stderr.strip() == f"{bad}:1: title: expected a string, got 3 (a number)"


def test_a_full_disk_on_standard_output_is_one_line_not_a_traceback():
    for command in (["export", str(BLOG)], ["check", str(BLOG)]):
        with open("/dev/full", "w") as full:
            run = subprocess.run([sys.executable, "-m", "bpdebug", *command], stdout=full, stderr=subprocess.PIPE,
                                 text=True, timeout=120)
        assert run.returncode == 2, command
        assert run.stderr == "bpdebug: cannot write the output (No space left on device)\n", run.stderr


def test_a_reader_that_leaves_early_is_no_error():
    """`bpdebug export … | head`: the reader has what it wanted; no traceback, no message, status 0."""
    proc = subprocess.Popen([sys.executable, "-m", "bpdebug", "export", str(BLOG), "--full", "--epochs", "20"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(100).startswith(b"# ")
    proc.stdout.close()  # far less than the transcript: the writer meets a closed pipe
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0
    assert err == ""


def test_export_refuses_a_document_past_the_limit_with_the_apps_explanation(tmp_path, capsys) -> None:
    from bpdebug.cli import main
    from bpdebug.transcript import DOCUMENT_EPOCHS, too_long

    target = tmp_path / "long.md"
    status = main(["export", str(BLOG), "--format", "md", "--epochs", str(DOCUMENT_EPOCHS + 1), "-o", str(target)])
    err = capsys.readouterr().err.strip()
    assert status == 2 and not target.exists()
    assert err == f"bpdebug export: --epochs {DOCUMENT_EPOCHS + 1}: a md transcript covers at most {DOCUMENT_EPOCHS}" \
                  " epochs; use --format json (written an epoch at a time) for longer runs"
    assert too_long("json", DOCUMENT_EPOCHS + 1) is None and too_long("md", DOCUMENT_EPOCHS) is None


# ------------------------------------------------------------------ long work on the command line (issue 18, §4)

class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _on_a_terminal(monkeypatch, argv):
    """Run ``bpdebug argv`` with standard output and error on a (pretend) terminal, progress shown at once."""
    from bpdebug import cli

    out, err = _Terminal(), _Terminal()
    monkeypatch.setattr(cli.Progress, "DELAY", 0.0)
    monkeypatch.setattr(cli.Progress, "INTERVAL", 0.0)
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


def test_gradcheck_of_a_wide_net_samples_each_matrix_and_shows_progress_on_a_terminal(tmp_path, monkeypatch, capsys):
    from _wide import wide_scenario

    path = wide_scenario(tmp_path / "wide.toml")
    code, out, err = _on_a_terminal(monkeypatch, ["check", str(path), "--gradcheck"])
    assert code == 0, err
    assert "a sample of 128 of the 101,770 parameters (up to 64 of each matrix, spread over its rows); --all " \
           "checks every one" in out
    assert len([line for line in out.splitlines() if line.endswith(("agrees", "below resolution"))]) == 128
    assert "gradient check: 1 of 128 parameters (1%), about " in err and " left" in err
    assert err.endswith("\r\x1b[K")  # the progress line is wiped at the end
    monkeypatch.undo()
    # piped, or as JSON: no progress at all
    assert main(["check", str(path), "--gradcheck"]) == 0
    assert capsys.readouterr().err == ""
    code, out, err = _on_a_terminal(monkeypatch, ["check", str(path), "--gradcheck", "--json"])
    assert err == "" and json.loads(out)["gradcheck"]["sampled"] is True


def test_gradcheck_all_checks_every_parameter_and_a_small_net_says_every(capsys):
    assert main(["check", str(BLOG), "--gradcheck"]) == 0
    out = capsys.readouterr().out
    assert "every parameter (12)" in out
    assert main(["check", str(BLOG), "--gradcheck", "--all"]) == 0
    assert "every parameter (12)" in capsys.readouterr().out
    assert main(["check", str(BLOG), "--all"]) == 2
    assert capsys.readouterr().err == "bpdebug check: --all: only with --gradcheck\n"


def test_a_sample_covers_every_matrix_and_all_checks_every_one(tmp_path):
    from _wide import wide_scenario

    from bpdebug.core.gradcheck import SAMPLE_PER_MATRIX, sample
    from bpdebug.core.scenario import load

    s = load(wide_scenario(tmp_path / "wide.toml"))
    chosen = sample(s)
    assert len(chosen) == 2 * SAMPLE_PER_MATRIX and len(set(chosen)) == len(chosen)
    assert {p.layer for p in chosen} == {1, 2} and any(p.is_bias for p in chosen)
    assert {p.row for p in chosen if p.layer == 1} > {0, 127}  # spread over the rows, first to last


@pytest.mark.parametrize("command", ["run", "export"])
def test_epochs_beyond_the_scenario_cap_are_refused_in_one_line(command, capsys):
    assert main([command, str(BLOG), "--epochs", "99999999999"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == (f"bpdebug {command}: --epochs 99999999999: expected a whole number from 1 to "
                                 "1,000,000 (as [training] epochs)\n")
    assert main([command, str(BLOG), "--epochs", "0"]) == 2
    assert "--epochs 0: expected a whole number from 1 to 1,000,000" in capsys.readouterr().err


def test_a_long_run_shows_its_progress_on_a_terminal_and_not_as_json(monkeypatch):
    clock = itertools.count(0.0, 0.5)  # a clock that moves half a second each time it is read: every report is due
    monkeypatch.setattr(time, "monotonic", lambda: next(clock))
    code, out, err = _on_a_terminal(monkeypatch, ["run", str(BLOG), "--epochs", "20000"])
    assert code == 0 and out.startswith("ran to the end: 20000 epochs")
    assert "training: " in err and " of 20,000 epochs (" in err and err.endswith("\r\x1b[K")
    code, out, err = _on_a_terminal(monkeypatch, ["run", str(BLOG), "--epochs", "20000", "--json"])
    assert code == 0 and err == "" and json.loads(out)["epochs"] == 20000


@pytest.mark.parametrize("args, said", [
    (["--exercise"], "--epochs 3: an exercise sheet is epoch 1, expected no --epochs with --exercise"),
    (["--format", "dot"], "--epochs 3: --format dot draws one pass, expected --epoch N to choose its epoch"),
])
def test_epochs_that_an_export_would_ignore_are_refused_in_one_line(args, said, capsys):
    assert main(["export", str(BLOG), "--epochs", "3", *args]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"bpdebug export: {said}\n"
