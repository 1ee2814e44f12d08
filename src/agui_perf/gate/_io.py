"""File and JSON plumbing shared by the gate's readers and writers.

- `atomic_write_text`: a reader sees the old file or the new one, never half of one.
- `dump_json` / `dump_json_compact`: key-sorted JSON whose diff is readable.
- `load_json_file` / `Reader`: strict JSON input that turns every defect into one `GateError`
  line naming the file, the place inside it and what to do.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from agui_perf.gate.errors import GateError

__all__ = [
    "Reader",
    "atomic_write_text",
    "dump_json",
    "dump_json_compact",
    "load_json_file",
    "parse_json_text",
]


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write `text` to `path` via a temporary file in the same directory and `os.replace`.

    The temporary file must live in the target directory: `os.replace` is only atomic within
    one file system. It is fsynced before the rename so that a crash cannot leave a renamed but
    empty file, and the directory is fsynced after it so that the rename itself survives.
    On any failure the temporary file is removed and the old file is left untouched.
    """
    target = Path(path)
    directory = target.parent
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as err:
        raise _naming(err, target) from None
    try:
        # mkstemp creates the file 0600; a report or baseline is an ordinary file that other
        # users (and the artifact upload) must be able to read, so give it the umask's mode.
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        if isinstance(err, OSError):
            raise _naming(err, target) from None
        raise
    _fsync_directory(directory)


def _naming(err: OSError, target: Path) -> OSError:
    """`err` naming the file being written: a write or fsync error names no file, and a
    mkstemp error names the temporary file, which means nothing to the user."""
    if err.errno is None or err.filename == str(target):
        return err
    # OSError(errno, …) gives back the matching subclass (PermissionError, …).
    return OSError(err.errno, err.strerror or str(err), str(target))


def _umask() -> int:
    # The only portable way to read the umask is to set it and put it back.
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_directory(directory: Path) -> None:
    # Not every platform can open a directory (Windows); the rename is still atomic there.
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def dump_json(obj: object) -> str:
    """Pretty-printed, key-sorted JSON with a final newline, so that diffs stay readable.

    `allow_nan=False`: NaN/Infinity are not JSON, and a file holding them must never be written.
    """
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


_SCALARS = (str, int, float, bool, type(None))


def _flat(value: object) -> bool:
    """A scalar, or a list or object of scalars only (empty included): one line of its own."""
    if isinstance(value, Mapping):
        return all(isinstance(item, _SCALARS) for item in value.values())
    if isinstance(value, list):
        return all(isinstance(item, _SCALARS) for item in value)
    return True


def _compact(value: object, depth: int) -> str:
    inner = "  " * (depth + 1)
    outer = "  " * depth
    if isinstance(value, Mapping) and not _flat(value):
        items = [
            f"{inner}{json.dumps(key, ensure_ascii=False)}: {_compact(item, depth + 1)}"
            for key, item in sorted(value.items())
        ]
        return "{\n" + ",\n".join(items) + f"\n{outer}}}"
    if isinstance(value, list) and not _flat(value):
        items = [f"{inner}{_compact(item, depth + 1)}" for item in value]
        return "[\n" + ",\n".join(items) + f"\n{outer}]"
    return json.dumps(
        value, sort_keys=True, ensure_ascii=False, allow_nan=False, separators=(", ", ": ")
    )


def dump_json_compact(obj: object) -> str:
    """Key-sorted JSON like `dump_json`, but every list or object that holds only scalars is
    written on one line of its own.

    For a file in git whose numbers are re-measured (the baseline): a list of eight
    per-process medians or a summary's seven figures is then one changed line instead of
    eight or seven, while the figures a reviewer reads one by one (a memory scenario's peak,
    its allocation count) keep a line each. Any JSON reader reads it like `dump_json`'s output.
    """
    return _compact(obj, 0) + "\n"


def _reject_constant(name: str) -> object:
    raise ValueError(f"non-finite number {name}")


