"""The Starlette app: `POST /agent` runs a workflow and streams it as SSE; `GET /healthz`.

The request body is the official `RunAgentInput` (camelCase). It is checked by hand rather
than through the SDK's pydantic models: the check is on every request's path, and the
core does not depend on the SDK at all.
"""

from __future__ import annotations

import asyncio
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn

import orjson
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from agui_perf.stream.collector import tune_for_serving
from agui_perf.stream.response import EventStreamResponse
from agui_perf.stream.stalls import STALLS_DIR_ENV, StallMonitor
from agui_perf.stream.workflows import DEFAULT_WORKFLOW, WORKFLOWS, WorkflowParams

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from starlette.types import Receive, Scope, Send

    from agui_perf.stream.workflows import WorkflowFactory

__all__ = [
    "BODY_TIMEOUT_ENV",
    "HEARTBEAT_ENV",
    "RequestError",
    "RunRequest",
    "app_from_env",
    "check_run_agent_input",
    "create_app",
    "parse_run_request",
    "read_body",
]

#: Environment variable read by `app_from_env` (how `agui-perf serve --heartbeat` reaches
#: uvicorn's worker processes, which build the app from an import string).
HEARTBEAT_ENV: Final = "AGUI_PERF_HEARTBEAT"
#: Likewise for `agui-perf serve --body-timeout`.
BODY_TIMEOUT_ENV: Final = "AGUI_PERF_BODY_TIMEOUT"

_DEFAULT_HEARTBEAT_S: Final = 15.0
_DEFAULT_BODY_TIMEOUT_S: Final = 10.0

_ROLES: Final = frozenset(
    {"developer", "system", "assistant", "user", "tool", "activity", "reasoning"}
)
_RESUME_STATUSES: Final = frozenset({"resolved", "cancelled"})


class RequestError(Exception):
    """A request the app refuses: HTTP status, a stable error code and a detail naming the field."""

    def __init__(self, status: int, error: str, detail: str, *, close: bool = False) -> None:
        super().__init__(f"{error}: {detail}")
        self.status = status
        self.error = error
        self.detail = detail
        #: Close the connection after the answer: the rest of the body was never read, and a
        #: client that keeps sending it slowly must not keep the socket.
        self.close = close

    def response(self) -> Response:
        body = orjson.dumps({"error": self.error, "detail": self.detail})
        headers = {"connection": "close"} if self.close else None
        return Response(
            body, status_code=self.status, headers=headers, media_type="application/json"
        )


@dataclass(frozen=True, slots=True)
class RunRequest:
    """What `POST /agent` needs from a valid `RunAgentInput`."""

    thread_id: str
    run_id: str
    workflow: str
    params: WorkflowParams


