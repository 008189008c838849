"""Data and weights from files: ``[data] file`` and ``[weights] file``, and the weights writers.

Readers take the path as the scenario writes it, relative to the scenario's folder. Every file is read
once into memory: its size and SHA-256 are taken from the very bytes that are parsed (:class:`FileStamp`),
and :func:`verify` refuses a file whose bytes changed since. Anything wrong raises :class:`DataFileError`
naming the scenario key and what was expected; the loader turns it into its one-line message.

Formats:
- data ``.csv``: a header row, then one example per row (``#`` lines are comments). ``inputs`` names the
  input columns; ``targets`` names numeric target columns, or is one column name whose class labels are
  one-hot encoded in the order of ``classes = [...]`` or else in the order they first appear.
- data ``.npz``: ``inputs`` and ``targets`` are the keys of two arrays (examples × units; a 1-D array is
  one unit).
- data ``.npy``: one 2-D array whose columns are the inputs followed by the targets.
- weights ``.npz``: ``theta1``, ``theta2``, … as in ``[weights]``.
- weights ``.safetensors``: a PyTorch ``nn.Sequential`` of ``Linear`` layers (``0.weight``, ``0.bias``,
  ``2.weight``, …; the index counts every module, activations included). ``nn.Linear`` stores its weight
  as out_features × in_features, the orientation of theta, so theta = [bias | weight]. The format (an
  8-byte little-endian header length, a JSON header, the raw little-endian data) is read and written here
  directly; the ``safetensors`` package is not needed at run time.
"""

from __future__ import annotations

import io
import math
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .messages import describe as _describe
from .messages import either as _either

DATA_SUFFIXES = (".csv", ".npy", ".npz")
WEIGHTS_SUFFIXES = (".npz", ".safetensors")

Key = tuple[str, ...]


class DataFileError(ValueError):
    """A file named by a scenario that cannot be used. ``key`` is the scenario key to blame."""

    def __init__(self, key: Key, message: str) -> None:
        self.key, self.message = key, message
        super().__init__(f"{'.'.join(key)}: {message}")


# ------------------------------------------------------------------------------------------- the bytes

@dataclass(frozen=True)
class FileStamp:
    """A file as it was read: where, how big, and the SHA-256 of its bytes."""

    shown: str  # as the scenario writes it
    path: Path  # resolved
    size: int
    sha256: str
    key: Key = ("data", "file")

    def summary(self) -> str:
        """For ``check``: ``iris.csv (4,551 bytes, sha256 8f1c…)``."""
        return f"{self.shown} ({self.size:,} bytes, sha256 {self.sha256[:16]})"


def resolve(base: Path, written: str) -> Path:
    """``written`` relative to the folder ``base`` (the scenario's), unless absolute; ``~`` expanded."""
    path = Path(written).expanduser()
    return path if path.is_absolute() else base / path


def read_file(key: Key, base: Path, written: Any, suffixes: Sequence[str]) -> tuple[bytes, FileStamp]:
    """The bytes of the file the scenario names under ``key``, and their stamp."""
    if not isinstance(written, str) or not written.strip():
        raise DataFileError(key, f"expected a file name such as \"data{suffixes[0]}\", got {_describe(written)}")
    path = resolve(base, written)
    suffix = path.suffix.lower()
    if suffix not in suffixes:
        raise DataFileError(key, f"'{written}' has an unknown extension, expected {_either(suffixes)}")
    try:
        raw = _read_regular(path)
    except FileNotFoundError:
        raise DataFileError(key, f"'{written}': no such file (looked for {path}), expected a path relative to "
                            "the scenario's folder") from None
    except IsADirectoryError:
        raise DataFileError(key, f"'{written}' is a folder, expected a {_either(suffixes)} file") from None
    except _NotRegular as exc:
        raise DataFileError(key, f"'{written}' is {exc}, expected a regular {_either(suffixes)} file") from None
    except OSError as exc:
        raise DataFileError(key, f"'{written}' cannot be read ({exc.strerror})") from None
    return raw, FileStamp(written, path, len(raw), _sha256(raw), key)


def _sha256(raw: bytes) -> str:
    import hashlib  # here: a scenario without data files does not pay its import at start-up

    return hashlib.sha256(raw).hexdigest()


