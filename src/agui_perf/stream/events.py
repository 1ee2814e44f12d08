"""Builders for every AG-UI 1.0 event, as plain dicts in the official SDK's key order.

Each builder returns exactly what ``ag_ui``'s ``model_dump_json(by_alias=True)`` would
emit for the same values, once passed through orjson: ``type`` first, then the common
fields ``timestamp``, ``rawEvent``, ``metadata`` and (where the SDK has it)
``subagentRunId``, then the event's own fields in declaration order. Optional fields
that are ``None`` are left out, never written as ``null``: the TypeScript client treats
``null`` as a present, wrongly-typed value.

These builders are on the hot path of every stream, so they do no validation and take
the common-field-free case through a single dict literal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agui_perf.stream.types import Event

__all__ = [
    "BUILDERS",
    "EVENT_TYPES",
    "activity_delta",
    "activity_snapshot",
    "custom",
    "messages_snapshot",
    "raw",
    "reasoning_encrypted_value",
    "reasoning_end",
    "reasoning_message_chunk",
    "reasoning_message_content",
    "reasoning_message_end",
    "reasoning_message_start",
    "reasoning_start",
    "run_error",
    "run_finished",
    "run_started",
    "state_delta",
    "state_snapshot",
    "step_finished",
    "step_started",
    "subagent_error",
    "subagent_finished",
    "subagent_started",
    "text_message_chunk",
    "text_message_content",
    "text_message_end",
    "text_message_start",
    "tool_call_args",
    "tool_call_chunk",
    "tool_call_end",
    "tool_call_result",
    "tool_call_start",
    "with_common",
]

Metadata = Mapping[str, Any]


def _head(
    type_: str,
    timestamp: int | None,
    raw_event: Any,
    metadata: Metadata | None,
    subagent_run_id: str | None,
) -> Event:
    # Slow path, taken only when a common field is set: the SDK puts them between
    # ``type`` and the event's own fields, in this order.
    event: Event = {"type": type_}
    if timestamp is not None:
        event["timestamp"] = timestamp
    if raw_event is not None:
        event["rawEvent"] = raw_event
    if metadata is not None:
        event["metadata"] = metadata
    if subagent_run_id is not None:
        event["subagentRunId"] = subagent_run_id
    return event


def with_common(
    event: Event,
    *,
    timestamp: int | None = None,
    raw_event: Any = None,
    metadata: Metadata | None = None,
) -> Event:
    """Return a copy of ``event`` with the given common fields set (replacing old values).

    Appending ``event["timestamp"] = …`` would put the key last and change the bytes
    relative to the SDK, whose order is ``type, timestamp, rawEvent, metadata``; this
    places each key where the SDK would.
    """
    head: Event = {"type": event["type"]}
    if timestamp is not None or "timestamp" in event:
        head["timestamp"] = timestamp
    if raw_event is not None or "rawEvent" in event:
        head["rawEvent"] = raw_event
    if metadata is not None or "metadata" in event:
        head["metadata"] = metadata
    head.update(event)  # existing keys keep the position set above
    if timestamp is not None:
        head["timestamp"] = timestamp
    if raw_event is not None:
        head["rawEvent"] = raw_event
    if metadata is not None:
        head["metadata"] = metadata
    return head


# --- text messages -------------------------------------------------------------------


def text_message_start(
    message_id: str,
    *,
    role: str | None = "assistant",
    name: str | None = None,
    timestamp: int | None = None,
    raw_event: Any = None,
    metadata: Metadata | None = None,
    subagent_run_id: str | None = None,
) -> Event:
    if (
        timestamp is None
        and raw_event is None
        and metadata is None
        and subagent_run_id is None
        and name is None
    ):
        if role is None:
            return {"type": "TEXT_MESSAGE_START", "messageId": message_id}
        return {"type": "TEXT_MESSAGE_START", "messageId": message_id, "role": role}
    event = _head("TEXT_MESSAGE_START", timestamp, raw_event, metadata, subagent_run_id)
    event["messageId"] = message_id
    if role is not None:
        event["role"] = role
    if name is not None:
        event["name"] = name
    return event


def text_message_content(
    message_id: str,
    delta: str,
    *,
    timestamp: int | None = None,
    raw_event: Any = None,
    metadata: Metadata | None = None,
    subagent_run_id: str | None = None,
) -> Event:
    if timestamp is None and raw_event is None and metadata is None and subagent_run_id is None:
        return {"type": "TEXT_MESSAGE_CONTENT", "messageId": message_id, "delta": delta}
    event = _head("TEXT_MESSAGE_CONTENT", timestamp, raw_event, metadata, subagent_run_id)
    event["messageId"] = message_id
    event["delta"] = delta
    return event


def text_message_end(
    message_id: str,
    *,
    timestamp: int | None = None,
    raw_event: Any = None,
    metadata: Metadata | None = None,
    subagent_run_id: str | None = None,
) -> Event:
    if timestamp is None and raw_event is None and metadata is None and subagent_run_id is None:
        return {"type": "TEXT_MESSAGE_END", "messageId": message_id}
    event = _head("TEXT_MESSAGE_END", timestamp, raw_event, metadata, subagent_run_id)
    event["messageId"] = message_id
    return event


def text_message_chunk(
    *,
    message_id: str | None = None,
    role: str | None = None,
    delta: str | None = None,
    name: str | None = None,
    timestamp: int | None = None,
    raw_event: Any = None,
    metadata: Metadata | None = None,
    subagent_run_id: str | None = None,
) -> Event:
    event = _head("TEXT_MESSAGE_CHUNK", timestamp, raw_event, metadata, subagent_run_id)
    if message_id is not None:
        event["messageId"] = message_id
    if role is not None:
        event["role"] = role
    if delta is not None:
        event["delta"] = delta
    if name is not None:
        event["name"] = name
    return event


# --- tool calls ----------------------------------------------------------------------


def tool_call_start(
    tool_call_id: str,
    tool_call_name: str,
    *,
    parent_message_id: str | None = None,
    timestamp: int | None = None,
    raw_event: Any = None,
    metadata: Metadata | None = None,
    subagent_run_id: str | None = None,
) -> Event:
    if (
        timestamp is None
        and raw_event is None
        and metadata is None
        and subagent_run_id is None
        and parent_message_id is None
    ):
        return {
            "type": "TOOL_CALL_START",
            "toolCallId": tool_call_id,
            "toolCallName": tool_call_name,
        }
    event = _head("TOOL_CALL_START", timestamp, raw_event, metadata, subagent_run_id)
    event["toolCallId"] = tool_call_id
    event["toolCallName"] = tool_call_name
    if parent_message_id is not None:
        event["parentMessageId"] = parent_message_id
    return event


def tool_call_args(
    tool_call_id: str,
    delta: str,
    *,
    timestamp: int | None = None,
    raw_event: Any = None,
    metadata: Metadata | None = None,
    subagent_run_id: str | None = None,
) -> Event:
    if timestamp is None and raw_event is None and metadata is None and subagent_run_id is None:
        return {"type": "TOOL_CALL_ARGS", "toolCallId": tool_call_id, "delta": delta}
    event = _head("TOOL_CALL_ARGS", timestamp, raw_event, metadata, subagent_run_id)
    event["toolCallId"] = tool_call_id
    event["delta"] = delta
    return event


def tool_call_end(
    tool_call_id: str,
    *,
    timestamp: int | None = None,
    raw_event: Any = None,
    metadata: Metadata | None = None,
    subagent_run_id: str | None = None,
) -> Event:
    if timestamp is None and raw_event is None and metadata is None and subagent_run_id is None:
        return {"type": "TOOL_CALL_END", "toolCallId": tool_call_id}
    event = _head("TOOL_CALL_END", timestamp, raw_event, metadata, subagent_run_id)
    event["toolCallId"] = tool_call_id
    return event


def tool_call_chunk(
    *,
    tool_call_id: str | None = None,
    tool_call_name: str | None = None,
    parent_message_id: str | None = None,
    delta: str | None = None,
    timestamp: int | None = None,
    raw_event: Any = None,
    metadata: Metadata | None = None,
    subagent_run_id: str | None = None,
) -> Event:
    event = _head("TOOL_CALL_CHUNK", timestamp, raw_event, metadata, subagent_run_id)
    if tool_call_id is not None:
        event["toolCallId"] = tool_call_id
    if tool_call_name is not None:
        event["toolCallName"] = tool_call_name
    if parent_message_id is not None:
        event["parentMessageId"] = parent_message_id
    if delta is not None:
        event["delta"] = delta
    return event


def tool_call_result(
    message_id: str,
    tool_call_id: str,
    content: str | list[Any],
    *,
    role: str | None = None,
    timestamp: int | None = None,
    raw_event: Any = None,
    metadata: Metadata | None = None,
    subagent_run_id: str | None = None,
) -> Event:
    if (
        timestamp is None
        and raw_event is None
        and metadata is None
        and subagent_run_id is None
        and role is None
    ):
        return {
            "type": "TOOL_CALL_RESULT",
            "messageId": message_id,
            "toolCallId": tool_call_id,
            "content": content,
        }
    event = _head("TOOL_CALL_RESULT", timestamp, raw_event, metadata, subagent_run_id)
    event["messageId"] = message_id
    event["toolCallId"] = tool_call_id
    event["content"] = content
    if role is not None:
        event["role"] = role
    return event


# --- state, messages, activity -------------------------------------------------------


def state_snapshot(
    snapshot: Any,
    *,
    timestamp: int | None = None,
    raw_event: Any = None,
    metadata: Metadata | None = None,
    subagent_run_id: str | None = None,
) -> Event:
    if timestamp is None and raw_event is None and metadata is None and subagent_run_id is None:
        return {"type": "STATE_SNAPSHOT", "snapshot": snapshot}
    event = _head("STATE_SNAPSHOT", timestamp, raw_event, metadata, subagent_run_id)
    event["snapshot"] = snapshot
    return event


def state_delta(
    delta: list[Any],
    *,
    timestamp: int | None = None,
    raw_event: Any = None,
    metadata: Metadata | None = None,
    subagent_run_id: str | None = None,
) -> Event:
    """``delta`` is an RFC 6902 JSON Patch: ``[{"op": "add", "path": "/x", "value": 1}]``."""
    if timestamp is None and raw_event is None and metadata is None and subagent_run_id is None:
        return {"type": "STATE_DELTA", "delta": delta}
    event = _head("STATE_DELTA", timestamp, raw_event, metadata, subagent_run_id)
    event["delta"] = delta
    return event


def messages_snapshot(
    messages: list[Any],
    *,
    timestamp: int | None = None,
    raw_event: Any = None,
    metadata: Metadata | None = None,
) -> Event:
    # No subagentRunId: the SDK models MESSAGES_SNAPSHOT as conversation-wide.
    if timestamp is None and raw_event is None and metadata is None:
        return {"type": "MESSAGES_SNAPSHOT", "messages": messages}
    event = _head("MESSAGES_SNAPSHOT", timestamp, raw_event, metadata, None)
    event["messages"] = messages
    return event


def activity_snapshot(
    message_id: str,
    activity_type: str,
    content: Mapping[str, Any],
    *,
    replace: bool | None = None,
    timestamp: int | None = None,
    raw_event: Any = None,
    metadata: Metadata | None = None,
    subagent_run_id: str | None = None,
) -> Event:
    event = _head("ACTIVITY_SNAPSHOT", timestamp, raw_event, metadata, subagent_run_id)
    event["messageId"] = message_id
    event["activityType"] = activity_type
    event["content"] = content
    if replace is not None:
        event["replace"] = replace
    return event


def activity_delta(
    message_id: str,
    activity_type: str,
    patch: list[Any],
    *,
    timestamp: int | None = None,
    raw_event: Any = None,
    metadata: Metadata | None = None,
    subagent_run_id: str | None = None,
) -> Event:
    event = _head("ACTIVITY_DELTA", timestamp, raw_event, metadata, subagent_run_id)
    event["messageId"] = message_id
    event["activityType"] = activity_type
    event["patch"] = patch
    return event


def raw(
    event: Any,
    *,
    source: str | None = None,
    timestamp: int | None = None,
    raw_event: Any = None,
    metadata: Metadata | None = None,
    subagent_run_id: str | None = None,
) -> Event:
    # ``event`` is required by the SDK, so a ``None`` here is written as ``null``.
    out = _head("RAW", timestamp, raw_event, metadata, subagent_run_id)
    out["event"] = event
    if source is not None:
        out["source"] = source
    return out


def custom(
    name: str,
    value: Any,
    *,
    timestamp: int | None = None,
    raw_event: Any = None,
    metadata: Metadata | None = None,
    subagent_run_id: str | None = None,
) -> Event:
    # ``value`` is required by the SDK, so a ``None`` here is written as ``null``.
    if timestamp is None and raw_event is None and metadata is None and subagent_run_id is None:
        return {"type": "CUSTOM", "name": name, "value": value}
    event = _head("CUSTOM", timestamp, raw_event, metadata, subagent_run_id)
    event["name"] = name
    event["value"] = value
    return event


# --- run lifecycle (run-scoped: no subagentRunId in the SDK) -------------------------


def run_started(
    thread_id: str,
    run_id: str,
    *,
    protocol_version: str | None = None,
    parent_run_id: str | None = None,
    input: Mapping[str, Any] | None = None,
    timestamp: int | None = None,
    raw_event: Any = None,
    metadata: Metadata | None = None,
) -> Event:
    """``input`` is a RunAgentInput already in wire form (camelCase keys)."""
    if (
        timestamp is None
        and raw_event is None
        and metadata is None
        and protocol_version is None
        and parent_run_id is None
        and input is None
    ):
        return {"type": "RUN_STARTED", "threadId": thread_id, "runId": run_id}
    event = _head("RUN_STARTED", timestamp, raw_event, metadata, None)
    event["threadId"] = thread_id
    event["runId"] = run_id
    if protocol_version is not None:
        event["protocolVersion"] = protocol_version
    if parent_run_id is not None:
        event["parentRunId"] = parent_run_id
    if input is not None:
        event["input"] = input
    return event


def run_finished(
    thread_id: str,
    run_id: str,
    *,
    result: Any = None,
    outcome: Mapping[str, Any] | None = None,
    usage: list[Any] | None = None,
    timestamp: int | None = None,
    raw_event: Any = None,
    metadata: Metadata | None = None,
) -> Event:
    if (
        timestamp is None
        and raw_event is None
        and metadata is None
        and result is None
        and outcome is None
        and usage is None
    ):
        return {"type": "RUN_FINISHED", "threadId": thread_id, "runId": run_id}
    event = _head("RUN_FINISHED", timestamp, raw_event, metadata, None)
    event["threadId"] = thread_id
    event["runId"] = run_id
    if result is not None:
        event["result"] = result
    if outcome is not None:
        event["outcome"] = outcome
    if usage is not None:
        event["usage"] = usage
    return event


def run_error(
    message: str,
    *,
    code: str | None = None,
    usage: list[Any] | None = None,
    timestamp: int | None = None,
    raw_event: Any = None,
    metadata: Metadata | None = None,
) -> Event:
    event = _head("RUN_ERROR", timestamp, raw_event, metadata, None)
    event["message"] = message
    if code is not None:
        event["code"] = code
    if usage is not None:
        event["usage"] = usage
    return event


def step_started(
    step_name: str,
    *,
    timestamp: int | None = None,
    raw_event: Any = None,
    metadata: Metadata | None = None,
    subagent_run_id: str | None = None,
) -> Event:
    if timestamp is None and raw_event is None and metadata is None and subagent_run_id is None:
        return {"type": "STEP_STARTED", "stepName": step_name}
    event = _head("STEP_STARTED", timestamp, raw_event, metadata, subagent_run_id)
    event["stepName"] = step_name
    return event


def step_finished(
    step_name: str,
    *,
    timestamp: int | None = None,
    raw_event: Any = None,
    metadata: Metadata | None = None,
    subagent_run_id: str | None = None,
) -> Event:
    if timestamp is None and raw_event is None and metadata is None and subagent_run_id is None:
        return {"type": "STEP_FINISHED", "stepName": step_name}
    event = _head("STEP_FINISHED", timestamp, raw_event, metadata, subagent_run_id)
    event["stepName"] = step_name
    return event


# --- reasoning -----------------------------------------------------------------------


def reasoning_start(
    message_id: str,
    *,
    timestamp: int | None = None,
    raw_event: Any = None,
    metadata: Metadata | None = None,
    subagent_run_id: str | None = None,
) -> Event:
    event = _head("REASONING_START", timestamp, raw_event, metadata, subagent_run_id)
    event["messageId"] = message_id
    return event


def reasoning_message_start(
    message_id: str,
    *,
    timestamp: int | None = None,
    raw_event: Any = None,
    metadata: Metadata | None = None,
    subagent_run_id: str | None = None,
) -> Event:
    # ``role`` defaults to "reasoning" (not ``None``) in the SDK, so it is always written.
    event = _head("REASONING_MESSAGE_START", timestamp, raw_event, metadata, subagent_run_id)
    event["messageId"] = message_id
    event["role"] = "reasoning"
    return event


def reasoning_message_content(
    message_id: str,
    delta: str,
    *,
    timestamp: int | None = None,
    raw_event: Any = None,
    metadata: Metadata | None = None,
    subagent_run_id: str | None = None,
) -> Event:
    if timestamp is None and raw_event is None and metadata is None and subagent_run_id is None:
        return {"type": "REASONING_MESSAGE_CONTENT", "messageId": message_id, "delta": delta}
    event = _head("REASONING_MESSAGE_CONTENT", timestamp, raw_event, metadata, subagent_run_id)
    event["messageId"] = message_id
    event["delta"] = delta
    return event


def reasoning_message_end(
    message_id: str,
    *,
    timestamp: int | None = None,
    raw_event: Any = None,
    metadata: Metadata | None = None,
    subagent_run_id: str | None = None,
) -> Event:
    event = _head("REASONING_MESSAGE_END", timestamp, raw_event, metadata, subagent_run_id)
    event["messageId"] = message_id
    return event


def reasoning_message_chunk(
    *,
    message_id: str | None = None,
    delta: str | None = None,
    timestamp: int | None = None,
    raw_event: Any = None,
    metadata: Metadata | None = None,
    subagent_run_id: str | None = None,
) -> Event:
    event = _head("REASONING_MESSAGE_CHUNK", timestamp, raw_event, metadata, subagent_run_id)
    if message_id is not None:
        event["messageId"] = message_id
    if delta is not None:
        event["delta"] = delta
    return event


def reasoning_end(
    message_id: str,
    *,
    timestamp: int | None = None,
    raw_event: Any = None,
    metadata: Metadata | None = None,
    subagent_run_id: str | None = None,
) -> Event:
    event = _head("REASONING_END", timestamp, raw_event, metadata, subagent_run_id)
    event["messageId"] = message_id
    return event


def reasoning_encrypted_value(
    subtype: str,
    entity_id: str,
    encrypted_value: str,
    *,
    timestamp: int | None = None,
    raw_event: Any = None,
    metadata: Metadata | None = None,
    subagent_run_id: str | None = None,
) -> Event:
    """``subtype`` is ``"tool-call"`` or ``"message"``."""
    event = _head("REASONING_ENCRYPTED_VALUE", timestamp, raw_event, metadata, subagent_run_id)
    event["subtype"] = subtype
    event["entityId"] = entity_id
    event["encryptedValue"] = encrypted_value
    return event


# --- subagents (subagentRunId is required here, in the common-field position) --------


def subagent_started(
    subagent_run_id: str,
    name: str,
    *,
    description: str | None = None,
    parent_subagent_run_id: str | None = None,
    parent_tool_call_id: str | None = None,
    parent_message_id: str | None = None,
    timestamp: int | None = None,
    raw_event: Any = None,
    metadata: Metadata | None = None,
) -> Event:
    event = _head("SUBAGENT_STARTED", timestamp, raw_event, metadata, subagent_run_id)
    event["name"] = name
    if description is not None:
        event["description"] = description
    if parent_subagent_run_id is not None:
        event["parentSubagentRunId"] = parent_subagent_run_id
    if parent_tool_call_id is not None:
        event["parentToolCallId"] = parent_tool_call_id
    if parent_message_id is not None:
        event["parentMessageId"] = parent_message_id
    return event


def subagent_finished(
    subagent_run_id: str,
    *,
    result: Any = None,
    outcome: Mapping[str, Any] | None = None,
    timestamp: int | None = None,
    raw_event: Any = None,
    metadata: Metadata | None = None,
) -> Event:
    event = _head("SUBAGENT_FINISHED", timestamp, raw_event, metadata, subagent_run_id)
    if result is not None:
        event["result"] = result
    if outcome is not None:
        event["outcome"] = outcome
    return event


def subagent_error(
    subagent_run_id: str,
    message: str,
    *,
    code: str | None = None,
    timestamp: int | None = None,
    raw_event: Any = None,
    metadata: Metadata | None = None,
) -> Event:
    event = _head("SUBAGENT_ERROR", timestamp, raw_event, metadata, subagent_run_id)
    event["message"] = message
    if code is not None:
        event["code"] = code
    return event


#: Every AG-UI 1.0 event type, mapped to its builder.
BUILDERS: Mapping[str, Callable[..., Event]] = {
    "TEXT_MESSAGE_START": text_message_start,
    "TEXT_MESSAGE_CONTENT": text_message_content,
    "TEXT_MESSAGE_END": text_message_end,
    "TEXT_MESSAGE_CHUNK": text_message_chunk,
    "TOOL_CALL_START": tool_call_start,
    "TOOL_CALL_ARGS": tool_call_args,
    "TOOL_CALL_END": tool_call_end,
    "TOOL_CALL_CHUNK": tool_call_chunk,
    "TOOL_CALL_RESULT": tool_call_result,
    "STATE_SNAPSHOT": state_snapshot,
    "STATE_DELTA": state_delta,
    "MESSAGES_SNAPSHOT": messages_snapshot,
    "ACTIVITY_SNAPSHOT": activity_snapshot,
    "ACTIVITY_DELTA": activity_delta,
    "RAW": raw,
    "CUSTOM": custom,
    "RUN_STARTED": run_started,
    "RUN_FINISHED": run_finished,
    "RUN_ERROR": run_error,
    "STEP_STARTED": step_started,
    "STEP_FINISHED": step_finished,
    "REASONING_START": reasoning_start,
    "REASONING_MESSAGE_START": reasoning_message_start,
    "REASONING_MESSAGE_CONTENT": reasoning_message_content,
    "REASONING_MESSAGE_END": reasoning_message_end,
    "REASONING_MESSAGE_CHUNK": reasoning_message_chunk,
    "REASONING_END": reasoning_end,
    "REASONING_ENCRYPTED_VALUE": reasoning_encrypted_value,
    "SUBAGENT_STARTED": subagent_started,
    "SUBAGENT_FINISHED": subagent_finished,
    "SUBAGENT_ERROR": subagent_error,
}

#: The AG-UI 1.0 event types, in the SDK's ``EventType`` order.
EVENT_TYPES: tuple[str, ...] = tuple(BUILDERS)
