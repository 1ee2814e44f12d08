"""One call of every AG-UI event builder with every parameter given, and the SDK's side of it."""

from __future__ import annotations

import inspect
from typing import Any

from ag_ui.core import events as sdk

from agui_perf.stream.events import BUILDERS

__all__ = [
    "FULL",
    "PATCH",
    "RUN_INPUT",
    "USAGE",
    "common_kwargs",
    "sdk_model_class",
]


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
#: Used by test_events, and by test_encoder, which checks the encoded bytes of the same events.
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
