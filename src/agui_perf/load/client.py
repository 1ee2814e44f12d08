"""The load test's run client, pure: one run's body, and one run read into a `RunResult`.

The locustfile does the I/O (it posts through Locust's client and records when each piece
of the body arrived) and hands the pieces here as a suite `Exchange`; this module reads them
with the service suite (`agui_perf.suite.figures`: SSE frames, the ordering verifier, the
framing check of `@ag-ui/client`), adds each event's latency and judges the per-run budgets.
It imports neither Locust nor the gate, so that `nox -s tests` tests it without Locust and a
Locust worker pays only for what it uses.

Failure reasons are short and stable (no ids, no counts, no positions): Locust groups
failures by their text, so each distinct reason becomes one row of `*_failures.csv`.
"""

from __future__ import annotations

import json
import re
import statistics
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from agui_perf.suite.figures import decode, figures, gap_percentiles

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from agui_perf.suite.client import Exchange
    from agui_perf.suite.figures import RunFigures

__all__ = [
    "PER_RUN_BUDGETS",
    "STAMP",
    "PerRunBudget",
    "RunResult",
    "asks_for_stamps",
    "judge_run",
    "run_body",
    "stable_reason",
]

#: The workflow param that asks our core to stamp every event with its `timestamp`.
STAMP: Final = "timestamp"
_REASON_CHARS: Final = 200


@dataclass(frozen=True, slots=True)
class RunResult:
    """One run as the load test counts it."""

    figures: RunFigures
    #: Latency of each event that carried a `timestamp`, in ms, in stream order.
    latencies_ms: list[float]
    #: Why the run did not end well (stable text), or None.
    failure: str | None
    #: The per-run budgets a run that ended well missed (not measured counts as missed).
    over: tuple[str, ...]

    @property
    def good(self) -> bool:
        """Ended in RUN_FINISHED, passed the ordering verifier and every per-run budget."""
        return self.failure is None and not self.over


@dataclass(frozen=True, slots=True)
class PerRunBudget:
    """A budget of `[tool.agui_perf.budgets]` that one run can meet or miss on its own."""

    label: str
    #: The run's figure in the budget's unit, or None when the run did not measure it.
    figure: Callable[[RunResult], float | None]


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


#: Budgets held against each run for goodput (all maxima, limits inclusive). A budget the
#: table does not set does not apply. `agui_ttfe_s_max` is the figure budget on the suite's
#: time to first event (`agui_ttfe_s`), the same name the gate's budget table gives it.
PER_RUN_BUDGETS: Final[Mapping[str, PerRunBudget]] = {
    "latency_mean_ms": PerRunBudget(
        "the run's mean event latency", lambda run: _mean(run.latencies_ms)
    ),
    "latency_p95_ms": PerRunBudget(
        "the run's p95 event latency", lambda run: gap_percentiles(run.latencies_ms)[1]
    ),
    "workflow_s": PerRunBudget("the run's duration", lambda run: run.figures.duration_s),
    "agui_ttfe_s_max": PerRunBudget(
        "the run's time to first event", lambda run: run.figures.ttfe_s
    ),
}


def run_body(
    workflow: str, params: Mapping[str, object], template: Mapping[str, Any] | None = None
) -> bytes:
    """A RunAgentInput for one run, with fresh thread and run ids.

    Without `template`: a minimal input that asks our core for `workflow` with `params` and
    for `timestamp` stamps. With one (`--input`): that input as it is, ids replaced, so that
    a server keyed by run id sees distinct runs.
    """
    ids = {"threadId": f"load-{uuid.uuid4().hex}", "runId": f"run-{uuid.uuid4().hex}"}
    if template is not None:
        return json.dumps({**template, **ids}).encode()
    return json.dumps(
        {
            **ids,
            "messages": [],
            "state": {},
            "tools": [],
            "context": [],
            "forwardedProps": {"workflow": workflow, "params": {**params, "stamp": STAMP}},
        }
    ).encode()


