"""SSE framing of AG-UI events (pure, no I/O).

A frame is ``b"data: " + compact JSON + b"\\n\\n"``: exactly what the official SDK's
``EventEncoder().encode(model)`` writes for the same event (no ``event:``/``id:`` lines,
raw UTF-8), because the events are dicts in the SDK's key order and orjson formats
strings, integers and floats the way pydantic does.

Every value either encodes to those bytes or raises ``EncodeError`` naming the field:
nothing the wire cannot carry is written silently.
"""

from __future__ import annotations

import enum
import math
import uuid
from typing import TYPE_CHECKING, Final

import orjson

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from agui_perf.stream.types import Event

__all__ = ["HEARTBEAT", "EncodeError", "encode", "encode_many"]

#: An SSE comment line: clients read only ``data:`` lines, so this keeps proxies from
#: cutting an idle stream (ag-ui issue #1001) without producing an event.
HEARTBEAT: Final = b": ping\n\n"

# orjson would write datetimes and dataclasses in its own format, which is not what the
# SDK (pydantic) writes for the same value; passing them through makes them fail here
# instead, so the bytes are SDK-identical or an error. Enum and UUID values are written
# identically by both and stay allowed.
_OPTIONS: Final = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_PREFIX: Final = b"data: "
_SUFFIX: Final = b"\n\n"
_BETWEEN: Final = b"\n\ndata: "
# orjson rejects containers nested deeper than this (counting the event itself as 1).
_MAX_DEPTH: Final = 254
_NULL: Final = b"null"
_INT_MIN: Final = -(2**63)
_INT_MAX: Final = 2**64 - 1


class EncodeError(ValueError):
    """An event holds a value the wire cannot carry.

    ``path`` locates it inside the event (``snapshot.items[3].n``; empty for the event
    itself), ``reason`` says what is wrong, and ``index`` is the event's position when
    it came from ``encode_many``.
    """

    def __init__(self, path: str, reason: str, index: int | None = None) -> None:
        self.path = path
        self.reason = reason
        self.index = index
        where = path or "the event"
        if index is not None:
            where = f"event {index}: {where}"
        super().__init__(f"cannot encode {where}: {reason}")


def encode(event: Event) -> bytes:
    """One SSE frame for ``event``."""
    try:
        body = orjson.dumps(event, None, _OPTIONS)
    except TypeError as exc:
        raise _locate(event, exc) from None
    # orjson writes NaN and ±Infinity as ``null`` without complaint (so would pydantic).
    # Finding them must not slow the common case. Measured here (2 cores, noisy, minima):
    # walking the values in Python looking for floats costs ~31 µs per account-analysis
    # run (75 events, 7.4 KB), twice orjson's ~16 µs; searching the output for b"null" is
    # far cheaper. Nulls are rare on this wire, since absent optionals are left out, so:
    # search, and only on a hit (a real null, a NaN, or the text "null") walk the event to
    # tell them apart. The search is ``bytes.find``: as fast as a compiled regex in wall
    # time, and half its instructions over a run's 7.4 KB (callgrind: ~21,000 against
    # ~45,000, where orjson's own work is ~170,000); the ``in`` operator takes as many
    # instructions on a run and half as many again on one small event.
    if body.find(_NULL) >= 0:
        _check(event)
    return _PREFIX + body + _SUFFIX


def encode_many(events: Iterable[Event]) -> bytes:
    """The SSE frames of ``events``, concatenated, built with one join (one write)."""
    batch: Sequence[Event] = events if isinstance(events, list | tuple) else list(events)
    if not batch:
        return b""
    dumps = orjson.dumps
    try:
        bodies = [dumps(event, None, _OPTIONS) for event in batch]
    except TypeError:
        for index, event in enumerate(batch):
            try:
                dumps(event, None, _OPTIONS)
            except TypeError as exc:
                raise _locate(event, exc, index) from None
        raise  # unreachable: the batch failed, so one event fails on its own
    frames = _PREFIX + _BETWEEN.join(bodies) + _SUFFIX
    # One search over the whole batch (see ``encode``); no "null" can span two bodies:
    # the separator between them contains none of its letters.
    if frames.find(_NULL) >= 0:
        for index, body in enumerate(bodies):
            if body.find(_NULL) >= 0:
                _check(batch[index], index)
    return frames


# --- slow path: find the value orjson refused (or wrote as null) ------------------------


def _locate(event: object, exc: TypeError, index: int | None = None) -> EncodeError:
    problem = _find(event, "", 1, set())
    if problem is None:  # orjson refused something the walk does not know about
        return EncodeError("", f"{exc}", index)
    path, reason = problem
    return EncodeError(path, reason, index)


def _check(event: object, index: int | None = None) -> None:
    problem = _find(event, "", 1, set())
    if problem is not None:
        raise EncodeError(*problem, index)


def _child(path: str, key: str) -> str:
    if key.isidentifier():
        return f"{path}.{key}" if path else key
    return f"{path}[{key!r}]"


def _find(value: object, path: str, depth: int, stack: set[int]) -> tuple[str, str] | None:
    """The first (path, reason) orjson cannot write as JSON the SDK would write, or None."""
    kind = type(value)
    if value is None or kind is bool:
        return None
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return path, "string contains a lone surrogate, which is not valid UTF-8"
        return None
    if isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            return path, f"integer {value} does not fit in 64 bits; send it as a string"
        return None
    if kind is float:
        if not math.isfinite(value):  # type: ignore[arg-type]
            return path, f"{value} is not valid JSON (it would be sent as null); use null"
        return None
    if isinstance(value, dict | list | tuple):
        if depth > _MAX_DEPTH:
            return path, f"nested deeper than {_MAX_DEPTH} levels (or refers to itself)"
        if id(value) in stack:
            return path, "refers to itself (a circular reference)"
        stack.add(id(value))
        try:
            if isinstance(value, dict):
                for key, item in value.items():
                    if type(key) is not str:
                        return path, (
                            f"key {key!r:.40} ({type(key).__name__}) is not a string; "
                            "JSON object keys must be str"
                        )
                    if _find(key, path, depth, stack):
                        return path, f"key {key!r:.40} contains a lone surrogate (not UTF-8)"
                    found = _find(item, _child(path, key), depth + 1, stack)
                    if found:
                        return found
            else:
                for position, item in enumerate(value):
                    found = _find(item, f"{path}[{position}]", depth + 1, stack)
                    if found:
                        return found
        finally:
            stack.discard(id(value))
        return None
    if isinstance(value, enum.Enum):
        return _find(value.value, path, depth, stack)
    if isinstance(value, uuid.UUID):
        return None
    return path, f"{kind.__name__} is not a JSON type; convert it to str, number, list or dict"
