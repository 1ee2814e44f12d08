"""The event builders produce the official SDK's JSON, key for key and byte for byte."""

from __future__ import annotations

import inspect
from typing import Any

import orjson
import pytest
from ag_ui.core import events as sdk

from agui_perf.stream import events as ev
from agui_perf.stream.events import BUILDERS, EVENT_TYPES, with_common

COMMON = ("timestamp", "raw_event", "metadata", "subagent_run_id")

RUN_INPUT: dict[str, Any] = {
    "threadId": "t-1",
    "runId": "r-1",
    "state": {"account": "acme"},
    "messages": [{"id": "u-1", "role": "user", "content": "Analyse account acme"}],
    "forwardedProps": {"workflow": "account_analysis"},
}
MESSAGES: list[dict[str, Any]] = [
    {"id": "u-1", "role": "user", "content": "hi"},
    {
        "id": "a-1",
        "role": "assistant",
        "content": "calling",
        "toolCalls": [
            {"id": "tc-1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        ],
    },
    {"id": "t-1", "role": "tool", "content": "42", "toolCallId": "tc-1"},
]
PATCH: list[dict[str, Any]] = [
    {"op": "add", "path": "/items/-", "value": {"n": 1}},
    {"op": "replace", "path": "/status", "value": "ok"},
    {"op": "remove", "path": "/draft"},
    {"op": "move", "from": "/a", "path": "/b"},
    {"op": "copy", "from": "/b", "path": "/c"},
    {"op": "test", "path": "/c", "value": None},
]
USAGE: list[dict[str, Any]] = [
    {"provider": "openai", "model": "m", "inputTokens": 3, "outputTokens": 4, "totalTokens": 7}
]

#: One call per event type with every parameter given: (positional args, keyword args).
#: Shared with test_encoder, which checks the encoded bytes of the same events.
FULL: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {
    "TEXT_MESSAGE_START": (("m-1",), {"role": "assistant", "name": "analyst"}),
    "TEXT_MESSAGE_CONTENT": (("m-1", "Héllo 😀\nline\u2028sep\u2029"), {}),
    "TEXT_MESSAGE_END": (("m-1",), {}),
    "TEXT_MESSAGE_CHUNK": (
        (),
        {"message_id": "m-1", "role": "assistant", "delta": "chunk", "name": "analyst"},
    ),
    "TOOL_CALL_START": (("tc-1", "fetch_account"), {"parent_message_id": "m-1"}),
    "TOOL_CALL_ARGS": (("tc-1", '{"account": "acme"'), {}),
    "TOOL_CALL_END": (("tc-1",), {}),
    "TOOL_CALL_CHUNK": (
        (),
        {
            "tool_call_id": "tc-1",
            "tool_call_name": "fetch_account",
            "parent_message_id": "m-1",
            "delta": "{}",
        },
    ),
    "TOOL_CALL_RESULT": (("m-2", "tc-1", [{"type": "text", "text": "ok"}]), {"role": "tool"}),
    "STATE_SNAPSHOT": (({"account": {"id": "acme", "scores": [1, 2.5, 2**53]}},), {}),
    "STATE_DELTA": ((PATCH,), {}),
    "MESSAGES_SNAPSHOT": ((MESSAGES,), {}),
    "ACTIVITY_SNAPSHOT": (("m-3", "progress", {"done": 1, "of": 3}), {"replace": False}),
    "ACTIVITY_DELTA": (("m-3", "progress", PATCH[:2]), {}),
    "RAW": (({"provider": "x", "payload": [None, True]},), {"source": "openai"}),
    "CUSTOM": (("mark", None), {}),
    "RUN_STARTED": (
        ("t-1", "r-1"),
        {"protocol_version": "1.0", "parent_run_id": "r-0", "input": RUN_INPUT},
    ),
    "RUN_FINISHED": (
        ("t-1", "r-1"),
        {
            "result": {"answer": 42},
            "outcome": {"type": "interrupt", "interrupts": [{"id": "i-1", "reason": "approve"}]},
            "usage": USAGE,
        },
    ),
    "RUN_ERROR": (("boom",), {"code": "E_TIMEOUT", "usage": USAGE}),
    "STEP_STARTED": (("fetch_account",), {}),
    "STEP_FINISHED": (("fetch_account",), {}),
    "REASONING_START": (("rs-1",), {}),
    "REASONING_MESSAGE_START": (("rm-1",), {}),
    "REASONING_MESSAGE_CONTENT": (("rm-1", "thinking…"), {}),
    "REASONING_MESSAGE_END": (("rm-1",), {}),
    "REASONING_MESSAGE_CHUNK": ((), {"message_id": "rm-1", "delta": "more"}),
    "REASONING_END": (("rs-1",), {}),
    "REASONING_ENCRYPTED_VALUE": (("message", "rm-1", "b64=="), {}),
    "SUBAGENT_STARTED": (
        ("sub-1", "researcher"),
        {
            "description": "looks things up",
            "parent_subagent_run_id": "sub-0",
            "parent_tool_call_id": "tc-1",
            "parent_message_id": "m-1",
        },
    ),
    "SUBAGENT_FINISHED": (
        ("sub-1",),
        {"result": [1, 2], "outcome": {"type": "suspended", "interruptIds": ["i-1"]}},
    ),
    "SUBAGENT_ERROR": (("sub-1", "failed"), {"code": "E_SUB"}),
}


def sdk_model_class(event_type: str) -> type[sdk.BaseEvent]:
    """The SDK's pydantic class for an event type (TEXT_MESSAGE_START -> TextMessageStartEvent)."""
    name = "".join(word.capitalize() for word in event_type.split("_")) + "Event"
    cls: type[sdk.BaseEvent] = getattr(sdk, name)
    return cls


def common_kwargs(event_type: str) -> dict[str, Any]:
    """Values for every common field the event type accepts."""
    params = {
        p.name
        for p in inspect.signature(BUILDERS[event_type]).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    values: dict[str, Any] = {
        "timestamp": 1_700_000_000_000,
        "raw_event": {"provider": "x", "n": [1, 2]},
        "metadata": {"trace": "t-1", "monotonicNs": 123},
        "subagent_run_id": "sub-9",
    }
    return {k: v for k, v in values.items() if k in params}


def sdk_json(event_type: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    """Build the SDK model from snake_case names (independently of our dict) and dump it."""
    params = list(inspect.signature(BUILDERS[event_type]).parameters)
    named = dict(zip(params, args, strict=False)) | kwargs
    return sdk_model_class(event_type)(**named).model_dump_json(by_alias=True).encode()


def test_every_sdk_event_type_has_a_builder() -> None:
    assert tuple(t.value for t in sdk.EventType) == EVENT_TYPES
    assert set(FULL) == set(EVENT_TYPES)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_builder_name_is_the_snake_case_of_the_type(event_type: str) -> None:
    assert getattr(ev, event_type.lower()) is BUILDERS[event_type]
    assert event_type.lower() in ev.__all__


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_signature_mirrors_the_sdk(event_type: str) -> None:
    fields = sdk_model_class(event_type).model_fields
    params = inspect.signature(BUILDERS[event_type]).parameters.values()
    positional = [p.name for p in params if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    keyword = {p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}
    required = [name for name, field in fields.items() if field.is_required()]
    optional = {name for name, f in fields.items() if not f.is_required()} - {"type"}
    # REASONING_MESSAGE_START.role has the one value "reasoning", always written.
    optional -= {"role"} if event_type == "REASONING_MESSAGE_START" else set()
    assert positional == required
    assert keyword == optional


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_full_event_matches_sdk_bytes(event_type: str) -> None:
    args, kwargs = FULL[event_type]
    assert orjson.dumps(BUILDERS[event_type](*args, **kwargs)) == sdk_json(event_type, args, kwargs)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_common_fields_land_where_the_sdk_puts_them(event_type: str) -> None:
    args, kwargs = FULL[event_type]
    kwargs = kwargs | common_kwargs(event_type)
    event = BUILDERS[event_type](*args, **kwargs)
    assert orjson.dumps(event) == sdk_json(event_type, args, kwargs)
    assert next(iter(event)) == "type"


@pytest.mark.parametrize("event_type", EVENT_TYPES)
@pytest.mark.parametrize("field", COMMON)
def test_each_common_field_alone_matches_sdk(event_type: str, field: str) -> None:
    # Exercises the fast path (no common field) giving way to the slow one for each field.
    args, kwargs = FULL[event_type]
    extra = {k: v for k, v in common_kwargs(event_type).items() if k == field}
    kwargs = kwargs | extra
    assert orjson.dumps(BUILDERS[event_type](*args, **kwargs)) == sdk_json(event_type, args, kwargs)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_minimal_event_leaves_absent_optionals_out(event_type: str) -> None:
    args, _ = FULL[event_type]
    event = BUILDERS[event_type](*args)
    cls = sdk_model_class(event_type)
    # Round trip through the SDK: it accepts our keys and writes the same bytes back.
    assert cls.model_validate(event).model_dump_json(by_alias=True).encode() == orjson.dumps(event)
    # Only required fields (and the roles with defaults) are present: no key with None.
    # CUSTOM.value is required, so its None is data and stays.
    allowed = {"type", "role"} | {
        f.alias or name for name, f in cls.model_fields.items() if f.is_required()
    }
    assert set(event) <= allowed
    assert all(v is not None for k, v in event.items() if k != "value")


def test_text_message_start_role_defaults_to_assistant_and_can_be_left_out() -> None:
    assert ev.text_message_start("m") == {
        "type": "TEXT_MESSAGE_START",
        "messageId": "m",
        "role": "assistant",
    }
    assert ev.text_message_start("m", role=None) == {"type": "TEXT_MESSAGE_START", "messageId": "m"}


def test_custom_keeps_a_none_value_because_the_sdk_requires_it() -> None:
    assert orjson.dumps(ev.custom("x", None)) == b'{"type":"CUSTOM","name":"x","value":null}'


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_with_common_places_fields_like_the_builder(event_type: str) -> None:
    args, kwargs = FULL[event_type]
    common = common_kwargs(event_type)
    common.pop("subagent_run_id", None)
    stamped = with_common(BUILDERS[event_type](*args, **kwargs), **common)
    assert orjson.dumps(stamped) == orjson.dumps(BUILDERS[event_type](*args, **kwargs | common))


def test_with_common_replaces_existing_values_in_place() -> None:
    original = ev.step_started("s", timestamp=1, metadata={"a": 1}, subagent_run_id="sub")
    stamped = with_common(original, timestamp=2, raw_event="r")
    assert list(stamped.items()) == [
        ("type", "STEP_STARTED"),
        ("timestamp", 2),
        ("rawEvent", "r"),
        ("metadata", {"a": 1}),
        ("subagentRunId", "sub"),
        ("stepName", "s"),
    ]
    assert original["timestamp"] == 1  # a copy, the input is untouched


def test_with_common_without_values_is_an_equal_copy() -> None:
    original = ev.text_message_content("m", "d", timestamp=5)
    copy = with_common(original)
    assert copy == original
    assert copy is not original
    assert list(copy) == list(original)
