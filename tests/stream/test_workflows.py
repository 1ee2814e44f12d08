"""Workflows: parameter validation, deterministic content, protocol shape, async pacing."""

from __future__ import annotations

import asyncio
import json
import math
from collections import Counter
from typing import TYPE_CHECKING, Any

import orjson
import pytest
from ag_ui.core import Event as SdkEvent
from pydantic import TypeAdapter

from agui_perf.stream.workflows import (
    DEFAULT_WORKFLOW,
    STEPS,
    WORKFLOWS,
    WorkflowParams,
    account_analysis,
    burst,
    iter_account_analysis,
    paced,
)

if TYPE_CHECKING:
    from agui_perf.stream.types import Agent, Event

SDK_EVENT: TypeAdapter[Any] = TypeAdapter(SdkEvent)


async def collect(agent: Agent) -> list[Event]:
    return [event async for event in agent]


def types_of(events: list[Event]) -> list[str]:
    return [e["type"] for e in events]


# --- parameters ------------------------------------------------------------------------


def test_defaults_match_the_contract() -> None:
    p = WorkflowParams()
    assert (p.text_chunks, p.chunk_size, p.tool_calls, p.state_deltas) == (40, 24, 3, 3)
    assert (p.token_delay, p.seed, p.events, p.rate_per_s, p.stamp) == (0.0, 0, 1000, 100.0, "off")


def test_from_mapping_reads_known_keys_and_none_means_defaults() -> None:
    assert WorkflowParams.from_mapping(None) == WorkflowParams()
    assert WorkflowParams.from_mapping({}) == WorkflowParams()
    params = WorkflowParams.from_mapping(
        {"text_chunks": 5, "token_delay": 0.5, "rate_per_s": 10, "stamp": "monotonic"}
    )
    assert params == WorkflowParams(
        text_chunks=5, token_delay=0.5, rate_per_s=10, stamp="monotonic"
    )


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([1, 2], r"workflow params must be a JSON object, got list"),
        ("x", r"workflow params must be a JSON object, got str"),
        ({"txt_chunks": 3}, r"unknown workflow parameter 'txt_chunks'; known: chunk_size, "),
        ({"text_chunks": 0}, r"text_chunks must be an integer in 1\.\.100000, got 0"),
        ({"text_chunks": "40"}, r"text_chunks must be an integer in 1\.\.100000, got '40'"),
        ({"text_chunks": 4.0}, r"text_chunks must be an integer in 1\.\.100000, got 4\.0"),
        ({"tool_calls": True}, r"tool_calls must be an integer in 0\.\.10000, got True"),
        ({"chunk_size": 5000}, r"chunk_size must be an integer in 1\.\.4096, got 5000"),
        ({"state_deltas": -1}, r"state_deltas must be an integer in 0\.\.10000, got -1"),
        ({"seed": -1}, r"seed must be an integer in 0\.\.18446744073709551615, got -1"),
        ({"events": 0}, r"events must be an integer in 1\.\.10000000, got 0"),
        ({"token_delay": -0.1}, r"token_delay must be a number in 0\.0\.\.60\.0, got -0\.1"),
        ({"token_delay": math.nan}, r"token_delay must be a number in 0\.0\.\.60\.0, got nan"),
        ({"rate_per_s": 0}, r"rate_per_s must be a number in 0\.001\.\.1000000\.0, got 0"),
        ({"rate_per_s": False}, r"rate_per_s must be a number in .*, got False"),
        ({"stamp": "wall"}, r"stamp must be one of off, timestamp, monotonic; got 'wall'"),
    ],
)
def test_from_mapping_rejects_bad_input_naming_key_and_range(obj: object, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}"):
        WorkflowParams.from_mapping(obj)


def test_constructor_validates_too() -> None:
    with pytest.raises(ValueError, match=r"^chunk_size must be an integer in 1\.\.4096, got 0$"):
        WorkflowParams(chunk_size=0)


def test_registry() -> None:
    assert set(WORKFLOWS) == {"account_analysis", "burst", "paced"}
    assert DEFAULT_WORKFLOW in WORKFLOWS
    assert WORKFLOWS["account_analysis"] is account_analysis