def parse_json_text(text: str, *, origin: str, hint: str) -> object:
    """Parse JSON text strictly: empty text, syntax errors and NaN/Infinity are GateErrors."""
    if not text.strip():
        raise GateError(f"{origin} is empty — {hint}")
    try:
        # Python's json accepts NaN and Infinity by default (pytest-benchmark can write them);
        # a timing that is not a number is a broken measurement, not a value to compare.
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as err:
        raise GateError(
            f"{origin} is not valid JSON ({err.msg} at line {err.lineno} column {err.colno}) "
            f"— {hint}"
        ) from None
    except ValueError as err:
        raise GateError(f"{origin} holds a {err} — {hint}") from None


def load_json_file(path: str | os.PathLike[str], *, origin: str, hint: str) -> object:
    """Read and parse a JSON file; a missing or unreadable file is a GateError."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GateError(f"{origin} does not exist — {hint}") from None
    except IsADirectoryError:
        raise GateError(f"{origin} is a directory, not a JSON file — {hint}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise GateError(f"{origin} cannot be read ({err}) — {hint}") from None
    return parse_json_text(text, origin=origin, hint=hint)


@dataclass(frozen=True)
class Reader:
    """Typed field access that names the file, the place and the fix in every error.

    `origin` quotes the input ("baseline 'baselines/x.json'"); `hint` says what to do.
    """

    origin: str
    hint: str

    def error(self, where: str, problem: str) -> GateError:
        if not where:
            return GateError(f"{self.origin} {problem} — {self.hint}")
        return GateError(f"{self.origin}: {where} {problem} — {self.hint}")

    def mapping(self, obj: object, where: str) -> Mapping[str, object]:
        if not isinstance(obj, Mapping):
            raise self.error(where, f"should be a JSON object, found {_kind(obj)}")
        return obj

    def field(self, obj: Mapping[str, object], key: str, where: str) -> object:
        if key not in obj:
            raise self.error(where, f"has no field {key!r}")
        return obj[key]

    def sub(self, obj: Mapping[str, object], key: str, where: str) -> Mapping[str, object]:
        return self.mapping(self.field(obj, key, where), f"{where} field {key!r}".strip())

    def string(self, obj: Mapping[str, object], key: str, where: str) -> str:
        value = self.field(obj, key, where)
        if not isinstance(value, str):
            raise self.error(where, f"field {key!r} should be a string, found {value!r}")
        return value

    def boolean(self, obj: Mapping[str, object], key: str, where: str) -> bool:
        value = self.field(obj, key, where)
        if not isinstance(value, bool):
            raise self.error(where, f"field {key!r} should be true or false, found {value!r}")
        return value

    def integer(self, obj: Mapping[str, object], key: str, where: str, *, minimum: int = 0) -> int:
        value = self.field(obj, key, where)
        # bool is an int subclass; `true` as a count is a broken file, not 1.
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.error(where, f"field {key!r} should be an integer, found {value!r}")
        if value < minimum:
            raise self.error(where, f"field {key!r} is {value}; it must be at least {minimum}")
        return value

    def number(
        self, obj: Mapping[str, object], key: str, where: str, *, positive: bool = False
    ) -> float:
        return self.check_number(
            self.field(obj, key, where), f"{where} field {key!r}".strip(), positive=positive
        )

    def check_number(self, value: object, where: str, *, positive: bool = False) -> float:
        """A finite, non-negative number (strictly positive if `positive`)."""
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self.error(where, f"should be a number, found {value!r}")
        number = float(value)
        if not math.isfinite(number):
            raise self.error(where, f"is {number!r}; a measurement must be a finite number")
        if number < 0 or (positive and number == 0):
            bound = "positive" if positive else "non-negative"
            raise self.error(where, f"is {number!r}; it must be {bound}")
        return number

    def array(self, obj: Mapping[str, object], key: str, where: str) -> list[object]:
        value = self.field(obj, key, where)
        if not isinstance(value, list):
            raise self.error(where, f"field {key!r} should be a JSON array, found {_kind(value)}")
        return value


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "an array"
    return f"a {type(value).__name__}"
