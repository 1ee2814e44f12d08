"""The encoder writes the official SDK's bytes, or raises EncodeError naming the field."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import inspect
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from ag_ui.encoder import EventEncoder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agui_perf.stream import events as ev
from agui_perf.stream.encoder import HEARTBEAT, EncodeError, encode, encode_many
from agui_perf.stream.events import BUILDERS, EVENT_TYPES
from agui_perf.stream.workflows import WorkflowParams, iter_account_analysis
from tests._support.events import FULL, common_kwargs, sdk_model_class

if TYPE_CHECKING:
    from agui_perf.stream.types import Event

SDK = EventEncoder()


def sdk_frame(event_type: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    """The SDK's frame for the event, its model built from snake_case names."""
    params = list(inspect.signature(BUILDERS[event_type]).parameters)
    named = dict(zip(params, args, strict=False)) | kwargs
    return SDK.encode(sdk_model_class(event_type)(**named)).encode()


def test_heartbeat_is_an_sse_comment() -> None:
    assert HEARTBEAT == b": ping\n\n"


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_event_type_is_byte_identical_to_the_sdk(event_type: str) -> None:
    args, kwargs = FULL[event_type]
    kwargs = kwargs | common_kwargs(event_type)
    assert encode(BUILDERS[event_type](*args, **kwargs)) == sdk_frame(event_type, args, kwargs)


TRICKY_TEXT = [
    "plain",
    "",
    "Grüße, 東京, العربية",
    "emoji 😀👩‍👩‍👧 and flag 🇳🇿",
    "line one\nline two\r\nthree\rfour",
    "data: fake frame\n\ndata: {}",
    "line\u2028separator\u2029paragraph",
    'quotes " and \\ backslash / slash',
    "controls \x00\x01\x1f\x7f\t\b\f",
    "\ufeffBOM and \ufffd replacement",
]


@pytest.mark.parametrize("text", TRICKY_TEXT)
@pytest.mark.parametrize(
    "event_type", ["TEXT_MESSAGE_CONTENT", "TOOL_CALL_ARGS", "REASONING_MESSAGE_CONTENT"]
)
def test_text_deltas_match_the_sdk(event_type: str, text: str) -> None:
    assert encode(BUILDERS[event_type]("id-1", text)) == sdk_frame(event_type, ("id-1", text), {})


VALUES: list[Any] = [
    {"nested": {"deeper": {"list": [1, [2, [3, {"k": "v"}]]]}}},
    [2**53, 2**53 + 1, 2**63 - 1, -(2**63), 2**64 - 1, 0, -1],
    [0.1, 1.5, -0.0, 1e16, 1e-7, 5e-324, 1.7976931348623157e308, 123456789.125, 1e15],
    {"unicode ключ 🔑": "значение", "empty": {}, "list": [], "none": None, "t": True},
    {"line\u2028sep": "a\nb", "tab\tkey": "\x00"},
    (1, "tuple", (2, 3)),
]


@pytest.mark.parametrize("value", VALUES)
def test_json_values_match_the_sdk(value: Any) -> None:
    for event_type, args in [
        ("STATE_SNAPSHOT", (value,)),
        ("CUSTOM", ("name", value)),
        ("RAW", (value,)),
        ("TOOL_CALL_RESULT", ("m", "tc", str(value))),
    ]:
        assert encode(BUILDERS[event_type](*args)) == sdk_frame(event_type, args, {})
    kwargs = {"raw_event": value, "metadata": {"v": value}}
    assert encode(ev.step_started("s", **kwargs)) == sdk_frame("STEP_STARTED", ("s",), kwargs)