class _NotRegular(OSError):
    """A FIFO, a device or a socket where a file was expected; ``str()`` names what it is."""


def _read_regular(path: Path) -> bytes:
    """The bytes of the regular file ``path``. Opened without blocking and examined before it is read: a FIFO
    with no writer would otherwise wait forever, a device never end."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(path)
        if not stat.S_ISREG(mode):
            raise _NotRegular("a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or
                              stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
        chunks = []
        while chunk := os.read(fd, 1 << 22):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def verify(stamp: FileStamp) -> None:
    """Refuse a file that changed (or went away) since it was read."""
    try:
        raw = _read_regular(stamp.path)
    except OSError:
        raise DataFileError(stamp.key, f"'{stamp.shown}' was read when the scenario was loaded but is gone now, "
                            "expected the same file") from None
    digest = _sha256(raw)
    if len(raw) != stamp.size or digest != stamp.sha256:
        raise DataFileError(stamp.key, f"'{stamp.shown}' changed since the scenario was loaded ({stamp.size:,} "
                            f"bytes, sha256 {stamp.sha256[:16]}; now {len(raw):,} bytes, sha256 {digest[:16]}), "
                            "expected it unchanged: load the scenario again")


# ------------------------------------------------------------------------------------------------- data

@dataclass(frozen=True, eq=False)  # holds arrays: equal only to itself (a field-wise == would compare arrays)
class DataTable:
    """Examples read from a file: inputs and targets as float64, examples × units."""

    inputs: np.ndarray = field(repr=False)
    targets: np.ndarray = field(repr=False)
    stamp: FileStamp
    input_names: tuple[str, ...] = ()  # CSV column names or npz key
    target_names: tuple[str, ...] = ()
    classes: tuple[str, ...] | None = None  # the one-hot order of a class-label column


def read_data(base: Path, file: Any, inputs: Any = None, targets: Any = None, classes: Any = None,
              n_inputs: int | None = None, n_outputs: int | None = None) -> DataTable:
    """The examples of ``[data] file`` (``inputs``, ``targets``, ``classes`` as the scenario gives them,
    None when absent); ``n_inputs`` / ``n_outputs``, when given, are checked against the columns."""
    raw, stamp = read_file(("data", "file"), base, file, DATA_SUFFIXES)
    suffix = stamp.path.suffix.lower()
    if classes is not None and (suffix != ".csv" or not isinstance(targets, str)):
        raise DataFileError(("data", "classes"), "only used with a .csv file whose targets is one column of class "
                            "labels, expected no classes here")
    if suffix == ".csv":
        table = _read_csv(raw, stamp, inputs, targets, classes)
    elif suffix == ".npz":
        table = _read_npz_data(raw, stamp, inputs, targets)
    else:
        table = _read_npy_data(raw, stamp, inputs, targets, n_inputs, n_outputs)
    if n_inputs is not None and table.inputs.shape[1] != n_inputs:
        raise DataFileError(("data", "inputs"), f"{table.inputs.shape[1]} input column"
                            f"{'s' if table.inputs.shape[1] != 1 else ''} in '{stamp.shown}', expected {n_inputs} "
                            "for the input layer (layers[0])")
    if n_outputs is not None and table.targets.shape[1] != n_outputs:
        what = (f"{len(table.classes)} classes ({', '.join(table.classes)})" if table.classes is not None else
                f"{table.targets.shape[1]} target column{'s' if table.targets.shape[1] != 1 else ''}")
        raise DataFileError(("data", "targets"), f"{what} in '{stamp.shown}', expected {n_outputs} for the output "
                            "layer (the last of layers)")
    return table


def _names(key: Key, value: Any, what: str, allow_one: bool) -> tuple[str, ...]:
    if isinstance(value, str) and allow_one:
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        if len(set(value)) != len(value):
            dup = next(v for v in value if value.count(v) > 1)
            raise DataFileError(key, f"column '{dup}' is named twice, expected each column once")
        return tuple(value)
    if value is None:
        raise DataFileError(key, f"missing, expected {what}")
    raise DataFileError(key, f"expected {what}, got {_describe(value)}")


def _read_csv(raw: bytes, stamp: FileStamp, inputs: Any, targets: Any, classes: Any) -> DataTable:
    import csv

    file_key: Key = ("data", "file")
    input_cols = _names(("data", "inputs"), inputs, "a list of column names such as [\"x1\", \"x2\"]", False)
    label_column = isinstance(targets, str)
    target_cols = _names(("data", "targets"), targets, "a column of class labels (\"species\") or a list of "
                         "numeric columns ([\"t1\", \"t2\"])", True)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFileError(file_key, f"'{stamp.shown}' is not UTF-8 text (byte {exc.start}), expected a CSV "
                            "file") from None
    rows: list[tuple[int, list[str]]] = []  # (line number, fields)
    try:
        for number, fields_ in enumerate(csv.reader(io.StringIO(text)), start=1):
            if not fields_ or all(not f.strip() for f in fields_) or fields_[0].lstrip().startswith("#"):
                continue
            rows.append((number, [f.strip() for f in fields_]))
    except csv.Error as exc:
        raise DataFileError(file_key, f"'{stamp.shown}' is not valid CSV ({exc}), expected a header row and "
                            "one row per example") from None
    if not rows:
        raise DataFileError(file_key, f"'{stamp.shown}' is empty, expected a header row and one row per example")
    header_line, header = rows[0]
    if len(set(header)) != len(header):
        dup = next(h for h in header if header.count(h) > 1)
        raise DataFileError(file_key, f"{stamp.shown}:{header_line}: the header names column '{dup}' twice, "
                            "expected distinct column names")
    body = rows[1:]
    if not body:
        raise DataFileError(file_key, f"'{stamp.shown}' has a header but no examples, expected one row per example")
    for line, fields_ in body:
        if len(fields_) != len(header):
            raise DataFileError(file_key, f"{stamp.shown}:{line}: {len(fields_)} fields, expected {len(header)} "
                                "as in the header (a ragged row)")
    index = {name: i for i, name in enumerate(header)}
    for key, cols in ((("data", "inputs"), input_cols), (("data", "targets"), target_cols)):
        for col in cols:
            if col not in index:
                raise DataFileError(key, f"no column '{col}' in '{stamp.shown}', expected one of "
                                    f"{', '.join(header)}")
    both = set(input_cols) & set(target_cols)
    if both:
        raise DataFileError(("data", "targets"), f"column '{sorted(both)[0]}' is also an input, expected targets "
                            "apart from the inputs")

    def numbers(cols: tuple[str, ...], key: Key) -> np.ndarray:
        out = np.empty((len(body), len(cols)))
        for r, (line, fields_) in enumerate(body):
            for c, col in enumerate(cols):
                cell = fields_[index[col]]
                try:
                    value = float(cell)
                except ValueError:
                    raise DataFileError(key, f"{stamp.shown}:{line}: column '{col}' holds {cell!r}, expected a "
                                        "number") from None
                if not math.isfinite(value):
                    raise DataFileError(key, f"{stamp.shown}:{line}: column '{col}' holds {cell}, expected a "
                                        "finite number") from None
                out[r, c] = value
        return out

    x = numbers(input_cols, ("data", "inputs"))
    if not label_column:
        return DataTable(x, numbers(target_cols, ("data", "targets")), stamp, input_cols, target_cols)
    column = target_cols[0]
    labels = [(line, fields_[index[column]]) for line, fields_ in body]
    for line, label in labels:
        if not label:
            raise DataFileError(("data", "targets"), f"{stamp.shown}:{line}: column '{column}' is empty, expected "
                                "a class label")
    if classes is None:
        order = tuple(dict.fromkeys(label for _, label in labels))
    else:
        order = _names(("data", "classes"), classes, "a list of class labels such as [\"setosa\", \"versicolor\"]",
                       False)
        known = set(order)
        for line, label in labels:
            if label not in known:
                raise DataFileError(("data", "classes"), f"{stamp.shown}:{line}: class '{label}' is not in classes,"
                                    f" expected one of {', '.join(order)}")
    position = {label: k for k, label in enumerate(order)}
    t = np.zeros((len(body), len(order)))
    for r, (_, label) in enumerate(labels):
        t[r, position[label]] = 1.0
    return DataTable(x, t, stamp, input_cols, order, order)


def _load_npz(raw: bytes, stamp: FileStamp) -> dict[str, np.ndarray]:
    import zipfile

    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as archive:
            return {k: archive[k] for k in archive.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DataFileError(stamp.key, f"'{stamp.shown}' cannot be read as .npz ({_short(exc)}), expected an "
                            "archive written by numpy.savez") from None


def _numeric(key: Key, array: np.ndarray, what: str) -> np.ndarray:
    """``array`` as float64, refusing what is not real numbers or not finite."""
    if array.dtype.kind not in "fiu" or array.dtype.kind == "f" and array.dtype.itemsize > 8:
        raise DataFileError(key, f"{what} has dtype {array.dtype}, expected real numbers (float or integer)")
    out = array.astype(np.float64)
    if not np.isfinite(out).all():
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(out))[0])
        raise DataFileError(key, f"{what} holds {out[where]} at {[i + 1 for i in where]} (1-based), expected "
                            "finite numbers")
    return out


def _examples(key: Key, array: np.ndarray, what: str) -> np.ndarray:
    """A 2-D examples × units float array (a 1-D array is one unit per example)."""
    array = _numeric(key, array, what)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise DataFileError(key, f"{what} has shape {array.shape}, expected examples × units (2-D, not empty)")
    return array


def _read_npz_data(raw: bytes, stamp: FileStamp, inputs: Any, targets: Any) -> DataTable:
    arrays = _load_npz(raw, stamp)
    held = ", ".join(arrays) or "nothing"
    picked = []
    for k, value in (("inputs", inputs), ("targets", targets)):
        key: Key = ("data", k)
        if not isinstance(value, str):
            raise DataFileError(key, f"expected the name of an array in '{stamp.shown}' (it holds {held}), got "
                                f"{_describe(value) if value is not None else 'nothing'}")
        if value not in arrays:
            raise DataFileError(key, f"no array '{value}' in '{stamp.shown}', expected one of {held}")
        picked.append(_examples(key, arrays[value], f"'{stamp.shown}' array '{value}'"))
    x, t = picked
    if x.shape[0] != t.shape[0]:
        raise DataFileError(("data", "targets"), f"{t.shape[0]} examples in '{targets}', {x.shape[0]} in "
                            f"'{inputs}', expected one row of targets per example")
    return DataTable(x, t, stamp, (inputs,), (targets,))


def _read_npy_data(raw: bytes, stamp: FileStamp, inputs: Any, targets: Any, n_inputs: int | None,
                   n_outputs: int | None) -> DataTable:
    for k, value in (("inputs", inputs), ("targets", targets)):
        if value is not None:
            raise DataFileError(("data", k), "not used with a .npy file (its columns are the inputs, then the "
                                "targets), expected no such key")
    try:
        array = np.load(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataFileError(stamp.key, f"'{stamp.shown}' cannot be read as .npy ({_short(exc)}), expected an array "
                            "written by numpy.save") from None
    if not isinstance(array, np.ndarray):
        raise DataFileError(stamp.key, f"'{stamp.shown}' is not a single array, expected one written by numpy.save")
    array = _numeric(stamp.key, array, f"'{stamp.shown}'")
    if array.ndim != 2 or array.shape[0] == 0:
        raise DataFileError(stamp.key, f"'{stamp.shown}' has shape {array.shape}, expected examples × (inputs + "
                            "targets) columns")
    if n_inputs is None or n_outputs is None:
        raise DataFileError(stamp.key, "a .npy file needs the layer sizes to split its columns")
    if array.shape[1] != n_inputs + n_outputs:
        raise DataFileError(stamp.key, f"'{stamp.shown}' has {array.shape[1]} columns, expected {n_inputs + n_outputs}"
                            f": {n_inputs} inputs then {n_outputs} targets")
    return DataTable(array[:, :n_inputs].copy(), array[:, n_inputs:].copy(), stamp)


# ---------------------------------------------------------------------------------------------- weights

def shape_text(layers: Sequence[int], l: int, bias: bool) -> str:
    """``2 rows of 3 columns for layers 2 -> 2 with bias``: theta_l's shape (``l`` 1-based) in words."""
    cols = layers[l - 1] + (1 if bias else 0)
    return (f"{layers[l]} row{'s' if layers[l] != 1 else ''} of {cols} columns for layers "
            f"{layers[l - 1]} -> {layers[l]}{' with bias' if bias else ' without bias'}")


