"""The size of an injected slowdown, measured apart from the gate: calibration and true effect.

Both use the gate's own runner (`runner.run_interleaved`): the copies' benchmark suites in
fresh processes, interleaved A B A B, one figure per benchmark and process (the median of
its rounds; the lower quartile for a server-CPU row, as in the gate), `cpu_bound`
benchmarks normalized by one calibration-loop reference over all copies. The effect is the
gate's own estimate, the Hodges-Lehmann ratio of those per-process medians, slowed over
unchanged (1.125 = 12.5 % slower), with its 95 % rank interval and the ratio of the raw
medians beside.

Calibration turns a target effect on one benchmark into loop iterations. The cost of the loop
grows linearly with its iterations (same loop, more turns), so effect ≈ slope · iterations:
probe with iteration counts growing eightfold until the effect clearly shows, then aim at the
largest target from the last step and measure again until one lands within a quarter of it.
The slope comes from the largest loops measured (least squares through the origin), where the
effect stands furthest above the noise. Every target then gets iterations = target / slope, so
a 5 % case is the 12.5 % case's loop scaled by 0.4 rather than a noisier estimate of its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agui_perf.gate.decide.stats import rank_summary, ratio_of_medians
from agui_perf.gate.errors import GateError
from agui_perf.gate.measure.calibration import reference_calibration
from agui_perf.gate.measure.runner import merge_side
from agui_perf.gate.quality.inject import MAX_ITERATIONS
from agui_perf.gate.store.results import merge_processes

#: One-sided level of each rank bound: together a two-sided 95 % interval.
_TWO_SIDED_95 = 0.025

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from agui_perf.gate.measure.runner import Side
    from agui_perf.gate.store.results import BenchmarkResult, ProcessRun

__all__ = [
    "MIN_MEASURABLE",
    "Calibration",
    "Effect",
    "Step",
    "calibrate",
    "effects",
    "fit_slope",
]

#: The smallest effect a calibration probe trusts as "the loop shows" (few processes a side).
MIN_MEASURABLE = 0.02
_START = 64
_GROWTH = 8
#: Aiming steps after the probes, each only while the last one landed far from the target.
_AIMS = 3
_CLOSE_ENOUGH = 0.25  # relative distance of a measured effect from its target


@dataclass(frozen=True)
class Step:
    """One calibration measurement: the loop's iterations a call and the ratio they caused."""

    iterations: int
    ratio: float

    @property
    def effect(self) -> float:
        return self.ratio - 1.0


@dataclass(frozen=True)
class Calibration:
    steps: tuple[Step, ...]
    slope: float  # effect per iteration a call

    def iterations_for(self, effect: float) -> int:
        return _clamp(effect / self.slope)


def _clamp(iterations: float) -> int:
    return max(1, min(MAX_ITERATIONS, round(iterations)))


def fit_slope(steps: Sequence[Step]) -> float:
    """Least-squares slope through the origin of effect over iterations."""
    return sum(s.iterations * s.effect for s in steps) / sum(s.iterations**2 for s in steps)


def calibrate(
    targets: Sequence[float],
    measure: Callable[[int], float],
    *,
    describe: str,
    start: int = _START,
) -> Calibration:
    """Fit effect ≈ slope · iterations with `measure(iterations) -> ratio`.

    `describe` names the work and the benchmark for the error raised when even the largest
    loop does not show (the benchmark does not call the function).
    """
    largest = max(targets)
    threshold = max(largest / 3.0, MIN_MEASURABLE)
    steps: list[Step] = []
    iterations = min(start, MAX_ITERATIONS)
    while True:
        steps.append(Step(iterations, measure(iterations)))
        if steps[-1].effect >= threshold:
            break
        if iterations >= MAX_ITERATIONS:
            raise GateError(
                f"{describe} does not measurably slow it down ({steps[-1].effect * 100:+.1f} % "
                f"with {iterations:,} iterations a call): the benchmark does not call that "
                "function — choose another --inject or --benchmark"
            )
        iterations = min(iterations * _GROWTH, MAX_ITERATIONS)
    for _ in range(_AIMS):
        last = steps[-1]
        if abs(last.effect - largest) <= _CLOSE_ENOUGH * largest:
            break
        # Aim from the last step alone (a secant): an early probe's noise must not keep
        # pulling the estimate. At most a factor of 8 a step, as in the probes.
        factor = largest / last.effect if last.effect > 0 else _GROWTH
        aim = _clamp(last.iterations * min(max(factor, 1.0 / _GROWTH), _GROWTH))
        if aim == last.iterations:
            break
        steps.append(Step(aim, measure(aim)))
    # The slope from the largest loops, where the effect stands furthest above the noise.
    top = max(s.iterations for s in steps)
    slope = fit_slope([s for s in steps if 2 * s.iterations >= top])
    if not (math.isfinite(slope) and slope > 0):
        raise GateError(
            f"{describe}: the calibration measured no consistent slowdown "
            f"({', '.join(f'{s.iterations:,} → {s.effect * 100:+.1f} %' for s in steps)}) — "
            "the benchmark is too noisy here; pass --calibration-processes with more, or "
            "--iterations K"
        )
    return Calibration(steps=tuple(steps), slope=slope)


@dataclass(frozen=True)
class Effect:
    """A measured effect on one benchmark: slowed copy over unchanged copy."""

    benchmark: str
    ratio: float  # Hodges-Lehmann ratio (the gate's estimate), cpu_bound normalized like the gate
    # 95 % rank interval of that ratio (2.5 % each side); None where too few processes for it
    interval: tuple[float | None, float | None]
    raw_ratio: float  # ratio of the medians as measured (no calibration-loop normalization)
    processes: int  # per side


def _effect(
    name: str,
    base: Sequence[float],
    cur: Sequence[float],
    base_raw: Mapping[str, BenchmarkResult],
    cur_raw: Mapping[str, BenchmarkResult],
) -> Effect:
    # The same estimator and rank bounds the gate decides with, so "true effect" and the
    # gate's "change" column are the same statistic of different measurements.
    summary = rank_summary(base, cur, _TWO_SIDED_95)
    return Effect(
        benchmark=name,
        ratio=summary.ratio,
        interval=(summary.low, summary.high),
        raw_ratio=ratio_of_medians(base_raw[name].samples, cur_raw[name].samples),
        processes=min(len(base), len(cur)),
    )


def effects(
    runs: Mapping[str, Sequence[ProcessRun]],
    unchanged: Side,
    slowed: Sequence[Side],
    names: Sequence[str] | None = None,
) -> dict[str, dict[str, Effect]]:
    """Per slowed side (label), per benchmark: the effect against `unchanged`.

    `names`: only these benchmarks (default: every one measured on both sides).
    """
    every = [run for side in (unchanged, *slowed) for run in runs[side.label]]
    reference = reference_calibration(every)
    base = merge_side(unchanged, runs[unchanged.label], reference=reference)
    base_raw = merge_processes(runs[unchanged.label])
    out: dict[str, dict[str, Effect]] = {}
    for side in slowed:
        cur = merge_side(side, runs[side.label], reference=reference)
        cur_raw = merge_processes(runs[side.label])
        common = sorted(set(base) & set(cur))
        wanted = common if names is None else [n for n in names if n in common]
        out[side.label] = {
            name: _effect(name, base[name].samples, cur[name].samples, base_raw, cur_raw)
            for name in wanted
        }
    return out