def create_app(
    *,
    workflows: Mapping[str, WorkflowFactory] = WORKFLOWS,
    max_body_bytes: int = 1_048_576,
    heartbeat: float = _DEFAULT_HEARTBEAT_S,
    body_timeout: float = _DEFAULT_BODY_TIMEOUT_S,
    strict: bool = False,
) -> Starlette:
    """Build the app. `workflows` maps `forwardedProps.workflow` names to agents.

    `body_timeout` is the total time allowed for reading a request body (a deadline, not an
    idle timeout, so a body trickling in byte by byte is cut off too): past it the request
    is answered 408 and the connection closed.
    """
    if max_body_bytes < 1:
        raise ValueError(f"max_body_bytes must be at least 1, got {max_body_bytes!r}")
    if not (heartbeat > 0 and math.isfinite(heartbeat)):
        raise ValueError(f"heartbeat must be a positive number of seconds, got {heartbeat!r}")
    if not (body_timeout > 0 and math.isfinite(body_timeout)):
        raise ValueError(f"body_timeout must be a positive number of seconds, got {body_timeout!r}")

    async def respond(request: Request) -> Response:
        try:
            body = await read_body(request, max_body_bytes, body_timeout)
            run = parse_run_request(body, workflows)
        except RequestError as exc:
            return exc.response()
        except ClientDisconnect:
            # Nobody is left to read an answer.
            return Response(status_code=400)
        agent = workflows[run.workflow](run.thread_id, run.run_id, run.params)
        return EventStreamResponse(agent, heartbeat=heartbeat, strict=strict)

    async def healthz(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    agent_endpoint = _RawEndpoint(respond)
    return _App(
        agent_endpoint,
        routes=[
            Route("/agent", agent_endpoint, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
    )


class _App(Starlette):
    """Starlette, with `POST /agent` handed straight to its endpoint.

    Through Starlette's stack a request passes its error middleware, its exception
    middleware (with its own handler wrapper), the router and the route: each a coroutine
    held for as long as the response streams, about 4 KiB per open stream in all. The agent
    endpoint needs none of them: it answers every error itself, and an exception it does not
    expect reaches the server, which answers 500 as Starlette's error middleware would.
    Anything else (other paths and methods, a `root_path`, added middleware that must see
    every request) goes through Starlette as usual, to the same endpoint.
    """

    def __init__(self, agent_endpoint: _RawEndpoint, *, routes: list[Route]) -> None:
        super().__init__(routes=routes)
        self._respond = agent_endpoint.respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == "/agent"
            and scope["method"] == "POST"
            and not scope.get("root_path")
            and not self.user_middleware
        ):
            scope["app"] = self
            # The endpoint's two lines, inlined: one coroutine fewer per open stream.
            response = await self._respond(Request(scope, receive, send))
            await response(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


class _RawEndpoint:
    """`POST /agent` as a plain ASGI app, so Starlette routes to it without its request wrapper.

    A function endpoint is wrapped by Starlette (`request_response`) in two more coroutines, a
    second exception-handling layer and a Request, all of them held for as long as the
    response streams (about 2 KiB per open stream) for handlers this endpoint does not use.
    Here the Request lives only while the body is read and checked.
    """

    __slots__ = ("respond",)

    def __init__(self, respond: Callable[[Request], Awaitable[Response]]) -> None:
        self.respond = respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.respond(Request(scope, receive, send))
        await response(scope, receive, send)


def app_from_env() -> Starlette:
    """`create_app` configured from the environment: the factory `agui-perf serve` runs.

    It also sets the serving process's garbage collector (`collector.tune_for_serving`):
    this runs once per worker process, after the imports, before the first request. With
    `stalls.STALLS_DIR_ENV` set, each worker also measures its collector pauses and loop lag
    while it serves (`stalls.StallMonitor`).
    """
    app = create_app(
        heartbeat=_seconds_from_env(HEARTBEAT_ENV, _DEFAULT_HEARTBEAT_S),
        body_timeout=_seconds_from_env(BODY_TIMEOUT_ENV, _DEFAULT_BODY_TIMEOUT_S),
    )
    folder = os.environ.get(STALLS_DIR_ENV)
    if folder:
        monitor = StallMonitor()
        # The app has no lifespan of its own: the monitor's is the whole of it.
        app.router.lifespan_context = lambda _app: monitor.running(Path(folder))
    tune_for_serving()
    return app


def _seconds_from_env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number of seconds") from None


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The request body, refused with 413 past `limit` bytes and with 408 past `timeout` s.

    Content-Length is checked first (cheap, before reading anything), and the streamed size
    too, because a chunked body has no Content-Length and a client may send more than it said.
    Both refusals close the connection: the unread rest of the body is not waited for.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(
            413,
            "body_too_large",
            f"Content-Length is {declared} bytes; the limit is {limit} bytes",
            close=True,
        )
    chunks: list[bytes] = []
    size = 0
    try:
        # asyncio.timeout rather than anyio.fail_after: cheaper, and the core is asyncio-only.
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise RequestError(
                        413,
                        "body_too_large",
                        f"body is over the limit of {limit} bytes",
                        close=True,
                    )
                chunks.append(chunk)
    except TimeoutError:
        raise RequestError(
            408,
            "body_timeout",
            f"the request body was not complete after {timeout:g} s ({size} bytes arrived); "
            f"send the whole body within {timeout:g} s of the headers",
            close=True,
        ) from None
    return b"".join(chunks)


def parse_run_request(body: bytes, workflows: Mapping[str, WorkflowFactory]) -> RunRequest:
    """Parse and check a `RunAgentInput` body; RequestError (400/422) names what is wrong."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(400, "malformed_json", f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RequestError(422, "invalid_field", "body: must be a JSON object (RunAgentInput)")
    check_run_agent_input(data)
    workflow, params = _select_workflow(data.get("forwardedProps"), workflows)
    return RunRequest(data["threadId"], data["runId"], workflow, params)


def check_run_agent_input(data: dict[str, Any]) -> None:
    """The RunAgentInput shape (ag_ui.core.RunAgentInput): required ids, lists of objects."""
    _require_str(data, "threadId", "threadId")
    _require_str(data, "runId", "runId")
    for key in ("parentRunId", "protocolVersion"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            _invalid(key, "must be a string")
    if "messages" not in data:
        _invalid("messages", "required (a list of messages)")
    messages = _list_of_objects(data["messages"], "messages", optional=False)
    for i, message in enumerate(messages):
        _require_str(message, "id", f"messages[{i}].id")
        role = message.get("role")
        if role not in _ROLES:
            _invalid(f"messages[{i}].role", f"must be one of {', '.join(sorted(_ROLES))}")
    for i, tool in enumerate(_list_of_objects(data.get("tools"), "tools")):
        _require_str(tool, "name", f"tools[{i}].name")
        _require_str(tool, "description", f"tools[{i}].description")
    for i, item in enumerate(_list_of_objects(data.get("context"), "context")):
        _require_str(item, "description", f"context[{i}].description")
        _require_str(item, "value", f"context[{i}].value")
    for i, entry in enumerate(_list_of_objects(data.get("resume"), "resume")):
        _require_str(entry, "interruptId", f"resume[{i}].interruptId")
        if entry.get("status") not in _RESUME_STATUSES:
            _invalid(f"resume[{i}].status", "must be 'resolved' or 'cancelled'")


def _select_workflow(
    forwarded: object, workflows: Mapping[str, WorkflowFactory]
) -> tuple[str, WorkflowParams]:
    """`forwardedProps: {"workflow": name, "params": {...}}`; anything else means the default.

    forwardedProps is any JSON value in the protocol, so a client that uses it for its own
    purposes (not an object, or an object without "workflow") still gets the default run.
    """
    if not isinstance(forwarded, dict):
        forwarded = {}
    name = forwarded.get("workflow", DEFAULT_WORKFLOW)
    if not isinstance(name, str) or name not in workflows:
        raise RequestError(
            422,
            "unknown_workflow",
            f"forwardedProps.workflow: {name!r} is not a workflow; "
            f"use one of: {', '.join(sorted(workflows))}",
        )
    raw_params = forwarded.get("params")
    if raw_params is None:
        return name, WorkflowParams()
    try:
        return name, WorkflowParams.from_mapping(raw_params)
    except ValueError as exc:
        raise RequestError(422, "invalid_params", f"forwardedProps.params: {exc}") from None


def _require_str(obj: dict[str, Any], key: str, path: str) -> None:
    value = obj.get(key)
    if value is None:
        _invalid(path, "required (a string)")
    if not isinstance(value, str):
        _invalid(path, "must be a string")


def _list_of_objects(value: object, path: str, *, optional: bool = True) -> list[dict[str, Any]]:
    if value is None and optional:
        return []
    if not isinstance(value, list):
        _invalid(path, "must be a list")
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            _invalid(f"{path}[{i}]", "must be an object")
    return value


def _invalid(path: str, problem: str) -> NoReturn:
    raise RequestError(422, "invalid_field", f"{path}: {problem}")
