"""Running the command line from a test: a scenario written to a file, and ``bpdebug ...`` with its exit code and
what it printed."""

from __future__ import annotations

from pathlib import Path

from bpdebug import cli


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def run_cli(capsys, *args: object) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err
