"""Writing an output file without destroying anything on the way.

:func:`write_output` is the one way bpdebug writes a file the user named (``export -o``, the app's export
dialog). What it does depends on what already sits at the path:

* nothing: the file is created atomically (a temporary file in the same folder, then ``os.replace``);
* a regular file: replaced atomically, keeping its permission bits (and, as root, its owner); a reader sees
  the old file or the new one, never half of either (another hard link to it keeps the old content, as with
  any atomic replace);
* a symlink: followed; its final target is replaced atomically and the link stays a link;
* a character device or a FIFO (``/dev/null``, ``/dev/tty``, ``mkfifo out``): written into, never replaced.
  A FIFO is opened without blocking: with no reader the write is refused in one line instead of hanging;
* ``/dev/stdout``, ``/dev/stderr``, ``/dev/fd/N``, ``/proc/self/fd/N``: written to that descriptor of this
  process as it is (a pipe, a terminal, or the file the shell redirected it to, at its current offset);
* refused, in one line (:class:`OutputError`): a directory, a block device or a socket, a regular file
  without write permission (judged by its mode bits too, since root bypasses permissions), a folder that
  does not exist, and any file bpdebug read to build the run (``protect``: compared by device and inode, so
  through symlinks and hard links).
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

_OWN_FD = re.compile(r"^/(?:dev/fd|proc/self/fd)/(\d+)$")
_STD_NAMES = {"/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class OutputError(OSError):
    """An output path bpdebug will not or cannot write. ``str()`` is one line naming the path and why.

    A subclass of OSError, so callers that already catch OSError around a write keep working.
    """

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path, self.reason = os.fspath(path), reason
        super().__init__(f"{_shown(self.path)}: {reason}")

    def __str__(self) -> str:
        return f"{_shown(self.path)}: {self.reason}"


def _shown(path: str) -> str:
    """The path on one line: control characters (a newline in a file name) written as escapes."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}", path)


def _why(exc: OSError) -> str:
    if exc.errno == errno.EPIPE:
        return "cannot write: the reader closed it before the end"
    return f"cannot write ({(exc.strerror or str(exc)).rstrip('.')})"


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISREG, "a regular file")):
        if test(mode):
            return name
    return "not a regular file"


def _protected(st: os.stat_result, protect: Iterable[Path]) -> Path | None:
    """The protected file that ``st`` is (same device and inode), if any."""
    for p in protect:
        try:
            other = os.stat(p)
        except OSError:
            continue
        if (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino):
            return Path(p)
    return None


def _chunks(data: str | bytes | Iterable[str]) -> Iterable[bytes]:
    """``data`` as bytes pieces: one piece for text or bytes, one per item for an iterable of text."""
    if isinstance(data, str):
        return (data.encode("utf-8"),)
    if isinstance(data, bytes | bytearray | memoryview):
        return (bytes(data),)
    return (piece.encode("utf-8") for piece in data)


def _write_all(fd: int, payload: Iterable[bytes]) -> None:
    for piece in payload:
        view = memoryview(piece)
        while view:
            written = os.write(fd, view)
            view = view[written:]


def _refuse_protected(path: Path, st: os.stat_result, protect: Iterable[Path]) -> None:
    hit = _protected(st, protect)
    if hit is not None:
        same = "is" if os.path.abspath(path) == os.path.abspath(hit) else f"is the same file as {_shown(str(hit))},"
        raise OutputError(path, f"{same} a file bpdebug read to build this run, refusing to overwrite it; "
                          "expected another output path")


