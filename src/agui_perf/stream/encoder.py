"""SSE framing of AG-UI events (pure, no I/O).

Seed version: the events/encoder owner replaces this with the full, validated encoder.
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson

from agui_perf.stream.types import Event

__all__ = ["HEARTBEAT", "encode", "encode_many"]

HEARTBEAT = b": ping\n\n"


def encode(event: Event) -> bytes:
    return b"data: " + orjson.dumps(event) + b"\n\n"


def encode_many(events: Iterable[Event]) -> bytes:
    return b"".join(encode(e) for e in events)
