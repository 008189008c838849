"""The command line as a user meets it: summaries, exit statuses, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
