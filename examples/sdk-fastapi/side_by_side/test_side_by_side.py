"""This app beside agui-perf's own streaming core, in one pytest run, figures side by side.

`pytest side_by_side` (from this folder) has agui-perf's service suite start both servers —
this app (`app:app`, path `/`) and agui-perf's core (`agui_perf.stream.app:create_app`, path
`/agent`), one uvicorn process each — and ask each for the same reply: a short one of 20 text
chunks and a burst of 1,000, each run checked (clean, the ordering rules and the framing the
official client reads, the expected number of events). The table the suite prints at the end
of the run holds one row per test and target: the medians over the runs.

The two runs are not event for event the same: this app's agent calls a tool before it
answers (4 events more). The gate does not run this file (it measures `benchmarks/` only),
and it imports nothing: the targets are names the suite's processes import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import pytest

if TYPE_CHECKING:
    from agui_perf.suite.plugin import Runner

#: Runs per test and target; the first includes each server's first-request costs.
ROUNDS: Final = 7
CORE: Final = "agui_perf.stream.app:create_app"
THIS_APP: Final = "app:app"


def _input(forwarded_props: dict[str, Any]) -> dict[str, Any]:
    return {
        "threadId": "side-by-side",
        "runId": "run",
        "state": {},
        "messages": [{"id": "m1", "role": "user", "content": "How is the account doing?"}],
        "tools": [],
        "context": [],
        "forwardedProps": forwarded_props,
    }


def _both(chunks: int) -> list[Any]:
    """The two targets, each asked for `chunks` text chunks; the value is the events expected."""
    return [
        pytest.param(
            chunks + 8,  # run, a tool call (4), message start and end
            marks=pytest.mark.agui_target(THIS_APP, path="/", input=_input({"chunks": chunks})),
            id="sdk-fastapi",
        ),
        pytest.param(
            chunks + 4,  # run, message start and end
            marks=pytest.mark.agui_target(
                CORE,
                path="/agent",
                input=_input({"workflow": "burst", "params": {"events": chunks}}),
            ),
            id="agui-perf-core",
        ),
    ]


def _runs(agui_run: Runner, events: int) -> None:
    for _ in range(ROUNDS):
        run = agui_run()
        assert run.ok, run.problems()
        assert run.events == events


@pytest.mark.parametrize("events", _both(20))
def test_short_reply(agui_run: Runner, events: int) -> None:
    _runs(agui_run, events)


@pytest.mark.parametrize("events", _both(1_000))
def test_burst(agui_run: Runner, events: int) -> None:
    _runs(agui_run, events)
