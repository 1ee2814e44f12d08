"""The event builders produce the official SDK's JSON, key for key and byte for byte."""

from __future__ import annotations

import inspect
from typing import Any

import orjson
import pytest
from ag_ui.core import events as sdk

from agui_perf.stream import events as ev
from agui_perf.stream.events import BUILDERS, EVENT_TYPES, with_common
from tests._support.events import FULL, common_kwargs, sdk_model_class

COMMON = ("timestamp", "raw_event", "metadata", "subagent_run_id")


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
