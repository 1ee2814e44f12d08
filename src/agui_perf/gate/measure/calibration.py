"""Normalize CPU-bound benchmarks by the calibration loop timed around them.

Each process of a side timed a fixed workload around every `cpu_bound` benchmark
(`_pytest_plugin/agui_perf_calibration.py`, which says why). Here a benchmark's per-process
median (and its rounds) is multiplied by `reference / calibration` of that process: a cell
measured during a slow phase of the host is scaled back, and the units stay seconds of a
typical phase because `reference` is a median calibration.

The reference is the median calibration over both sides of an A/B run (over the one side of
an update-baseline run): the median is robust up to half the cells being slow, and one
reference for both sides keeps a phase that covers most of one side from surviving as a
difference. Benchmarks without a calibration figure are left exactly as measured.
"""

from __future__ import annotations

import statistics
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from agui_perf.gate.store.results import ProcessBenchmark, ProcessRun

__all__ = ["CALIBRATION_KEY", "calibrate_runs", "reference_calibration"]

#: The extra_info key the plugin writes (kept equal to the plugin's constant by a test).
CALIBRATION_KEY = "calibration_ns"


def _calibration(bench: ProcessBenchmark) -> float | None:
    value = bench.extra_info.get(CALIBRATION_KEY)
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def reference_calibration(runs: Sequence[ProcessRun]) -> float | None:
    """The median calibration over every calibrated benchmark of every process, or None."""
    values = [
        value
        for run in runs
        for bench in run.benchmarks.values()
        if (value := _calibration(bench)) is not None
    ]
    return statistics.median(values) if values else None


def calibrate_runs(
    runs: Sequence[ProcessRun], *, reference: float | None = None
) -> list[ProcessRun]:
    """`runs` with each calibrated benchmark scaled by reference / its own calibration.

    `reference` defaults to this side's median calibration; an A/B comparison passes the
    median over BOTH sides, so a slow phase that covers most of one side is corrected too
    (measured: five of eight processes of one side 1.5-2x slow, calibration included).
    A benchmark is normalized only when every process calibrated it; a half-calibrated
    benchmark (a plugin that failed in one process) is left raw rather than mixed.
    """
    if reference is None:
        reference = reference_calibration(runs)
    if reference is None:
        return list(runs)
    names = {name for run in runs for name in run.benchmarks}
    calibrated = {
        name
        for name in names
        if all(
            name in run.benchmarks and _calibration(run.benchmarks[name]) is not None
            for run in runs
        )
    }
    out: list[ProcessRun] = []
    for run in runs:
        benchmarks = dict(run.benchmarks)
        for name in calibrated & set(benchmarks):
            bench = benchmarks[name]
            cal = _calibration(bench)
            assert cal is not None
            factor = reference / cal
            benchmarks[name] = replace(
                bench,
                figure=bench.figure * factor,
                data=tuple(t * factor for t in bench.data),
            )
        out.append(replace(run, benchmarks=benchmarks))
    return out
