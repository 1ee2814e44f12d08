"""The limit server: the least a streaming server can do for the same bytes, to benchmark against.

A bare ASGI app (no Starlette, no agent, no encoding while it streams): `POST /agent` reads
the body and writes the run's frames, encoded beforehand, as fast as uvicorn takes them. What
it costs per event is uvicorn's and the socket's share of every streaming server, so our
server's events/s against it is how close the core comes to the I/O it cannot avoid.

The frames are those of the same workflow run our app streams (`agui_perf.stream.workflows`,
encoded by `encode_many`), so the bytes are identical. They are written in chunks of
`CHUNK_FRAMES` frames, the batches our app sends for the burst workflow (whose agent yields to
the loop every 64 events): the same number of writes, so the comparison is one of per-event
work, not of how many writes a run takes. A run is encoded on the first request that asks for
it (the benchmark's warm-up round) and kept.

Serve it with `uvicorn tests.benchmarks.limit_server:app`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import orjson

from agui_perf.stream.encoder import encode_many
from agui_perf.stream.workflows import DEFAULT_WORKFLOW, WORKFLOWS, WorkflowParams

if TYPE_CHECKING:
    from starlette.types import Message, Receive, Scope, Send

    from agui_perf.stream.types import Event

__all__ = ["CHUNK_FRAMES", "app"]

#: Frames per write: the batch our app sends for the burst workflow.
CHUNK_FRAMES: Final = 64
_HEADERS: Final = [(b"content-type", b"text/event-stream; charset=utf-8")]
_NOT_FOUND: Final = b'{"error":"not_found"}'


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return  # served with --lifespan off; nothing else is spoken
    if scope["path"] != "/agent" or scope["method"] != "POST":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": _NOT_FOUND})
        return
    body = b""
    more = True
    while more:
        message: Message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    chunks = await _chunks(body)
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    for chunk in chunks:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _chunks(body: bytes) -> tuple[bytes, ...]:
    cached = _cache.get(body)
    if cached is None:
        if len(_cache) >= _CACHED_RUNS:
            _cache.clear()
        cached = _cache[body] = await _encode_run(body)
    return cached


#: Encoded runs by request body; a benchmark asks for one run over and over.
_cache: dict[bytes, tuple[bytes, ...]] = {}
_CACHED_RUNS: Final = 4


async def _encode_run(body: bytes) -> tuple[bytes, ...]:
    """The run a `RunAgentInput` body asks for, encoded in chunks of CHUNK_FRAMES frames."""
    data = orjson.loads(body)
    forwarded = data.get("forwardedProps") or {}
    workflow = WORKFLOWS[forwarded.get("workflow", DEFAULT_WORKFLOW)]
    params = WorkflowParams.from_mapping(forwarded.get("params"))
    events: list[Event] = [
        event async for event in workflow(data["threadId"], data["runId"], params)
    ]
    return tuple(
        encode_many(events[start : start + CHUNK_FRAMES])
        for start in range(0, len(events), CHUNK_FRAMES)
    )