def asks_for_stamps(body: Mapping[str, Any]) -> bool:
    """Whether the input asks our core to stamp events (then a missing stamp fails the run)."""
    props = body.get("forwardedProps")
    params = props.get("params") if isinstance(props, dict) else None
    return isinstance(params, dict) and params.get("stamp") == STAMP


def judge_run(
    exchange: Exchange,
    *,
    wall_offset_ns: int,
    budgets: Mapping[str, float],
    stamped: bool,
) -> RunResult:
    """Read one run: the suite's figures, each event's latency, failure and budgets missed.

    The body's times are CLOCK_MONOTONIC; `wall_offset_ns` (wall clock minus monotonic, taken
    once per run) turns them into the wall clock the server's `timestamp` (int ms since the
    epoch) is on. Client and server share this machine's clock, so the difference is the
    time from the workflow yielding the event to the client receiving it; the server
    truncates to whole milliseconds, so it reads up to 1 ms high, and a clock step backwards
    is clamped to 0 rather than recorded as a negative time.

    `stamped`: the input asked for stamps, so an event without one fails the run: it could
    not be measured, and a silent gap in the latency numbers would read as a good result.
    """
    # One read of the body for the figures and the latencies (a worker does this per run).
    decoded = decode(exchange)
    run = figures(exchange, decoded=decoded)
    latencies: list[float] = []
    unstamped: str | None = None
    # Frames that are not JSON are left out here; the figures' error already says so.
    for event, received_ns in zip(decoded.events, decoded.times, strict=True):
        stamp = event.get("timestamp") if isinstance(event, dict) else None
        if isinstance(stamp, int) and not isinstance(stamp, bool):
            # Integers first: ns since the epoch have more digits than a float holds.
            latency_ns = received_ns + wall_offset_ns - stamp * 1_000_000
            latencies.append(max(0.0, latency_ns / 1e6))
        elif unstamped is None:
            kind = event.get("type") if isinstance(event, dict) else None
            unstamped = f"{kind} without an integer 'timestamp' (params.stamp={STAMP!r})"
    failure = stable_reason(run)
    if failure is None and stamped and unstamped is not None:
        failure = unstamped
    partial = RunResult(run, latencies, failure, ())
    if failure is not None:
        return partial
    over = tuple(
        key
        for key, budget in PER_RUN_BUDGETS.items()
        if key in budgets and not _within(budget.figure(partial), budgets[key])
    )
    return RunResult(run, latencies, None, over)


def _within(value: float | None, limit: float) -> bool:
    # Not measured is not met: goodput counts runs known to be good.
    return value is not None and value <= limit


#: Rewrites of the suite's problem texts that carry positions, sizes or payloads.
_STABLE: Final = (
    (re.compile(r"HTTP (\d{3}):.*", re.S), r"HTTP \1"),
    (re.compile(r"frame \d+ is not JSON.*", re.S), "event frame is not JSON"),
    (re.compile(r"the body ends with \d+ bytes.*", re.S), "stream ended inside a frame"),
)
_RULE: Final = re.compile(r"\(rule ([a-z-]+):")


def stable_reason(run: RunFigures) -> str | None:
    """Why a run did not end well, in words that do not vary between runs; None if it did."""
    if run.error is not None:
        text = run.error
        for pattern, replacement in _STABLE:
            text = pattern.sub(replacement, text) if pattern.match(text) else text
    elif not run.verified:
        rule = _RULE.search(run.verifier_error or "")
        text = f"ordering rule broken: {rule.group(1) if rule else run.verifier_error}"
    elif not run.framing_ok:
        ends = "/".join(end for end in run.line_ends if end != "LF")
        text = "framing: @ag-ui/client cannot read the stream" + (
            f" ({ends} line ends)" if ends else ""
        )
    else:
        return None
    text = " ".join(text.split())
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 1] + "…"
