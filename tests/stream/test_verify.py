"""The ordering rules: every workflow passes, and each rule has a stream that breaks it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from agui_perf.stream import events as ev
from agui_perf.stream.verify import RULES, ProtocolError, Verifier, verify
from agui_perf.stream.workflows import WORKFLOWS, WorkflowParams, iter_account_analysis

if TYPE_CHECKING:
    from agui_perf.stream.types import Agent, Event

START = ev.run_started("t", "r")
FINISH = ev.run_finished("t", "r")


async def collect(agent: Agent) -> list[Event]:
    return [event async for event in agent]


@pytest.mark.parametrize(
    "params",
    [
        WorkflowParams(),
        WorkflowParams(tool_calls=0, state_deltas=0, text_chunks=1, chunk_size=1),
        WorkflowParams(tool_calls=17, state_deltas=11, seed=5),
    ],
)
def test_account_analysis_is_accepted(params: WorkflowParams) -> None:
    events = list(iter_account_analysis("t", "r", params))
    assert verify(events) == len(events)


@pytest.mark.parametrize("workflow", sorted(WORKFLOWS))
@pytest.mark.parametrize("stamp", ["off", "timestamp", "monotonic"])
@pytest.mark.anyio
async def test_every_workflow_is_accepted(workflow: str, stamp: str) -> None:
    params = WorkflowParams.from_mapping(
        {"events": 200, "text_chunks": 10, "rate_per_s": 1e6, "stamp": stamp}
    )
    events = await collect(WORKFLOWS[workflow]("t", "r", params))
    assert verify(events) == len(events)


def test_interleaved_ids_consecutive_runs_and_error_recovery_are_accepted() -> None:
    stream = [
        START,
        ev.text_message_start("a"),
        ev.tool_call_start("x", "f"),
        ev.text_message_start("b"),
        ev.text_message_content("b", "1"),
        ev.tool_call_args("x", "{}"),
        ev.text_message_content("a", "2"),
        ev.text_message_end("a"),
        ev.tool_call_end("x"),
        ev.text_message_end("b"),
        ev.text_message_start("a"),  # an id may be reused once it has ended
        ev.text_message_end("a"),
        FINISH,
        ev.run_started("t", "r2"),
        ev.step_started("s"),
        ev.text_message_start("open"),
        ev.run_error("boom"),  # aborts the run; what was open no longer matters
        ev.run_started("t", "r3"),
        ev.step_started("s"),
        ev.step_finished("s"),
        ev.custom("c", None),
        ev.text_message_chunk(delta=""),
        FINISH,
    ]
    assert verify(stream) == len(stream)
    assert verify([ev.run_error("failed before starting")]) == 1
    assert verify([START, FINISH, ev.run_error("late")]) == 3


def broken(*events: Event) -> list[Event]:
    return list(events)


#: (rule, stream, index of the event that breaks it; len(stream) means finish() does).
VIOLATIONS: list[tuple[str, list[Event], int]] = [
    ("unknown-type", broken(START, {"type": "THINKING_START"}), 1),
    ("unknown-type", broken({"messageId": "m"}), 0),
    ("missing-field", broken(START, {"type": "TEXT_MESSAGE_START"}), 1),
    ("missing-field", broken(START, ev.step_started(7)), 1),  # type: ignore[arg-type]
    ("run-not-started", broken(ev.text_message_start("m")), 0),
    ("run-not-started", broken(ev.step_started("s"), START), 0),
    ("run-already-started", broken(START, ev.step_started("s"), START), 2),
    ("event-after-run-finished", broken(START, FINISH, ev.step_started("s")), 2),
    ("event-after-run-finished", broken(START, FINISH, FINISH), 2),
    ("event-after-run-error", broken(START, ev.run_error("x"), ev.custom("c", 1)), 2),
    ("event-after-run-error", broken(ev.run_error("x"), ev.run_error("y")), 1),
    (
        "message-already-open",
        broken(START, ev.text_message_start("m"), ev.text_message_start("m")),
        2,
    ),
    ("message-not-open", broken(START, ev.text_message_content("m", "x")), 1),
    ("message-not-open", broken(START, ev.text_message_end("m")), 1),
    (
        "message-not-open",
        broken(
            START,
            ev.text_message_start("m"),
            ev.text_message_end("m"),
            ev.text_message_content("m", "late"),
        ),
        3,
    ),
    (
        "tool-call-already-open",
        broken(START, ev.tool_call_start("c", "f"), ev.tool_call_start("c", "g")),
        2,
    ),
    ("tool-call-not-open", broken(START, ev.tool_call_args("c", "{}")), 1),
    ("tool-call-not-open", broken(START, ev.tool_call_end("c")), 1),
    ("step-already-started", broken(START, ev.step_started("s"), ev.step_started("s")), 2),
    ("step-not-started", broken(START, ev.step_finished("s")), 1),
    ("run-finished-while-open", broken(START, ev.step_started("s"), FINISH), 2),
    ("run-finished-while-open", broken(START, ev.text_message_start("m"), FINISH), 2),
    ("run-finished-while-open", broken(START, ev.tool_call_start("c", "f"), FINISH), 2),
    (
        "empty-delta",
        broken(START, ev.text_message_start("m"), ev.text_message_content("m", "")),
        2,
    ),
    ("empty-delta", broken(START, ev.tool_call_start("c", "f"), ev.tool_call_args("c", "")), 2),
    ("empty-delta", broken(START, ev.state_delta([])), 1),
    ("empty-delta", broken(START, ev.reasoning_message_content("r", "")), 1),
    ("no-events", broken(), 0),
    ("run-not-finished", broken(START, ev.text_message_start("m")), 2),
]


def test_every_rule_has_a_violation() -> None:
    assert {rule for rule, _, _ in VIOLATIONS} == set(RULES)


@pytest.mark.parametrize(
    ("rule", "stream", "index"),
    VIOLATIONS,
    ids=[f"{rule}-{n}" for n, (rule, _, _) in enumerate(VIOLATIONS)],
)
def test_each_rule_rejects_the_stream_that_breaks_it(
    rule: str, stream: list[Event], index: int
) -> None:
    with pytest.raises(ProtocolError) as caught:
        verify(stream)
    error = caught.value
    assert (error.rule, error.index) == (rule, index)
    assert str(error).startswith(f"event {index}: ")
    assert f"(rule {rule}: {RULES[rule]})" in str(error)
    assert isinstance(error, ValueError)


def test_run_finished_while_open_names_what_is_open() -> None:
    verifier = Verifier()
    for event in [START, ev.step_started("s"), *(ev.text_message_start(f"m{i}") for i in range(5))]:
        verifier.feed(event)
    with pytest.raises(ProtocolError, match=r"steps 's'; messages 'm0', 'm1', 'm2' and 2 more"):
        verifier.feed(FINISH)


def test_error_message_quotes_the_bad_id() -> None:
    verifier = Verifier()
    verifier.feed(START)
    with pytest.raises(ProtocolError, match=r"^event 1: TOOL_CALL_ARGS for tool call 'c-9'"):
        verifier.feed(ev.tool_call_args("c-9", "{}"))