def read_weights(base: Path, file: Any, layers: Sequence[int], bias: bool) -> tuple[tuple[np.ndarray, ...], FileStamp]:
    """theta1 … theta{L-1} from ``[weights] file``, checked against ``layers``."""
    key: Key = ("weights", "file")
    raw, stamp = read_file(key, base, file, WEIGHTS_SUFFIXES)
    if stamp.path.suffix.lower() == ".npz":
        arrays = _load_npz(raw, stamp)
        names = [f"theta{l}" for l in range(1, len(layers))]
        for k in arrays:
            if k not in names:
                raise DataFileError(key, f"'{stamp.shown}' holds an array '{k}', expected only {', '.join(names)}")
        weights = []
        for l, name in enumerate(names, start=1):
            if name not in arrays:
                raise DataFileError(key, f"'{stamp.shown}' has no {name}, expected {shape_text(layers, l, bias)}")
            weights.append(_matrix(key, arrays[name], f"'{stamp.shown}' {name}", layers, l, bias))
        return tuple(weights), stamp
    return _sequential_weights(key, raw, stamp, layers, bias), stamp


def _matrix(key: Key, array: np.ndarray, what: str, layers: Sequence[int], l: int, bias: bool) -> np.ndarray:
    array = _numeric(key, array, what)
    want = (layers[l], layers[l - 1] + (1 if bias else 0))
    if array.shape != want:
        raise DataFileError(key, f"{what} has shape {_shape(array.shape)}, expected {shape_text(layers, l, bias)}")
    return array


