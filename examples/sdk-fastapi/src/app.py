"""An AG-UI server built the way the AG-UI documentation shows, with a scripted agent.

FastAPI parses the request into the SDK's `RunAgentInput`; the agent yields the SDK's event
models; `ag_ui.encoder.EventEncoder` turns each into a Server-Sent Event; a
`StreamingResponse` sends them as they come. The agent is a script in place of an LLM, so a
run is the same every time (what a benchmark needs): RUN_STARTED, a tool call, a text message
in chunks, RUN_FINISHED.

Serve it with `uvicorn app:app --app-dir src`; `forwardedProps.chunks` sets how many chunks
the text message has (default 20).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Final

from ag_ui.core import (
    BaseEvent,
    RunAgentInput,
    RunFinishedEvent,
    RunStartedEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
    ToolCallArgsEvent,
    ToolCallEndEvent,
    ToolCallStartEvent,
)
from ag_ui.encoder import EventEncoder
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

__all__ = ["DEFAULT_CHUNKS", "MAX_CHUNKS", "app", "chunks_of", "scripted_agent"]

DEFAULT_CHUNKS: Final = 20
#: A request cannot make the server stream without end.
MAX_CHUNKS: Final = 100_000
_WORDS: Final = ("The", "account", "looks", "healthy", "this", "quarter", "so", "far.")

app = FastAPI(title="AG-UI scripted agent")


def chunks_of(input_data: RunAgentInput) -> int:
    """The number of text chunks the run asks for (`forwardedProps.chunks`), within bounds."""
    props = input_data.forwarded_props
    wanted = props.get("chunks", DEFAULT_CHUNKS) if isinstance(props, dict) else DEFAULT_CHUNKS
    if isinstance(wanted, bool) or not isinstance(wanted, int):
        return DEFAULT_CHUNKS
    return max(1, min(wanted, MAX_CHUNKS))


def scripted_agent(input_data: RunAgentInput, chunks: int) -> Iterator[BaseEvent]:
    """The events of one run: what an LLM-backed agent would send, without the LLM."""
    yield RunStartedEvent(thread_id=input_data.thread_id, run_id=input_data.run_id)
    call_id = str(uuid.uuid4())
    yield ToolCallStartEvent(tool_call_id=call_id, tool_call_name="lookup_account")
    for part in ('{"account": ', '"acme"}'):
        yield ToolCallArgsEvent(tool_call_id=call_id, delta=part)
    yield ToolCallEndEvent(tool_call_id=call_id)
    message_id = str(uuid.uuid4())
    yield TextMessageStartEvent(message_id=message_id, role="assistant")
    for i in range(chunks):
        yield TextMessageContentEvent(message_id=message_id, delta=_WORDS[i % len(_WORDS)] + " ")
    yield TextMessageEndEvent(message_id=message_id)
    yield RunFinishedEvent(thread_id=input_data.thread_id, run_id=input_data.run_id)


@app.post("/")
async def run_agent(input_data: RunAgentInput, request: Request) -> StreamingResponse:
    """One agent run as an SSE stream."""
    encoder = EventEncoder(accept=request.headers.get("accept") or "text/event-stream")
    chunks = chunks_of(input_data)

    async def event_generator() -> AsyncIterator[str]:
        for event in scripted_agent(input_data, chunks):
            yield encoder.encode(event)

    return StreamingResponse(event_generator(), media_type=encoder.get_content_type())
