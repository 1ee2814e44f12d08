"""How the CPU-bound benchmarks time a call: fixed rounds of a few milliseconds each.

Fixed rounds rather than pytest-benchmark's own calibration keep each file's wall time known
and the same on both sides of a comparison; the gate times its calibration loop around each
benchmark and normalizes by it (`agui_perf.gate.measure.calibration`), and counts the same
calls under callgrind, where `rounds` and `iterations` are ignored.

This helper never spells the marker's name: a helper module that does makes the gate's count
process collect the whole folder (`agui_perf.gate.measure.counts.count_targets` says why that
matters).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Final, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

    from pytest_benchmark.fixture import BenchmarkFixture

__all__ = ["ROUNDS", "ROUND_S", "measure"]

#: Wall time one round aims for; rounds are fixed so each file stays well under 15 s.
ROUND_S: Final = 0.002
ROUNDS: Final = 60

_T = TypeVar("_T")


def measure(benchmark: BenchmarkFixture, fn: Callable[[], _T], events: int) -> _T:
    """Run ``fn`` in fixed rounds sized to ~ROUND_S each; record events per second."""
    start = time.perf_counter()
    fn()
    one = max(time.perf_counter() - start, 1e-7)
    iterations = max(1, min(10_000, int(ROUND_S / one)))
    # pytest-benchmark's pedantic() is unannotated.
    result: _T = benchmark.pedantic(  # type: ignore[no-untyped-call]
        fn, rounds=ROUNDS, iterations=iterations, warmup_rounds=2
    )
    # Under --benchmark-disable (the smoke run in `nox -s tests`) there are no stats: the
    # calibration call is then the only measurement, enough to prove the figure is published.
    median: float = one if benchmark.stats is None else benchmark.stats.stats.median
    benchmark.extra_info["events"] = events
    benchmark.extra_info["events_per_s"] = round(events / median)
    return result
