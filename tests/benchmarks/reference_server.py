"""The reference AG-UI server, built the way the AG-UI docs show, to benchmark against.

The Python SDK's quick-start: parse `RunAgentInput` with the SDK's pydantic model, have the
agent produce SDK event objects, encode each with `ag_ui.encoder.EventEncoder`, and return a
Starlette `StreamingResponse` over a generator that yields one encoded event at a time — so
one ASGI send (and one HTTP chunk) per event.

It runs the same workflows as our app (`agui_perf.stream.workflows`); each event the workflow
yields becomes the SDK model of its type, which is the construction a docs-style agent does.
Serve it with `uvicorn tests.benchmarks.reference_server:app`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import ag_ui.core
from ag_ui.core import BaseEvent, RunAgentInput
from ag_ui.encoder import EventEncoder
from starlette.applications import Starlette
from starlette.responses import StreamingResponse
from starlette.routing import Route

from agui_perf.stream.workflows import DEFAULT_WORKFLOW, WORKFLOWS, WorkflowParams

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from starlette.requests import Request
    from starlette.responses import Response

__all__ = ["EVENT_MODELS", "app"]


def _event_models() -> dict[str, type[BaseEvent]]:
    models: dict[str, type[BaseEvent]] = {}
    for name in ag_ui.core.__all__:
        obj = getattr(ag_ui.core, name)
        if isinstance(obj, type) and issubclass(obj, BaseEvent) and obj is not BaseEvent:
            models[obj.model_fields["type"].default.value] = obj
    return models


#: AG-UI event type → the SDK's pydantic model for it.
EVENT_MODELS: Final = _event_models()


async def run_agent(request: Request) -> Response:
    input_data = RunAgentInput.model_validate_json(await request.body())
    encoder = EventEncoder(accept=request.headers.get("accept", "text/event-stream"))
    forwarded = input_data.forwarded_props or {}
    workflow = WORKFLOWS[forwarded.get("workflow", DEFAULT_WORKFLOW)]
    params = WorkflowParams.from_mapping(forwarded.get("params"))
    agent = workflow(input_data.thread_id, input_data.run_id, params)

    async def event_generator() -> AsyncIterator[str]:
        async for event in agent:
            yield encoder.encode(EVENT_MODELS[event["type"]].model_validate(event))

    return StreamingResponse(event_generator(), media_type=encoder.get_content_type())


app = Starlette(routes=[Route("/agent", run_agent, methods=["POST"])])
