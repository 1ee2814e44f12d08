"""The app over real HTTP: uvicorn on a loopback port (tests/_support/server.py), httpx client."""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
import threading
from typing import TYPE_CHECKING, Any

import httpx
import orjson
import pytest
from httpx_sse import EventSource

from agui_perf.stream import events as ev
from agui_perf.stream.app import (
    BODY_TIMEOUT_ENV,
    HEARTBEAT_ENV,
    app_from_env,
    create_app,
    parse_run_request,
)
from agui_perf.stream.collector import SERVING_THRESHOLDS
from agui_perf.stream.encoder import HEARTBEAT, encode_many
from agui_perf.stream.response import AGENT_ERROR
from agui_perf.stream.workflows import (
    DEFAULT_WORKFLOW,
    WORKFLOWS,
    WorkflowParams,
    iter_account_analysis,
)
from tests._support.server import running_server, subprocess_env

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from starlette.applications import Starlette
    from starlette.types import ASGIApp, Receive, Scope, Send

    from agui_perf.stream.types import Event

#: Generous: only reached when something is broken.
TIMEOUT = 30.0
RUN_INPUT: dict[str, Any] = {"threadId": "thread-1", "runId": "run-1", "messages": []}


def frames(response: httpx.Response) -> list[Event]:
    """The events of an SSE response (heartbeat comments are not events)."""
    return [orjson.loads(sse.data) for sse in EventSource(response).iter_sse()]


def run_input(**fields: Any) -> dict[str, Any]:
    return {**RUN_INPUT, **fields}


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with running_server(create_app(max_body_bytes=4096)) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=TIMEOUT) as client:
        yield client


# --- streaming -----------------------------------------------------------------------


def test_streams_the_workflows_frames_in_order_with_sse_headers(client: httpx.Client) -> None:
    params = {"tool_calls": 4, "text_chunks": 7}
    forwarded = {"workflow": "account_analysis", "params": params}
    response = client.post("/agent", json=run_input(forwardedProps=forwarded))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    expected = iter_account_analysis("thread-1", "run-1", WorkflowParams.from_mapping(params))
    assert response.content == encode_many(expected)


def test_default_workflow_when_forwarded_props_say_nothing(client: httpx.Client) -> None:
    response = client.post("/agent", json=run_input(forwardedProps="client-specific"))
    expected = iter_account_analysis("thread-1", "run-1", WorkflowParams())
    assert response.content == encode_many(expected)


def test_burst_workflow_streams_every_event(client: httpx.Client) -> None:
    body = run_input(forwardedProps={"workflow": "burst", "params": {"events": 5000}})
    received = frames(client.post("/agent", json=body))
    assert len(received) == 5000 + 4
    assert [e["type"] for e in received[:2]] == ["RUN_STARTED", "TEXT_MESSAGE_START"]
    assert [e["type"] for e in received[-2:]] == ["TEXT_MESSAGE_END", "RUN_FINISHED"]


def test_heartbeat_while_a_slow_agent_is_idle() -> None:
    seen_ping = threading.Event()

    async def slow(thread_id: str, run_id: str, params: WorkflowParams) -> AsyncIterator[Event]:
        yield ev.run_started(thread_id, run_id)
        # Idle until the client has seen a ping (bounded: 3000 x 10 ms).
        for _ in range(3000):
            if seen_ping.is_set():
                break
            await asyncio.sleep(0.01)
        yield ev.run_finished(thread_id, run_id)

    app = create_app(workflows={DEFAULT_WORKFLOW: slow}, heartbeat=0.05)
    with (
        running_server(app) as url,
        httpx.Client(base_url=url, timeout=TIMEOUT) as client,
        client.stream("POST", "/agent", json=RUN_INPUT) as response,
    ):
        received = b""
        for chunk in response.iter_raw():
            received += chunk
            if HEARTBEAT in received:
                seen_ping.set()
    assert seen_ping.is_set()
    assert received.startswith(encode_many([ev.run_started("thread-1", "run-1")]))
    assert received.endswith(encode_many([ev.run_finished("thread-1", "run-1")]))
    # Nothing but heartbeats between the two frames.
    assert received.replace(HEARTBEAT, b"") == encode_many(
        [ev.run_started("thread-1", "run-1"), ev.run_finished("thread-1", "run-1")]
    )