def test_json_patch_lists_match_the_sdk() -> None:
    patch = [
        {"op": "add", "path": "/a~1b/~0c", "value": {"x": [1.25, None]}},
        {"op": "replace", "path": "", "value": 2**63 - 1},
        {"op": "move", "from": "/a", "path": "/b"},
        {"op": "test", "path": "/b/0", "value": "ü"},
    ]
    assert encode(ev.state_delta(patch)) == sdk_frame("STATE_DELTA", (patch,), {})
    args = ("m", "progress", patch)
    assert encode(ev.activity_delta(*args)) == sdk_frame("ACTIVITY_DELTA", args, {})


def test_encode_many_is_the_concatenation_of_sdk_frames() -> None:
    events = [BUILDERS[t](*FULL[t][0], **FULL[t][1]) for t in EVENT_TYPES]
    expected = b"".join(sdk_frame(t, *FULL[t]) for t in EVENT_TYPES)
    assert encode_many(events) == expected
    assert encode_many(iter(events)) == expected  # any iterable, consumed once
    assert encode_many(tuple(events)) == expected
    assert encode_many([]) == b""


def test_a_workflow_run_encodes_like_the_sdk() -> None:
    events = list(iter_account_analysis("t", "r", WorkflowParams(seed=7)))
    frames = encode_many(events)
    assert frames == b"".join(encode(e) for e in events)
    assert frames.count(b"\n\n") == len(events)
    assert frames.split(b"\n\n")[:-1] == [f[:-2] for f in map(encode, events)]


# --- property test: generated events, compared with the SDK ---------------------------

TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
JSON_SCALAR = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)
JSON = st.recursive(
    JSON_SCALAR,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=10,
)
JSON_OBJECT = st.dictionaries(TEXT, JSON, max_size=4)
POINTER = st.lists(st.text(st.characters(exclude_characters="/~", exclude_categories=["Cs"]))).map(
    lambda parts: "".join("/" + p for p in parts)
)
_ABSENT = object()


def _not_none(value: object) -> bool:
    return value is not None


