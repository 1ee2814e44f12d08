"""Progress lines with one prefix, and the time left from the durations measured so far.

Two kinds of work take the time: benchmark processes (calibration, true effect) and gate runs.
Each kind's remaining count times its mean duration so far gives the time left; a kind not
timed yet is named instead of guessed ("+ 15 gate runs not timed yet").

The lines are logged (`gate.progress`) to the `agui_perf.gate.quality` logger; the command
line prints them with the `[quality]` prefix.
"""

from __future__ import annotations

import logging
import statistics
import time
from typing import TYPE_CHECKING

from agui_perf.gate.measure.runner import format_duration

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["GATE_RUN", "LOGGER", "PREFIX", "PROCESS", "Progress"]

PREFIX = "[quality]"
LOGGER = "agui_perf.gate.quality"
PROCESS = "benchmark process"
GATE_RUN = "gate run"

_log = logging.getLogger(LOGGER)


class Progress:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
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
        _log.info(text)

    def timed(self, kind: str, work: Callable[[], int]) -> int:
        """Run `work`, record its duration as one `kind`; returns its result."""
        started = self.clock()
        try:
            return work()
        finally:
            self.done(kind, self.clock() - started)