def test_client_disconnect_mid_stream_cancels_the_agent() -> None:
    cancelled = threading.Event()
    closed = threading.Event()

    async def forever(thread_id: str, run_id: str, params: WorkflowParams) -> AsyncIterator[Event]:
        try:
            yield ev.run_started(thread_id, run_id)
            await asyncio.Event().wait()
            yield ev.run_finished(thread_id, run_id)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        finally:
            closed.set()

    app = create_app(workflows={DEFAULT_WORKFLOW: forever})
    with running_server(app) as url, httpx.Client(base_url=url, timeout=TIMEOUT) as client:
        with client.stream("POST", "/agent", json=RUN_INPUT) as response:
            first = next(EventSource(response).iter_sse())
            assert orjson.loads(first.data) == ev.run_started("thread-1", "run-1")
        # Leaving the block closes the half-read response, i.e. the connection.
        assert closed.wait(TIMEOUT)
        assert cancelled.is_set()


def test_agent_exception_becomes_a_run_error_frame() -> None:
    async def failing(thread_id: str, run_id: str, params: WorkflowParams) -> AsyncIterator[Event]:
        yield ev.run_started(thread_id, run_id)
        raise ConnectionError("model backend unreachable")

    app = create_app(workflows={DEFAULT_WORKFLOW: failing})
    with running_server(app) as url, httpx.Client(base_url=url, timeout=TIMEOUT) as client:
        response = client.post("/agent", json=RUN_INPUT)
    assert response.status_code == 200
    assert frames(response) == [
        ev.run_started("thread-1", "run-1"),
        ev.run_error("model backend unreachable", code=AGENT_ERROR),
    ]


# --- refused requests ----------------------------------------------------------------


