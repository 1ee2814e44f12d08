"""The load test's run client: one run read with the service suite, its latencies, failure
reason and per-run budgets (goodput); the body it posts; what a Locust worker imports."""

from __future__ import annotations

import ast
import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ag_ui.core import RunAgentInput
from hypothesis import given, settings
from hypothesis import strategies as st

from agui_perf.load import LOCUSTFILE
from agui_perf.load.client import (
    PER_RUN_BUDGETS,
    RunResult,
    asks_for_stamps,
    judge_run,
    run_body,
)
from agui_perf.stream.encoder import HEARTBEAT, encode
from agui_perf.stream.workflows import WorkflowParams, iter_account_analysis
from agui_perf.suite.client import Exchange, Request

ROOT = Path(__file__).resolve().parents[2]
MS = 1_000_000  # ns
#: Wall clock minus monotonic clock, as the locustfile takes it once per run.
OFFSET_NS = 1_700_000_000_000 * MS


def _events(stamp: bool = True) -> list[dict[str, Any]]:
    events = list(iter_account_analysis("t", "r", WorkflowParams(tool_calls=2)))
    if stamp:
        return [{**event, "timestamp": 1_700_000_000_000 + i} for i, event in enumerate(events)]
    return [dict(event) for event in events]


def _exchange(
    frames: list[bytes],
    *,
    status: int = 200,
    content_type: bytes = b"text/event-stream",
    ended: bool = True,
    error: str | None = None,
    step_ms: int = 5,
) -> Exchange:
    """A run whose i-th piece arrived (i + 1) x step_ms after the request was sent."""
    exchange = Exchange(Request("127.0.0.1", 8000, "/agent", b"{}"), sent_ns=0, status=status)
    exchange.headers = [(b"content-type", content_type)]
    exchange.head_ns = 0
    exchange.body = [((i + 1) * step_ms * MS, frame) for i, frame in enumerate(frames)]
    exchange.ended_ns = (len(frames) + 1) * step_ms * MS if ended else None
    exchange.error = error
    return exchange


def _frames(events: list[dict[str, Any]]) -> list[bytes]:
    return [encode(event) for event in events]


def _judge(
    exchange: Exchange, budgets: dict[str, float] | None = None, *, stamped: bool = True
) -> RunResult:
    return judge_run(exchange, wall_offset_ns=OFFSET_NS, budgets=budgets or {}, stamped=stamped)


# --- a good run -------------------------------------------------------------------------------


def test_a_good_run_gives_one_latency_per_event() -> None:
    events = _events()
    result = _judge(_exchange(_frames(events)))
    assert result.failure is None
    assert result.good
    assert result.figures.verified
    # Event i arrived at (i + 1) x 5 ms, stamped i ms after the same epoch: latency 4i + 5.
    assert result.latencies_ms == [4.0 * i + 5.0 for i in range(len(events))]


def test_heartbeats_are_not_events() -> None:
    frames = _frames(_events())
    frames.insert(2, HEARTBEAT)
    result = _judge(_exchange(frames))
    assert result.good
    assert len(result.latencies_ms) == len(frames) - 1


def test_latency_never_negative() -> None:
    events = [{**event, "timestamp": 1_800_000_000_000} for event in _events()]
    result = _judge(_exchange(_frames(events)))
    assert result.latencies_ms == [0.0] * len(events)


@settings(deadline=None)  # a busy machine must not fail a test that measures nothing
@given(cuts=st.lists(st.integers(min_value=0, max_value=20_000), max_size=40))
def test_any_chunking_reads_the_same_run(cuts: list[int]) -> None:
    stream = b"".join(_frames(_events()))
    bounds = sorted({min(cut, len(stream)) for cut in cuts} | {0, len(stream)})
    pieces = [stream[a:b] for a, b in itertools.pairwise(bounds)]
    result = _judge(_exchange(pieces))
    assert result.good
    assert len(result.latencies_ms) == len(_events())


# --- per-run budgets (goodput) ----------------------------------------------------------------


def test_per_run_budgets_met_and_missed() -> None:
    exchange = _exchange(_frames(_events()))
    duration_s = (len(exchange.body) + 1) * 5 / 1000
    met = _judge(exchange, {"workflow_s": duration_s, "latency_p95_ms": 1_000.0})
    assert (met.good, met.over) == (True, ())
    missed = _judge(
        exchange, {"workflow_s": duration_s / 2, "latency_p95_ms": 10.0, "latency_mean_ms": 1e6}
    )
    assert missed.failure is None
    assert not missed.good
    assert missed.over == ("latency_p95_ms", "workflow_s")


def test_a_budget_the_run_did_not_measure_is_not_met() -> None:
    # An input that does not ask for stamps: the run is fine, its latency unmeasured.
    result = _judge(
        _exchange(_frames(_events(stamp=False))), {"latency_p95_ms": 300.0}, stamped=False
    )
    assert result.failure is None
    assert result.latencies_ms == []
    assert result.over == ("latency_p95_ms",)


def test_time_to_first_event_budget() -> None:
    result = _judge(_exchange(_frames(_events())), {"agui_ttfe_s_max": 0.001})
    assert result.over == ("agui_ttfe_s_max",)
    assert set(PER_RUN_BUDGETS) == {
        "latency_mean_ms",
        "latency_p95_ms",
        "workflow_s",
        "agui_ttfe_s_max",
    }


