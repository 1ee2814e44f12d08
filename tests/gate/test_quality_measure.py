"""gate.quality.measure and .progress: calibration arithmetic with a fake measurement, the
effect of fake processes, and the time left."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest

from agui_perf.gate.errors import GateError
from agui_perf.gate.measure.calibration import CALIBRATION_KEY
from agui_perf.gate.measure.runner import Side
from agui_perf.gate.quality.inject import MAX_ITERATIONS
from agui_perf.gate.quality.measure import MIN_MEASURABLE, Step, calibrate, effects, fit_slope
from agui_perf.gate.quality.progress import GATE_RUN, LOGGER, PROCESS, Progress
from agui_perf.gate.store.results import ProcessBenchmark, ProcessRun

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path


def linear(slope: float, noise: Mapping[int, float] | None = None) -> Callable[[int], float]:
    """A benchmark whose ratio grows by `slope` per iteration, plus fixed noise per count."""
    calls: list[int] = []

    def measure(iterations: int) -> float:
        calls.append(iterations)
        return 1.0 + slope * iterations + (noise or {}).get(iterations, 0.0)

    measure.calls = calls  # type: ignore[attr-defined]
    return measure


def test_a_linear_benchmark_is_hit_exactly() -> None:
    measure = linear(1e-4)  # +12.5 % at 1,250 iterations
    calibration = calibrate([0.125, 0.05], measure, describe="cpu work in m:f on b")
    assert calibration.iterations_for(0.125) == 1250
    assert calibration.iterations_for(0.05) == 500
    # Probes 64 (+0.6 %) and 512 (+5.1 %, above 12.5 % / 3), then one aim that lands.
    assert [s.iterations for s in calibration.steps] == [64, 512, 1250]
    assert calibration.slope == pytest.approx(1e-4)


def test_noise_in_the_probes_is_outweighed_by_the_aimed_steps() -> None:
    # The first probe reads +6 % where the truth is +0.6 %: its small count barely weighs
    # in the least-squares fit, and the aimed step corrects the estimate.
    measure = linear(1e-4, noise={64: 0.06})
    calibration = calibrate([0.125], measure, describe="x")
    assert calibration.steps[0].effect == pytest.approx(0.0664)
    assert abs(calibration.iterations_for(0.125) - 1250) <= 40


def test_a_loop_that_changes_nothing_is_reported() -> None:
    def measure(iterations: int) -> float:
        return 1.001

    with pytest.raises(GateError) as caught:
        calibrate([0.05], measure, describe="cpu work in m:f on bench")
    message = str(caught.value)
    assert message.startswith("cpu work in m:f on bench does not measurably slow it down")
    assert f"{MAX_ITERATIONS:,} iterations a call" in message
    assert "choose another --inject or --benchmark" in message


def test_the_iterations_stay_in_range() -> None:
    # A function called so often that one iteration already overshoots.
    calibration = calibrate([0.01], linear(0.5), describe="x", start=1)
    assert calibration.iterations_for(0.01) == 1
    assert calibration.iterations_for(10.0) == 20


def test_fit_slope_is_least_squares_through_the_origin() -> None:
    steps = [Step(100, 1.01), Step(1000, 1.12)]
    assert fit_slope(steps) == pytest.approx((100 * 0.01 + 1000 * 0.12) / (100**2 + 1000**2))
    assert MIN_MEASURABLE > 0


def _run(origin: str, medians: Mapping[str, float], calibration: float | None) -> ProcessRun:
    info = {} if calibration is None else {CALIBRATION_KEY: calibration}
    return ProcessRun(
        origin=origin,
        benchmarks={
            name: ProcessBenchmark(
                name=name, figure=m, data=(m * 0.99, m, m * 1.01), extra_info=info
            )
            for name, m in medians.items()
        },
    )


def test_effects_of_fake_processes(tmp_path: Path) -> None:
    unchanged = Side("unchanged", tmp_path / "u", "unchanged")
    slow = Side("cpu-10pct", tmp_path / "s", "cpu +10 %")
    runs = {
        "unchanged": [_run("u", {"a": 1.0 + i / 100, "b": 2.0}, None) for i in range(5)],
        "cpu-10pct": [_run("s", {"a": 1.1 + i / 100, "b": 2.0}, None) for i in range(5)],
    }
    measured = effects(runs, unchanged, [slow])
    assert set(measured) == {"cpu-10pct"}
    a = measured["cpu-10pct"]["a"]
    # The gate's estimator: the median of all process-to-process ratios (Hodges-Lehmann).
    pairs = sorted((1.1 + j / 100) / (1.0 + i / 100) for i in range(5) for j in range(5))
    assert a.ratio == pytest.approx(pairs[12])
    assert a.raw_ratio == pytest.approx(1.12 / 1.02)  # ratio of medians, no normalization
    low, high = a.interval
    assert low is not None
    assert high is not None
    assert low <= a.ratio <= high
    assert a.processes == 5
    assert measured["cpu-10pct"]["b"].ratio == pytest.approx(1.0)
    assert set(effects(runs, unchanged, [slow], ["a", "missing"])["cpu-10pct"]) == {"a"}


def test_effects_normalize_cpu_bound_benchmarks_like_the_gate(tmp_path: Path) -> None:
    # The slowed copy ran in a host phase twice as slow (its calibration loop says so): the
    # normalized effect is the code's, the raw one is the host's.
    unchanged = Side("unchanged", tmp_path / "u", "unchanged")
    slow = Side("slow", tmp_path / "s", "slow")
    runs = {
        "unchanged": [_run("u", {"a": 1.0}, 100.0) for _ in range(3)],
        "slow": [_run("s", {"a": 2.2}, 200.0) for _ in range(3)],
    }
    a = effects(runs, unchanged, [slow])["slow"]["a"]
    assert a.ratio == pytest.approx(1.1)
    assert a.raw_ratio == pytest.approx(2.2)


def test_time_left(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    now = [0.0]
    progress = Progress(clock=lambda: now[0])
    assert progress.left() == "estimating time left"
    progress.plan(PROCESS, 4)
    progress.plan(GATE_RUN, 3)
    assert progress.left() == "estimating time left"

    def work() -> int:
        now[0] += 10.0
        return 0

    assert progress.timed(PROCESS, work) == 0
    assert progress.left() == "~30s left + 3 gate runs not timed yet"
    progress.done(GATE_RUN, 120.0)
    assert progress.left() == "~4m30s left"
    progress.say("hello")
    assert [(r.name, r.getMessage()) for r in caplog.records] == [(LOGGER, "hello")]