# --- account analysis (pure) -----------------------------------------------------------


def test_account_analysis_shape_with_defaults() -> None:
    events = list(iter_account_analysis("t-1", "r-1", WorkflowParams()))
    types = types_of(events)
    assert types[:2] == ["RUN_STARTED", "STATE_SNAPSHOT"]
    assert types[-1] == "RUN_FINISHED"
    assert events[0] == {"type": "RUN_STARTED", "threadId": "t-1", "runId": "r-1"}
    steps = [e["stepName"] for e in events if e["type"] == "STEP_STARTED"]
    assert steps == [name for name, _ in STEPS]
    counts = Counter(types)
    assert counts["TOOL_CALL_START"] == counts["TOOL_CALL_END"] == counts["TOOL_CALL_RESULT"] == 3
    assert counts["STATE_DELTA"] == 3
    assert counts["TEXT_MESSAGE_CONTENT"] == 40
    # Each step has exactly one tool call and one delta at the defaults.
    for step, tool in STEPS:
        start = events.index({"type": "STEP_STARTED", "stepName": step})
        end = events.index({"type": "STEP_FINISHED", "stepName": step})
        inner = events[start:end]
        assert [e["toolCallName"] for e in inner if e["type"] == "TOOL_CALL_START"] == [tool]
        assert types_of(inner).count("STATE_DELTA") == 1
        assert types_of(inner).count("TOOL_CALL_ARGS") > 1


@pytest.mark.parametrize(("calls", "deltas"), [(0, 0), (1, 7), (10, 2), (31, 31)])
def test_tool_calls_and_state_deltas_scale_the_work(calls: int, deltas: int) -> None:
    params = WorkflowParams(tool_calls=calls, state_deltas=deltas)
    counts = Counter(types_of(list(iter_account_analysis("t", "r", params))))
    assert counts["TOOL_CALL_START"] == counts["TOOL_CALL_RESULT"] == calls
    assert counts["STATE_DELTA"] == deltas
    assert counts["STEP_STARTED"] == counts["STEP_FINISHED"] == 3


@pytest.mark.parametrize(("chunks", "size"), [(1, 1), (40, 24), (7, 300)])
def test_text_is_streamed_in_chunks_of_chunk_size(chunks: int, size: int) -> None:
    params = WorkflowParams(text_chunks=chunks, chunk_size=size)
    events = list(iter_account_analysis("t", "r", params))
    deltas = [e["delta"] for e in events if e["type"] == "TEXT_MESSAGE_CONTENT"]
    assert len(deltas) == chunks
    assert {len(d) for d in deltas} == {size}


def test_tool_arguments_reassemble_into_json_and_results_are_json() -> None:
    events = list(iter_account_analysis("t", "r", WorkflowParams(tool_calls=6)))
    args: dict[str, str] = {}
    for event in events:
        if event["type"] == "TOOL_CALL_ARGS":
            args[event["toolCallId"]] = args.get(event["toolCallId"], "") + event["delta"]
        elif event["type"] == "TOOL_CALL_RESULT":
            assert json.loads(event["content"])["ok"] is True
    assert len(args) == 6
    assert all(isinstance(json.loads(a)["accountId"], str) for a in args.values())


def test_state_deltas_apply_to_the_snapshot() -> None:
    events = list(iter_account_analysis("t", "r", WorkflowParams(state_deltas=5)))
    state = next(e["snapshot"] for e in events if e["type"] == "STATE_SNAPSHOT")
    for event in (e for e in events if e["type"] == "STATE_DELTA"):
        for op in event["delta"]:
            # Only the two operations the workflow uses; a stray path fails loudly.
            if op["op"] == "add" and op["path"] == "/findings/-":
                state["findings"].append(op["value"])
            else:
                assert (op["op"], op["path"]) == ("replace", "/progress")
                assert "progress" in state
                state["progress"] = op["value"]
    assert len(state["findings"]) == 5
    assert state["progress"] == 1.0