def write_output(path: str | os.PathLike[str], data: str | bytes | Iterable[str], *,
                 protect: Iterable[Path] = ()) -> None:
    """Write ``data`` (text is UTF-8 with ``\\n`` line ends) to ``path`` as the module docstring describes.

    ``data`` may be an iterable of text pieces (a streamed export): they are encoded and written one at a
    time, so an export of any length needs memory for one piece only.

    Raises OutputError (one line) for a path that is refused or a write that fails; nothing else is left
    behind then: an existing file keeps its old content and no temporary file remains.
    """
    path = Path(path)
    payload = _chunks(data)
    protect = tuple(protect)
    text = os.fspath(path)

    own = _OWN_FD.match(text)
    fd_number = int(own[1]) if own else _STD_NAMES.get(text)
    if fd_number is not None:
        _write_own_descriptor(path, fd_number, payload, protect)
        return

    try:
        st = os.stat(path)  # follows symlinks: what a write would reach
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise OutputError(path, f"cannot be examined ({exc.strerror or exc})") from None

    if st is None:
        # a dangling symlink: create its target, keep the link
        target = Path(os.path.realpath(path)) if os.path.lexists(path) else path
        _replace_atomically(path, target, None, payload)
        return

    _refuse_protected(path, st, protect)
    if stat.S_ISREG(st.st_mode):
        if not st.st_mode & 0o222 or not os.access(path, os.W_OK):
            raise OutputError(path, f"has no write permission (mode {stat.S_IMODE(st.st_mode):04o}), "
                              "refusing to replace it; expected a writable file or a new path")
        _replace_atomically(path, Path(os.path.realpath(path)), st, payload)
        return
    if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
        _write_into(path, st, payload, protect)
        return
    raise OutputError(path, f"is {_kind(st.st_mode)}, expected a file path, a character device or a FIFO")


def _write_own_descriptor(path: Path, fd_number: int, payload: Iterable[bytes], protect: tuple[Path, ...]) -> None:
    """``/dev/stdout`` and friends: this process's descriptor as the shell set it up, never replaced."""
    try:
        st = os.fstat(fd_number)
    except OSError:
        raise OutputError(path, f"descriptor {fd_number} is not open in this process") from None
    _refuse_protected(path, st, protect)
    if stat.S_ISDIR(st.st_mode):
        raise OutputError(path, "is a directory, expected a file, a pipe or a terminal")
    try:
        _write_all(fd_number, payload)
    except OSError as exc:
        raise OutputError(path, _why(exc)) from None


def _write_into(path: Path, st: os.stat_result, payload: Iterable[bytes], protect: tuple[Path, ...]) -> None:
    """A character device or a FIFO: open without blocking (a FIFO with no reader would hang), write into it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.ENXIO and stat.S_ISFIFO(st.st_mode):
            raise OutputError(path, "is a FIFO with no reader, refusing to wait; expected a reader "
                              "(start it first) or another path") from None
        raise OutputError(path, _why(exc)) from None
    try:
        now = os.fstat(fd)
        _refuse_protected(path, now, protect)
        if stat.S_ISREG(now.st_mode):  # replaced by a regular file since we looked: do not write into it
            raise OutputError(path, "changed while being opened, expected it to stay a device or a FIFO")
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)  # the reader is there: plain blocking writes
        _write_all(fd, payload)
    except OSError as exc:
        if isinstance(exc, OutputError):
            raise
        raise OutputError(path, _why(exc)) from None
    finally:
        os.close(fd)


def _replace_atomically(path: Path, target: Path, st: os.stat_result | None, payload: Iterable[bytes]) -> None:
    """Write ``payload`` to a temporary file beside ``target``, then ``os.replace`` it over ``target``."""
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(path, f"the folder {_shown(str(folder))} does not exist, expected an existing folder")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise OutputError(path, f"cannot create a file in {_shown(str(folder))} "
                          f"({(exc.strerror or str(exc)).rstrip('.')})") from None
    try:
        try:
            _write_all(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)
        if st is not None:
            os.chmod(tmp, stat.S_IMODE(st.st_mode))
            if os.geteuid() == 0 and (st.st_uid, st.st_gid) != (0, 0):
                os.chown(tmp, st.st_uid, st.st_gid)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise OutputError(path, _why(exc)) from None
        raise