def test_healthz(client: httpx.Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_malformed_json_is_400_naming_the_problem(client: httpx.Client) -> None:
    response = client.post("/agent", content=b'{"threadId": ', headers=_JSON)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == "malformed_json"
    assert "not valid JSON" in response.json()["detail"]


_JSON = {"content-type": "application/json"}
_BIG = "x" * 5000


@pytest.mark.parametrize(
    ("body", "error", "detail"),
    [
        ([], "invalid_field", "body: must be a JSON object"),
        ({"runId": "r", "messages": []}, "invalid_field", "threadId: required"),
        (
            {"threadId": 7, "runId": "r", "messages": []},
            "invalid_field",
            "threadId: must be a string",
        ),
        ({"threadId": "t", "messages": []}, "invalid_field", "runId: required"),
        ({"threadId": "t", "runId": "r"}, "invalid_field", "messages: required"),
        (run_input(messages={}), "invalid_field", "messages: must be a list"),
        (run_input(messages=["hi"]), "invalid_field", "messages[0]: must be an object"),
        (run_input(messages=[{"role": "user"}]), "invalid_field", "messages[0].id: required"),
        (
            run_input(messages=[{"id": "m", "role": "robot"}]),
            "invalid_field",
            "messages[0].role: must be one of",
        ),
        (run_input(parentRunId=1), "invalid_field", "parentRunId: must be a string"),
        (run_input(tools=[{"name": "x"}]), "invalid_field", "tools[0].description: required"),
        (run_input(context=[{"description": "d"}]), "invalid_field", "context[0].value: required"),
        (
            run_input(resume=[{"interruptId": "i", "status": "maybe"}]),
            "invalid_field",
            "resume[0].status: must be 'resolved' or 'cancelled'",
        ),
        (
            run_input(forwardedProps={"workflow": "nope"}),
            "unknown_workflow",
            "forwardedProps.workflow: 'nope' is not a workflow; use one of: account_analysis",
        ),
        (
            run_input(forwardedProps={"workflow": "burst", "params": {"events": -1}}),
            "invalid_params",
            "forwardedProps.params: events must be",
        ),
        (
            run_input(forwardedProps={"params": {"speed": 9}}),
            "invalid_params",
            "forwardedProps.params: unknown workflow parameter 'speed'",
        ),
    ],
)
def test_invalid_input_is_422_naming_the_field(
    client: httpx.Client, body: object, error: str, detail: str
) -> None:
    response = client.post("/agent", json=body)
    assert response.status_code == 422
    assert response.json()["error"] == error
    assert response.json()["detail"].startswith(detail)


def test_body_over_the_limit_by_content_length_is_413(client: httpx.Client) -> None:
    response = client.post("/agent", json=run_input(state={"blob": _BIG}))
    assert response.status_code == 413
    assert response.headers["connection"] == "close"  # The unread body is not waited for.
    assert response.json() == {
        "error": "body_too_large",
        "detail": f"Content-Length is {len(response.request.content)} bytes; "
        "the limit is 4096 bytes",
    }


def test_chunked_body_over_the_limit_is_413(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"threadId": "t", "runId": "r", "messages": [], "state": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    response = client.post("/agent", content=chunks(), headers=_JSON)
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.headers["connection"] == "close"
    assert response.json() == {
        "error": "body_too_large",
        "detail": "body is over the limit of 4096 bytes",
    }


def test_get_on_agent_is_405(client: httpx.Client) -> None:
    assert client.get("/agent").status_code == 405


# --- the route to /agent ----------------------------------------------------------------


async def _post_in_process(app: Starlette, *, root_path: str = "") -> httpx.Response:
    transport = httpx.ASGITransport(app=app, root_path=root_path)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        return await client.post(f"{root_path}/agent", json=RUN_INPUT)


def test_added_middleware_sees_agent_requests() -> None:
    # The app hands POST /agent straight to its endpoint, past Starlette's stack; with
    # middleware added, requests must go through the stack again, or it would be skipped.
    seen: list[str] = []

    class Spy:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            seen.append(scope["path"])
            await self.app(scope, receive, send)

    app = create_app()
    app.add_middleware(Spy)
    response = asyncio.run(_post_in_process(app))
    assert response.status_code == 200
    assert response.content == encode_many(
        iter_account_analysis("thread-1", "run-1", WorkflowParams())
    )
    assert seen == ["/agent"]


def test_agent_route_under_a_root_path() -> None:
    response = asyncio.run(_post_in_process(create_app(), root_path="/api"))
    assert response.status_code == 200
    assert response.content == encode_many(
        iter_account_analysis("thread-1", "run-1", WorkflowParams())
    )


# --- parsing and construction without HTTP ---------------------------------------------


def test_parse_accepts_the_full_run_agent_input() -> None:
    body = run_input(
        parentRunId="run-0",
        protocolVersion="1.0",
        state={"k": [1, None]},
        messages=[
            {"id": "m1", "role": "user", "content": "hello"},
            {"id": "m2", "role": "assistant", "content": "hi"},
            {"id": "m3", "role": "tool", "content": "{}", "toolCallId": "c1"},
        ],
        tools=[{"name": "search", "description": "web search", "parameters": {}}],
        context=[{"description": "tz", "value": "UTC"}],
        resume=[{"interruptId": "i1", "status": "resolved", "payload": 1}],
        forwardedProps={"workflow": "paced", "params": {"rate_per_s": 50, "text_chunks": 3}},
    )
    run = parse_run_request(orjson.dumps(body), WORKFLOWS)
    assert (run.thread_id, run.run_id, run.workflow) == ("thread-1", "run-1", "paced")
    assert run.params == WorkflowParams(rate_per_s=50, text_chunks=3)


def test_parse_accepts_what_the_sdk_sends() -> None:
    from ag_ui.core import RunAgentInput, UserMessage

    sdk_input = RunAgentInput(
        thread_id="t",
        run_id="r",
        messages=[UserMessage(id="m", content="hi")],
        tools=[],
        context=[],
        state={},
        forwarded_props={"workflow": "burst"},
    )
    run = parse_run_request(sdk_input.model_dump_json(by_alias=True).encode(), WORKFLOWS)
    assert (run.thread_id, run.run_id, run.workflow) == ("t", "r", "burst")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_body_bytes": 0},
        {"heartbeat": 0.0},
        {"body_timeout": 0.0},
        {"body_timeout": -1.0},
        {"body_timeout": math.inf},
    ],
)
def test_create_app_refuses_bad_settings(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        create_app(**kwargs)


@pytest.mark.parametrize("name", [HEARTBEAT_ENV, BODY_TIMEOUT_ENV])
def test_app_from_env_refuses_a_bad_number(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "soon")
    with pytest.raises(ValueError, match=f"{name}='soon' is not a number of seconds"):
        app_from_env()


def test_app_from_env_refuses_a_body_timeout_that_is_not_positive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(BODY_TIMEOUT_ENV, "0")
    with pytest.raises(ValueError, match="body_timeout must be a positive number of seconds"):
        app_from_env()


def test_the_serving_factory_freezes_start_up_and_raises_the_gc_thresholds() -> None:
    # In a child process: freezing and the thresholds are process-wide, and this one is
    # pytest's.
    probe = (
        "import gc, json\n"
        "from agui_perf.stream.app import app_from_env\n"
        "before = gc.get_threshold()\n"
        "app_from_env()\n"
        "print(json.dumps([before, gc.get_threshold(), gc.get_freeze_count()]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    )
    before, after, frozen = orjson.loads(done.stdout)
    assert before == [700, 10, 10]
    assert tuple(after) == SERVING_THRESHOLDS
    # Everything imported by then (Starlette, orjson, the app's modules): thousands.
    assert frozen > 5_000