_LINEAR = re.compile(r"^(.*?)(\d+)\.(weight|bias)$")


def _sequential_weights(key: Key, raw: bytes, stamp: FileStamp, layers: Sequence[int],
                        bias: bool) -> tuple[np.ndarray, ...]:
    tensors = read_safetensors(raw, stamp)
    modules: dict[int, dict[str, np.ndarray]] = {}
    prefixes = set()
    for name, array in tensors.items():
        m = _LINEAR.match(name)
        if not m:
            raise DataFileError(key, f"'{stamp.shown}' holds a tensor '{name}', expected only an nn.Sequential's "
                                "Linear layers: 0.weight, 0.bias, 2.weight, ...")
        prefixes.add(m[1])
        modules.setdefault(int(m[2]), {})[m[3]] = array
    if len(prefixes) > 1:
        raise DataFileError(key, f"'{stamp.shown}' mixes the prefixes {', '.join(sorted(map(repr, prefixes)))}, "
                            "expected the layers of one nn.Sequential")
    prefix = prefixes.pop() if prefixes else ""
    order = sorted(modules)
    if len(order) != len(layers) - 1:
        found = ", ".join(f"{prefix}{i}" for i in order) or "none"
        raise DataFileError(key, f"'{stamp.shown}' holds {len(order)} Linear layer{'s' if len(order) != 1 else ''} "
                            f"({found}), expected {len(layers) - 1} for layers {list(layers)}")
    weights = []
    for l, index in enumerate(order, start=1):
        parts = modules[index]
        name = f"{prefix}{index}"
        if "weight" not in parts:
            raise DataFileError(key, f"'{stamp.shown}' has {name}.bias but no {name}.weight, expected both")
        if bias != ("bias" in parts):
            raise DataFileError(key, f"'{stamp.shown}' {name} {'has no' if bias else 'has a'} bias, expected "
                                f"{'a bias in every Linear layer (bias = true)' if bias else 'none (bias = false)'}")
        w = _numeric(key, parts["weight"], f"'{stamp.shown}' {name}.weight")
        want = (layers[l], layers[l - 1])
        if w.shape != want:
            raise DataFileError(key, f"'{stamp.shown}' {name}.weight has shape {_shape(w.shape)}, expected "
                                f"{_shape(want)} (out_features × in_features) for layers {layers[l - 1]} -> "
                                f"{layers[l]}")
        if bias:
            b = _numeric(key, parts["bias"], f"'{stamp.shown}' {name}.bias")
            if b.shape != (layers[l],):
                raise DataFileError(key, f"'{stamp.shown}' {name}.bias has shape {_shape(b.shape)}, expected "
                                    f"({layers[l]},) for layer {l + 1}'s {layers[l]} units")
            w = np.hstack([b[:, None], w])
        weights.append(w)
    return tuple(weights)


