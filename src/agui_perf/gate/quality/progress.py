"""Progress lines with one prefix, and the time left from the durations measured so far.

Two kinds of work take the time: benchmark processes (calibration, true effect) and gate runs.
Each kind's remaining count times its mean duration so far gives the time left; a kind not
timed yet is named instead of guessed ("+ 15 gate runs not timed yet").
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import TYPE_CHECKING, TextIO

from agui_perf.gate.measure.runner import format_duration

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["GATE_RUN", "PREFIX", "PROCESS", "Progress"]

PREFIX = "[quality]"
PROCESS = "benchmark process"
GATE_RUN = "gate run"


class Progress:
    def __init__(
        self, stream: TextIO | None = sys.stderr, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.stream = stream
        self.clock = clock
        self.remaining: dict[str, int] = {PROCESS: 0, GATE_RUN: 0}
        self.durations: dict[str, list[float]] = {PROCESS: [], GATE_RUN: []}

    def plan(self, kind: str, count: int) -> None:
        self.remaining[kind] += count

    def done(self, kind: str, seconds: float) -> None:
        self.durations[kind].append(seconds)
        self.remaining[kind] = max(0, self.remaining[kind] - 1)

    def left(self) -> str:
        total = 0.0
        untimed: list[str] = []
        for kind, count in self.remaining.items():
            if not count:
                continue
            if self.durations[kind]:
                total += count * statistics.fmean(self.durations[kind])
            else:
                untimed.append(f"{count} {kind}{'' if count == 1 else 's'}")
        if not any(self.durations.values()) or (untimed and not total):
            return "estimating time left"
        text = f"~{format_duration(total)} left"
        return text + (f" + {', '.join(untimed)} not timed yet" if untimed else "")

    def say(self, text: str) -> None:
        if self.stream is not None:
            print(f"{PREFIX} {text}", file=self.stream, flush=True)

    def timed(self, kind: str, work: Callable[[], int]) -> int:
        """Run `work`, record its duration as one `kind`; returns its result."""
        started = self.clock()
        try:
            return work()
        finally:
            self.done(kind, self.clock() - started)
