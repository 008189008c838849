"""``export -o PATH`` never destroys: devices and FIFOs are written into, symlinks followed, read-only files and
the files bpdebug read are refused in one line. Each case is what a user would type; the file system is then
examined (file types, link targets, contents) rather than bpdebug's own report of what it did."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bpdebug.cli import main
from bpdebug.core.atomic import OutputError, write_output
from bpdebug.core.scenario import load

BLOG = Path(__file__).resolve().parent.parent / "scenarios" / "blog.toml"


def export(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main(["export", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def markdown(capsys: pytest.CaptureFixture[str], scenario: Path = BLOG) -> str:
    code, out, _ = export(capsys, scenario)
    assert code == 0
    return out


def one_line(err: str) -> str:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    copy = tmp_path / "mine.toml"
    copy.write_bytes(BLOG.read_bytes())
    return copy


def test_dev_null_is_written_into_and_stays_a_device(capsys) -> None:
    before = os.stat("/dev/null")
    code, out, err = export(capsys, BLOG, "-o", "/dev/null")
    assert code == 0 and out == ""
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev and after.st_ino == before.st_ino


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full on this system")
def test_dev_full_is_one_line_about_the_space_and_stays_a_device(capsys) -> None:
    code, out, err = export(capsys, BLOG, "-o", "/dev/full")
    assert code == 2 and out == ""
    assert one_line(err) == "bpdebug export: -o /dev/full: cannot write (No space left on device)\n"
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_dev_stdout_prints_the_transcript(tmp_path: Path, capsys) -> None:
    expected = markdown(capsys)
    run = subprocess.run([sys.executable, "-m", "bpdebug", "export", str(BLOG), "-o", "/dev/stdout"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout == expected


def test_dev_stdout_redirected_to_a_file_appends_where_the_shell_left_it(tmp_path: Path, capsys) -> None:
    expected = markdown(capsys)
    target = tmp_path / "log.md"
    target.write_text("kept\n", encoding="utf-8")
    with open(target, "a", encoding="utf-8") as handle:  # as `>> log.md` does
        run = subprocess.run([sys.executable, "-m", "bpdebug", "export", str(BLOG), "-o", "/dev/stdout"],
                             stdout=handle, stderr=subprocess.PIPE, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert target.read_text(encoding="utf-8") == "kept\n" + expected


def test_a_fifo_with_a_reader_receives_the_transcript(tmp_path: Path, capsys) -> None:
    code, expected, _ = export(capsys, BLOG, "--full", "--epochs", 4)
    assert code == 0 and len(expected.encode("utf-8")) > 65536  # more than a pipe holds: the writes must wait
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    # the reader is there before the export opens the FIFO (a non-blocking open counts as a reader at once)
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    received: list[bytes] = []
    done = threading.Event()

    def read() -> None:
        while True:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:  # a writer is connected and has nothing more yet
                time.sleep(0.001)
                continue
            if chunk:
                received.append(chunk)
            elif done.is_set():  # no writer any more and the export has returned: the end
                return
            else:
                time.sleep(0.001)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        code, out, err = export(capsys, BLOG, "--full", "--epochs", 4, "-o", fifo)
    finally:
        done.set()
        reader.join(10)
        os.close(fd)
    assert code == 0, err
    assert b"".join(received).decode("utf-8") == expected
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_fifo_without_a_reader_is_refused_in_one_line_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    run = subprocess.run([sys.executable, "-m", "bpdebug", "export", str(BLOG), "-o", str(fifo)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and run.stdout == ""
    assert one_line(run.stderr) == (f"bpdebug export: -o {fifo}: is a FIFO with no reader, refusing to wait; "
                                    "expected a reader (start it first) or another path\n")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_symlink_is_followed_its_target_replaced_and_the_link_kept(tmp_path: Path, capsys) -> None:
    expected = markdown(capsys)
    real = tmp_path / "real" / "transcript.md"
    real.parent.mkdir()
    real.write_text("old\n", encoding="utf-8")
    os.chmod(real, 0o640)
    link = tmp_path / "link.md"
    link.symlink_to(real)
    code, out, err = export(capsys, BLOG, "-o", link)
    assert code == 0, err
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text(encoding="utf-8") == expected
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert sorted(p.name for p in real.parent.iterdir()) == ["transcript.md"]  # no temporary file left


def test_a_dangling_symlink_creates_its_target_and_stays_a_link(tmp_path: Path, capsys) -> None:
    expected = markdown(capsys)
    link = tmp_path / "link.md"
    link.symlink_to(tmp_path / "later.md")
    assert export(capsys, BLOG, "-o", link)[0] == 0
    assert link.is_symlink() and (tmp_path / "later.md").read_text(encoding="utf-8") == expected


def test_a_read_only_file_is_refused_even_as_root(tmp_path: Path, capsys) -> None:
    target = tmp_path / "frozen.md"
    target.write_text("keep me\n", encoding="utf-8")
    os.chmod(target, 0o444)
    code, out, err = export(capsys, BLOG, "-o", target)
    assert code == 2 and out == ""
    assert one_line(err) == (f"bpdebug export: -o {target}: has no write permission (mode 0444), refusing to "
                             "replace it; expected a writable file or a new path\n")
    assert target.read_text(encoding="utf-8") == "keep me\n" and stat.S_IMODE(target.stat().st_mode) == 0o444


def test_the_scenario_itself_is_never_overwritten(scenario: Path, capsys) -> None:
    before = scenario.read_bytes()
    code, out, err = export(capsys, scenario, "-o", scenario)
    assert code == 2 and out == ""
    assert one_line(err) == (f"bpdebug export: -o {scenario}: is a file bpdebug read to build this run, refusing "
                             "to overwrite it; expected another output path\n")
    assert scenario.read_bytes() == before


@pytest.mark.parametrize("how", ["hard link", "symlink", "relative path"])
def test_another_name_for_the_scenario_is_refused_too(scenario: Path, capsys, how: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    before = scenario.read_bytes()
    other = scenario.parent / "other.md"
    if how == "hard link":
        os.link(scenario, other)
    elif how == "symlink":
        other.symlink_to(scenario)
    else:
        monkeypatch.chdir(scenario.parent / "..")
        other = Path(scenario.parent.name) / ".." / scenario.parent.name / scenario.name
    code, out, err = export(capsys, scenario, "-o", other)
    assert code == 2 and out == ""
    assert "a file bpdebug read to build this run, refusing to overwrite it" in one_line(err)
    assert scenario.read_bytes() == before
    assert os.stat(scenario).st_nlink == (2 if how == "hard link" else 1)


def test_the_scenario_is_protected_when_it_is_stdout_too(scenario: Path) -> None:
    before = scenario.read_bytes()
    with open(scenario, "a", encoding="utf-8") as handle:  # `bpdebug export s.toml -o /dev/stdout >> s.toml`
        run = subprocess.run([sys.executable, "-m", "bpdebug", "export", str(scenario), "-o", "/dev/stdout"],
                             stdout=handle, stderr=subprocess.PIPE, text=True, timeout=120)
    assert run.returncode == 2 and "refusing to overwrite it" in one_line(run.stderr)
    assert scenario.read_bytes() == before


def test_source_files_name_the_scenario_read(scenario: Path) -> None:
    s = load(scenario)
    assert len(s.source_files) == 1 and os.path.samefile(s.source_files[0], scenario)


def test_a_directory_and_a_missing_folder_are_refused(tmp_path: Path, capsys) -> None:
    code, _, err = export(capsys, BLOG, "-o", tmp_path)
    assert code == 2 and one_line(err).endswith("is a directory, expected a file path, a character device or a FIFO\n")
    code, _, err = export(capsys, BLOG, "-o", tmp_path / "nope" / "t.md")
    assert code == 2 and "does not exist" in one_line(err)
    assert list(tmp_path.iterdir()) == []


def test_write_output_api_refuses_protected_files_and_writes_bytes(tmp_path: Path) -> None:
    source = tmp_path / "data.bin"
    source.write_bytes(b"\x00\x01")
    with pytest.raises(OutputError) as caught:
        write_output(source, "text", protect=[source])
    assert "\n" not in str(caught.value) and str(caught.value).startswith(str(source))
    assert source.read_bytes() == b"\x00\x01"
    fresh = tmp_path / "new.bin"
    write_output(fresh, b"\xff\x00", protect=[source, tmp_path / "missing"])
    assert fresh.read_bytes() == b"\xff\x00"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask


def test_a_path_with_a_newline_is_reported_on_one_line(tmp_path: Path) -> None:
    weird = tmp_path / "a\nb" / "t.md"
    with pytest.raises(OutputError) as caught:
        write_output(weird, "x")
    assert "\n" not in str(caught.value) and "a\\x0ab" in str(caught.value)