# ------------------------------------------------------------------------------------- safetensors I/O

_ST_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
              "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}
_ST_FLOATS = ("F64", "F32", "F16", "BF16")
_ST_MAX_HEADER = 100_000_000


def read_safetensors(raw: bytes, stamp: FileStamp) -> dict[str, np.ndarray]:
    """Every tensor of a .safetensors file, as float64 (F64, F32, F16 and BF16 convert exactly)."""
    def bad(why: str) -> DataFileError:
        return DataFileError(stamp.key, f"'{stamp.shown}' is not a valid .safetensors file ({why}), expected one "
                             "written by safetensors.torch.save_file")

    if len(raw) < 8:
        raise bad("shorter than its 8-byte header length")
    n = int.from_bytes(raw[:8], "little")
    if n > _ST_MAX_HEADER or 8 + n > len(raw):
        raise bad(f"a header of {n} bytes in a file of {len(raw)}")
    import json

    try:
        header = json.loads(raw[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise bad("its header is not JSON") from None
    if not isinstance(header, dict):
        raise bad("its header is not a JSON object")
    data = memoryview(raw)[8 + n:]
    out: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
            count = math.prod(int(s) for s in shape)
        except (TypeError, KeyError, ValueError):
            raise bad(f"tensor '{name}' is described without dtype, shape and data_offsets") from None
        if dtype not in _ST_FLOATS:
            raise DataFileError(stamp.key, f"'{stamp.shown}' tensor '{name}' has dtype {dtype}, expected floating "
                                f"point ({', '.join(_ST_FLOATS)})")
        itemsize = 2 if dtype == "BF16" else np.dtype(_ST_DTYPES[dtype]).itemsize
        if not (0 <= begin <= end <= len(data)) or end - begin != count * itemsize:
            raise bad(f"tensor '{name}' has data offsets [{begin}, {end}] for {count} values of {dtype}")
        chunk = data[begin:end]
        if dtype == "BF16":  # the top 16 bits of a float32
            array = (np.frombuffer(chunk, "<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            array = np.frombuffer(chunk, _ST_DTYPES[dtype])
        out[name] = array.astype(np.float64).reshape([int(s) for s in shape])
    return out


def safetensors_bytes(tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> bytes:
    """The bytes of a .safetensors file holding ``tensors`` as F64, in the order given."""
    header: dict[str, Any] = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    chunks, offset = [], 0
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype="<f8").tobytes()
        header[name] = {"dtype": "F64", "shape": list(np.shape(array)), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    import json

    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned, as the reference writer does
    return len(text).to_bytes(8, "little") + text + b"".join(chunks)


def sequential_state_dict(weights: Sequence[np.ndarray], bias: bool) -> dict[str, np.ndarray]:
    """The weights as an ``nn.Sequential(Linear, activation, Linear, …)`` state dict: ``0.weight``, ``0.bias``,
    ``2.weight``, …"""
    out: dict[str, np.ndarray] = {}
    for l, w in enumerate(weights):
        out[f"{2 * l}.weight"] = np.ascontiguousarray(w[:, 1:] if bias else w)
        if bias:
            out[f"{2 * l}.bias"] = np.ascontiguousarray(w[:, 0])
    return out


def weights_npz_bytes(weights: Sequence[np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    arrays: dict[str, Any] = {f"theta{l}": np.asarray(w, dtype=np.float64) for l, w in enumerate(weights, start=1)}
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def write_weights(path: str | Path, weights: Sequence[np.ndarray], bias: bool) -> Path:
    """Write the weights to ``path`` (.npz: theta1, …; .safetensors: an nn.Sequential state dict), atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        data = weights_npz_bytes(weights)
    elif suffix == ".safetensors":
        data = safetensors_bytes(sequential_state_dict(weights, bias), {"format": "pt"})
    else:
        raise ValueError(f"{path}: unknown extension, expected {_either(WEIGHTS_SUFFIXES)}")
    return _write_bytes_atomic(path, data)


def _write_bytes_atomic(path: Path, data: bytes) -> Path:
    import tempfile

    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, (path.stat().st_mode & 0o777) if path.exists() else 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# ---------------------------------------------------------------------------------------------- helpers

def _shape(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(int(s)) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) <= 80 else text[:77] + "..."