def test_a_failed_run_is_never_good_nor_over_budget() -> None:
    result = _judge(_exchange(_frames(_events()[:-1])), {"workflow_s": 0.0})
    assert result.failure is not None
    assert (result.good, result.over) == (False, ())


# --- failures, in stable words ------------------------------------------------------------------


def _ordering_broken() -> list[dict[str, Any]]:
    events = _events()
    opened = next(i for i, e in enumerate(events) if e["type"] == "TEXT_MESSAGE_START")
    return events[:opened] + events[opened + 1 :]


@pytest.mark.parametrize(
    ("exchange", "reason"),
    [
        (_exchange(_frames(_events()[:-1])), "without RUN_FINISHED or RUN_ERROR"),
        (_exchange([b"Service Unavailable"], status=503), "HTTP 503"),
        (
            _exchange([b'{"a":1}'], content_type=b"application/json"),
            "content-type is 'application/json', not text/event-stream",
        ),
        (
            _exchange([], status=0, ended=False, error="no response: ConnectionRefusedError: x"),
            "no response: ConnectionRefusedError: x",
        ),
        (_exchange([*_frames(_events()), b"data: {"]), "stream ended inside a frame"),
        (_exchange([b"data: {not json\n\n", *_frames(_events())]), "event frame is not JSON"),
        (_exchange(_frames(_ordering_broken())), "ordering rule broken: message-not-open"),
        (
            _exchange([frame.replace(b"\n", b"\r\n") for frame in _frames(_events())]),
            "framing: @ag-ui/client cannot read the stream (CRLF line ends)",
        ),
        (
            _exchange(
                _frames(
                    [
                        _events()[0],
                        {"type": "RUN_ERROR", "message": "model\ndown", "timestamp": 1},
                    ]
                )
            ),
            "RUN_ERROR: 'model\\ndown'",
        ),
    ],
)
def test_failed_runs_and_their_reasons(exchange: Exchange, reason: str) -> None:
    result = _judge(exchange)
    assert result.failure is not None
    assert reason in result.failure
    assert not result.good


def test_reasons_do_not_vary_with_positions_or_sizes() -> None:
    first = _judge(_exchange([b"data: {x\n\n", *_frames(_events())])).failure
    later = _judge(_exchange([*_frames(_events()[:3]), b"data: [[[\n\n"])).failure
    assert first == later == "event frame is not JSON"
    short = _judge(_exchange([b"busy"], status=503)).failure
    long = _judge(_exchange([b"busy for a long while " * 20], status=503)).failure
    assert short == long == "HTTP 503"


def test_long_reasons_are_clipped() -> None:
    events = [_events()[0], {"type": "RUN_ERROR", "message": "x" * 1_000, "timestamp": 1}]
    failure = _judge(_exchange(_frames(events))).failure
    assert failure is not None
    assert len(failure) == 200


def test_a_missing_stamp_fails_a_run_that_asked_for_stamps() -> None:
    events = _events()
    del events[3]["timestamp"]
    failure = _judge(_exchange(_frames(events))).failure
    assert failure is not None
    assert f"{events[3]['type']} without an integer 'timestamp'" in failure
    # An input that did not ask: the stamped events are measured, the run is fine.
    result = _judge(_exchange(_frames(events)), stamped=False)
    assert result.failure is None
    assert len(result.latencies_ms) == len(events) - 1


# --- the body ---------------------------------------------------------------------------------


def test_run_body_is_a_run_agent_input_that_asks_for_timestamps() -> None:
    body = json.loads(run_body("paced", {"rate_per_s": 5.0, "text_chunks": 10}))
    parsed = RunAgentInput.model_validate(body)
    assert parsed.forwarded_props == {
        "workflow": "paced",
        "params": {"rate_per_s": 5.0, "text_chunks": 10, "stamp": "timestamp"},
    }
    assert WorkflowParams.from_mapping(body["forwardedProps"]["params"]).stamp == "timestamp"
    assert asks_for_stamps(body)
    assert json.loads(run_body("paced", {}))["runId"] != body["runId"]


def test_a_template_is_posted_with_fresh_ids() -> None:
    template = {"threadId": "t", "runId": "r", "messages": [{"id": "m", "role": "user"}]}
    first, second = (json.loads(run_body("ignored", {}, template)) for _ in range(2))
    assert first["messages"] == template["messages"]
    assert first["runId"] != "r"
    assert first["runId"] != second["runId"]
    assert first["threadId"] != second["threadId"]
    assert not asks_for_stamps(template)
    assert asks_for_stamps({"forwardedProps": {"params": {"stamp": "timestamp"}}})


# --- what a Locust worker imports -------------------------------------------------------------


def test_the_locustfile_imports_no_gate() -> None:
    """A Locust worker imports the locustfile: from agui-perf only the client and the suite."""
    tree = ast.parse(Path(LOCUSTFILE).read_text(encoding="utf-8"))
    ours = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("agui_perf")
    }
    assert ours == {"agui_perf.load.client", "agui_perf.suite.client"}
    code = (
        "import sys, agui_perf.load.client, agui_perf.suite.client; "
        "heavy = [m for m in ('agui_perf.gate', 'pygal', 'scipy', 'pytest', 'locust') "
        "if m in sys.modules]; sys.exit(repr(heavy) if heavy else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
