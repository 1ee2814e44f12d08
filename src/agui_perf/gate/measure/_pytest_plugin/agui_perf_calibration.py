"""pytest plugin the gate loads into every benchmark process, on both sides (`-p`).

Why: on a shared virtual machine the host's load comes in phases. Measured here (2 vCPUs,
KVM): for a second or more at a time everything in a process runs 1.6-2x slower, hitting
10-15 % of (process, benchmark) cells at random, while the other cells agree within ±2 %.
Eight processes a side cannot out-vote that: a real 15 % slowdown came out "inconclusive".
So around each benchmark marked `cpu_bound` this plugin times a fixed pure-Python workload
(best of three, before and after) and records the mean in `extra_info["calibration_ns"]`;
the gate then expresses that benchmark's per-process median in units of this workload
(`gate.calibration`), which cancels a slow phase that covers both.

Only `cpu_bound` benchmarks are calibrated: a benchmark paced by the clock or waiting on a
server process does not slow down with this process's CPU, and dividing it would add noise.

The module lives outside the `agui_perf` package (the runner puts its folder on PYTHONPATH)
so that the accepted commit's tree, which comes first on sys.path, cannot shadow it: both
sides are calibrated by the same code.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Final

import pytest

if TYPE_CHECKING:
    from collections.abc import Generator

__all__ = [
    "CALIBRATION_KEY",
    "calibration_ns",
]

CALIBRATION_KEY: Final = "calibration_ns"
MARKER: Final = "cpu_bound"
#: Iterations of the workload: about 1 ms here, short enough to sit inside one load phase.
_ITERATIONS: Final = 2_000
_REPEATS: Final = 3


def _workload(n: int) -> int:
    # The same kind of work as the benchmarks it calibrates: small dicts, str, attribute
    # and method calls in the interpreter loop.
    total = 0
    for i in range(n):
        event = {"type": "TEXT_MESSAGE_CONTENT", "messageId": "m", "delta": str(i)}
        total += len(event["delta"]) + len(event)
    return total


def calibration_ns(iterations: int = _ITERATIONS, repeats: int = _REPEATS) -> int:
    """Best of `repeats` timings of the workload, in nanoseconds."""
    best = None
    for _ in range(repeats):
        start = time.perf_counter_ns()
        _workload(iterations)
        elapsed = time.perf_counter_ns() - start
        best = elapsed if best is None else min(best, elapsed)
    assert best is not None
    return max(best, 1)


def pytest_configure(config: pytest.Config) -> None:
    # Registered here too, so an older tree whose pyproject lacks the marker still runs
    # under --strict-markers.
    config.addinivalue_line(
        "markers", f"{MARKER}: CPU-bound benchmark; the gate normalizes it by a calibration loop"
    )
    # The gate deselects `-m "not reference"` in every timing run; under --strict-markers
    # pytest refuses a -m expression naming a marker nobody registered, and a project
    # outside this repository has no reason to register it.
    config.addinivalue_line(
        "markers", "reference: a comparison implementation; the gate never times it"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None]:
    calibrate = item.get_closest_marker(MARKER) is not None
    before = calibration_ns() if calibrate else 0
    yield
    if not calibrate:
        return
    after = calibration_ns()
    funcargs = getattr(item, "funcargs", {})
    bench = funcargs.get("benchmark")
    extra = getattr(bench, "extra_info", None)
    if isinstance(extra, dict):
        extra[CALIBRATION_KEY] = (before + after) // 2
