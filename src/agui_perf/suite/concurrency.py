"""Many streams at once: how many a target holds, and how many fail.

`hold` opens N connections together (one selector, `client.exchanges`), sends the same
RunAgentInput on each and reads every stream to its end. A stream is *held* when it got a 200
response head and ended as a clean run; the error rate is the share that did not. `peak_open`
is the most streams whose response had started and not yet ended at one moment: with a run
long enough to overlap (a paced workflow), it shows that the server really held them
together rather than one after another.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agui_perf.suite.client import Request, exchanges
from agui_perf.suite.figures import RunFigures, figures, scalars

if TYPE_CHECKING:
    from collections.abc import Sequence

    from agui_perf.suite.client import Exchange

__all__ = ["Concurrency", "hold"]


@dataclass(frozen=True, slots=True)
class Concurrency:
    """N streams at once: how many were held, the error rate and the per-run figures."""

    streams: int
    held: int
    error_rate: float
    peak_open: int
    #: Median time to first event over the runs that had one.
    ttfe_p50_s: float | None
    #: The first few distinct problems, one line each.
    errors: tuple[str, ...]
    runs: tuple[RunFigures, ...]

    def extra_info(self) -> dict[str, int | float | str]:
        """Flat figures for `benchmark.extra_info` (per-run figures left out; `scalars`)."""
        return scalars(
            {
                "streams": self.streams,
                "streams_held": self.held,
                "error_rate": self.error_rate,
                "peak_open": self.peak_open,
                "concurrent_ttfe_p50_s": self.ttfe_p50_s,
            }
        )


def hold(
    request: Request, streams: int, *, timeout: float, heartbeat_s: float | None = None
) -> Concurrency:
    """Run `streams` copies of `request` at once, each on its own connection."""
    if streams < 1:
        raise ValueError(f"streams must be at least 1, got {streams}")
    done = exchanges([request] * streams, timeout=timeout)
    runs = tuple(figures(ex, heartbeat_s=heartbeat_s) for ex in done)
    failed = [run for run in runs if run.error is not None or not run.verified]
    problems: list[str] = []
    for run in failed:
        for problem in run.problems():
            if problem not in problems and len(problems) < 5:
                problems.append(problem)
    ttfes = [run.ttfe_s for run in runs if run.ttfe_s is not None]
    return Concurrency(
        streams=streams,
        held=streams - len(failed),
        error_rate=len(failed) / streams,
        peak_open=_peak_open(done),
        ttfe_p50_s=statistics.median(ttfes) if ttfes else None,
        errors=tuple(problems),
        runs=runs,
    )


def _peak_open(done: Sequence[Exchange]) -> int:
    """The most responses open at one time (a started head, not yet ended)."""
    marks: list[tuple[int, int]] = []
    for ex in done:
        if ex.head_ns is None:
            continue
        end = ex.ended_ns or max((t for t, _ in ex.body), default=ex.head_ns)
        marks += [(ex.head_ns, 1), (end, -1)]
    open_now = peak = 0
    # Ends sort before starts at the same instant: touching is not overlapping.
    for _, step in sorted(marks):
        open_now += step
        peak = max(peak, open_now)
    return peak