def obj(*fields: tuple[str, st.SearchStrategy[Any], bool]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with keys in the given (SDK) order; fields marked optional may be left out.

    Nested protocol objects (parts, messages, operations, outcomes) are the caller's data:
    the encoder writes them in the order given, so the generator gives the SDK's order.
    """
    # An optional field given as None is left out by the SDK, so never draw None for one.
    drawn = [st.just(_ABSENT) | s.filter(_not_none) if opt else s for _, s, opt in fields]
    keys = [key for key, _, _ in fields]
    return st.tuples(*drawn).map(
        lambda values: {k: v for k, v in zip(keys, values, strict=True) if v is not _ABSENT}
    )


OPERATION = st.one_of(
    obj(
        ("op", st.sampled_from(["add", "replace", "test"]), False),
        ("path", POINTER, False),
        ("value", JSON, False),
    ),
    obj(("op", st.just("remove"), False), ("path", POINTER, False)),
    obj(
        ("op", st.sampled_from(["move", "copy"]), False),
        ("from", POINTER, False),
        ("path", POINTER, False),
    ),
)
PATCH = st.lists(OPERATION, max_size=4)
TEXT_PART = obj(("type", st.just("text"), False), ("id", TEXT, True), ("text", TEXT, False))
MESSAGE = st.one_of(
    obj(("id", TEXT, False), ("role", st.just("user"), False), ("content", TEXT, False)),
    obj(
        ("id", TEXT, False),
        ("role", st.just("assistant"), False),
        ("name", TEXT, True),
        ("content", TEXT, True),
    ),
    obj(
        ("id", TEXT, False),
        ("role", st.just("tool"), False),
        ("content", TEXT | st.lists(TEXT_PART, max_size=2), False),
        ("toolCallId", TEXT, False),
    ),
    obj(("id", TEXT, False), ("role", st.just("reasoning"), False), ("content", TEXT, False)),
)
COUNT = st.integers(0, 2**53 - 1)
USAGE = st.lists(
    obj(
        ("provider", TEXT, True),
        ("model", TEXT, True),
        ("inputTokens", COUNT, True),
        ("outputTokens", COUNT, True),
        ("totalTokens", COUNT, True),
    ),
    max_size=2,
)


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


#: Values by parameter name; (event type, name) overrides where a name means different things.
BY_NAME: dict[str, st.SearchStrategy[Any]] = {
    "timestamp": optional(st.integers(-(2**53 - 1), 2**53 - 1)),
    "raw_event": JSON,
    "metadata": optional(JSON_OBJECT),
    "role": optional(st.sampled_from(["developer", "system", "assistant", "user"])),
    "replace": optional(st.booleans()),
    "usage": optional(USAGE),
    "messages": st.lists(MESSAGE, max_size=3),
    "subtype": st.sampled_from(["tool-call", "message"]),
    "patch": PATCH,
    "snapshot": JSON,
    "value": JSON,
    "event": JSON,
    "result": JSON,
    "input": optional(
        obj(
            ("threadId", TEXT, False),
            ("runId", TEXT, False),
            ("state", JSON, True),
            ("messages", st.lists(MESSAGE, max_size=2), False),
            ("forwardedProps", JSON, True),
        )
    ),
}
BY_TYPE_AND_NAME: dict[tuple[str, str], st.SearchStrategy[Any]] = {
    ("STATE_DELTA", "delta"): PATCH,
    ("TOOL_CALL_RESULT", "content"): TEXT | st.lists(TEXT_PART, max_size=3),
    ("TOOL_CALL_RESULT", "role"): optional(st.just("tool")),
    ("ACTIVITY_SNAPSHOT", "content"): JSON_OBJECT,
    ("RUN_FINISHED", "outcome"): optional(
        st.sampled_from([{"type": "success"}, {"type": "cancelled"}])
        | obj(
            ("type", st.just("interrupt"), False),
            (
                "interrupts",
                st.lists(
                    obj(("id", TEXT, False), ("reason", TEXT, False), ("message", TEXT, True)),
                    min_size=1,
                    max_size=2,
                ),
                False,
            ),
        )
    ),
    ("SUBAGENT_FINISHED", "outcome"): optional(
        st.just({"type": "success"})
        | obj(("type", st.just("suspended"), False), ("interruptIds", st.lists(TEXT), True))
    ),
}


@st.composite
def generated_events(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """An event type and a value for every parameter of its builder (by name)."""
    event_type = draw(st.sampled_from(EVENT_TYPES))
    named: dict[str, Any] = {}
    for param in inspect.signature(BUILDERS[event_type]).parameters.values():
        strategy = BY_TYPE_AND_NAME.get((event_type, param.name), BY_NAME.get(param.name))
        if strategy is None:  # ids, names, text deltas: any string; optional if keyword-only
            strategy = TEXT if param.kind is param.POSITIONAL_OR_KEYWORD else optional(TEXT)
        named[param.name] = draw(strategy)
    return event_type, named


@settings(
    max_examples=400,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(generated_events())
def test_generated_events_are_byte_identical_to_the_sdk(case: tuple[str, dict[str, Any]]) -> None:
    event_type, named = case
    params = inspect.signature(BUILDERS[event_type]).parameters.values()
    args = tuple(named[p.name] for p in params if p.kind is p.POSITIONAL_OR_KEYWORD)
    kwargs = {p.name: named[p.name] for p in params if p.kind is p.KEYWORD_ONLY}
    event = BUILDERS[event_type](*args, **kwargs)
    expected = SDK.encode(sdk_model_class(event_type)(**named)).encode()
    assert encode(event) == expected
    assert encode_many([event, event]) == expected * 2


# --- values the wire cannot carry -------------------------------------------------------


class Colour(enum.Enum):
    NAN = float("nan")


class MyFloat(float):
    pass


@dataclasses.dataclass
class Point:
    x: int


def nested(depth: int) -> list[Any]:
    root: list[Any] = []
    node = root
    for _ in range(depth - 1):
        child: list[Any] = []
        node.append(child)
        node = child
    return root


def circular() -> list[Any]:
    loop: list[Any] = [1]
    loop.append(loop)
    return loop


BAD: list[tuple[Event, str, str]] = [
    (
        ev.state_snapshot({"items": [{}, {}, {}, {"n": float("nan")}]}),
        "snapshot.items[3].n",
        "nan is not valid JSON",
    ),
    (ev.custom("x", float("inf")), "value", "inf is not valid JSON"),
    (ev.custom("x", [1, float("-inf")]), "value[1]", "-inf is not valid JSON"),
    (ev.step_started("s", metadata={"score": float("nan")}), "metadata.score", "nan"),
    (ev.state_snapshot({"a b": float("nan")}), "snapshot['a b']", "nan"),
    (ev.custom("x", Colour.NAN), "value", "nan is not valid JSON"),
    (ev.state_snapshot({"big": 2**64}), "snapshot.big", "does not fit in 64 bits"),
    (ev.state_snapshot({"neg": -(2**63) - 1}), "snapshot.neg", "does not fit in 64 bits"),
    (ev.state_snapshot({"ids": {1: "one"}}), "snapshot.ids", "key 1 (int) is not a string"),
    (ev.state_snapshot({("t",): 1}), "snapshot", "key ('t',) (tuple) is not a string"),
    (ev.custom("x", {"tags": {"a"}}), "value.tags", "set is not a JSON type"),
    (ev.custom("x", datetime.date(2024, 1, 2)), "value", "date is not a JSON type"),
    (ev.custom("x", Point(1)), "value", "Point is not a JSON type"),
    (ev.custom("x", b"bytes"), "value", "bytes is not a JSON type"),
    (ev.custom("x", MyFloat(1.5)), "value", "MyFloat is not a JSON type"),
    (ev.text_message_content("m", "bad \ud800"), "delta", "lone surrogate"),
    (ev.custom("x", {"k\udfff": 1}), "value", "contains a lone surrogate"),
    (ev.custom("x", nested(300)), "value" + "[0]" * 253, "nested deeper than 254"),
    (ev.custom("x", circular()), "value[1]", "refers to itself"),
]


@pytest.mark.parametrize(("event", "path", "reason"), BAD, ids=[b[1][:30] for b in BAD])
def test_encode_error_names_the_field(event: Event, path: str, reason: str) -> None:
    with pytest.raises(EncodeError) as caught:
        encode(event)
    assert caught.value.path == path
    assert reason in caught.value.reason
    assert caught.value.index is None
    assert str(caught.value) == f"cannot encode {path}: {caught.value.reason}"
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(("event", "path", "reason"), BAD, ids=[b[1][:30] for b in BAD])
def test_encode_many_error_names_the_event_and_field(event: Event, path: str, reason: str) -> None:
    fine = ev.custom("ok", None)  # a legitimate null must not confuse the NaN check
    with pytest.raises(EncodeError) as caught:
        encode_many(iter([fine, ev.step_started("s"), event, fine]))
    assert (caught.value.index, caught.value.path) == (2, path)
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"cannot encode event 2: {path}: ")


def test_real_nulls_and_the_text_null_still_encode() -> None:
    events = [
        ev.custom("x", None),
        ev.text_message_content("m", "null"),
        ev.state_snapshot({"a": [None, 1.5, "null"]}),
        ev.state_delta([{"op": "test", "path": "/a", "value": None}]),
    ]
    assert encode_many(events) == b"".join(map(encode, events))
    assert encode(events[0]) == b'data: {"type":"CUSTOM","name":"x","value":null}\n\n'


def test_enum_and_uuid_values_are_written_like_the_sdk() -> None:
    class Tier(enum.Enum):
        GOLD = "gold"

    value = {"tier": Tier.GOLD, "id": uuid.UUID(int=7)}
    assert encode(ev.custom("x", value)) == sdk_frame("CUSTOM", ("x", value), {})