@pytest.mark.parametrize("seed", [0, 1, 2**64 - 1])
def test_same_params_same_bytes_and_seed_changes_content(seed: int) -> None:
    params = WorkflowParams(seed=seed)
    first = [orjson.dumps(e) for e in iter_account_analysis("t", "r", params)]
    again = [orjson.dumps(e) for e in iter_account_analysis("t", "r", params)]
    other = [
        orjson.dumps(e) for e in iter_account_analysis("t", "r", WorkflowParams(seed=seed ^ 1))
    ]
    assert first == again
    assert first != other


def test_no_empty_delta_and_every_event_is_a_valid_sdk_event() -> None:
    params = WorkflowParams(tool_calls=9, state_deltas=9, text_chunks=50, chunk_size=1)
    for event in iter_account_analysis("t", "r", params):
        if "delta" in event:
            assert event["delta"]  # neither "" nor []
        model = SDK_EVENT.validate_python(event)
        assert model.model_dump_json(by_alias=True).encode() == orjson.dumps(event)


# --- async agents ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_account_analysis_agent_yields_the_pure_events_when_unstamped() -> None:
    params = WorkflowParams(seed=3, token_delay=0.0001, text_chunks=5)
    events = await collect(account_analysis("t", "r", params))
    assert events == list(iter_account_analysis("t", "r", params))


@pytest.mark.anyio
async def test_timestamp_stamp_sets_the_protocol_field_in_sdk_position() -> None:
    events = await collect(account_analysis("t", "r", WorkflowParams(stamp="timestamp")))
    pure = list(iter_account_analysis("t", "r", WorkflowParams()))
    assert len(events) == len(pure)
    for stamped, plain in zip(events, pure, strict=True):
        assert list(stamped)[:2] == ["type", "timestamp"]
        assert isinstance(stamped["timestamp"], int)
        assert stamped["timestamp"] > 1_600_000_000_000  # ms since the epoch, not s or ns
        assert {k: v for k, v in stamped.items() if k != "timestamp"} == plain
    assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)


@pytest.mark.parametrize("workflow", sorted(WORKFLOWS))
@pytest.mark.anyio
async def test_monotonic_stamp_puts_monotonic_ns_in_metadata(workflow: str) -> None:
    params = WorkflowParams(stamp="monotonic", events=10, text_chunks=3, rate_per_s=1e6)
    events = await collect(WORKFLOWS[workflow]("t", "r", params))
    stamps = [e["metadata"]["monotonicNs"] for e in events]
    assert stamps == sorted(stamps)
    assert all(list(e)[:2] == ["type", "metadata"] for e in events)
    assert all(SDK_EVENT.validate_python(e).metadata == e["metadata"] for e in events)


@pytest.mark.anyio
async def test_burst_streams_events_small_contents_inside_one_run() -> None:
    events = await collect(burst("t", "r", WorkflowParams(events=300)))
    assert types_of(events) == [
        "RUN_STARTED",
        "TEXT_MESSAGE_START",
        *["TEXT_MESSAGE_CONTENT"] * 300,
        "TEXT_MESSAGE_END",
        "RUN_FINISHED",
    ]
    assert all(e["delta"] for e in events if e["type"] == "TEXT_MESSAGE_CONTENT")
    again = await collect(burst("t", "r", WorkflowParams(events=300)))
    assert again == events


@pytest.mark.anyio
async def test_burst_lets_other_tasks_run() -> None:
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = ticks
    await collect(burst("t", "r", WorkflowParams(events=10_000)))
    during = ticks - before
    done.set()
    await asyncio.wait_for(task, timeout=30)
    # One cooperative yield per 64 events: the ticker ran well over a hundred times.
    assert during >= 100


@pytest.mark.anyio
async def test_paced_streams_text_chunks() -> None:
    params = WorkflowParams(text_chunks=12, chunk_size=5, rate_per_s=1e6, seed=4)
    events = await collect(paced("t", "r", params))
    assert types_of(events) == [
        "RUN_STARTED",
        "TEXT_MESSAGE_START",
        *["TEXT_MESSAGE_CONTENT"] * 12,
        "TEXT_MESSAGE_END",
        "RUN_FINISHED",
    ]
    assert {len(e["delta"]) for e in events if e["type"] == "TEXT_MESSAGE_CONTENT"} == {5}
    assert await collect(paced("t", "r", params)) == events
