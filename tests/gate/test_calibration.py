from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from agui_perf.gate.measure._pytest_plugin import agui_perf_calibration as plugin
from agui_perf.gate.measure.calibration import (
    CALIBRATION_KEY,
    calibrate_runs,
    reference_calibration,
)
from agui_perf.gate.measure.runner import CALIBRATION_PLUGIN, PLUGIN_DIR
from agui_perf.gate.store.results import ProcessBenchmark, ProcessRun, merge_processes

if TYPE_CHECKING:
    from pathlib import Path


def run(origin: str, **benches: tuple[float, float | None]) -> ProcessRun:
    """A process: name -> (median seconds, calibration ns or None)."""
    return ProcessRun(
        origin=origin,
        benchmarks={
            name: ProcessBenchmark(
                name=name,
                figure=median,
                data=(median, median),
                extra_info={} if cal is None else {CALIBRATION_KEY: cal},
            )
            for name, (median, cal) in benches.items()
        },
    )


def test_the_plugin_and_the_gate_agree_on_the_key() -> None:
    assert plugin.CALIBRATION_KEY == CALIBRATION_KEY
    assert plugin.__name__.rsplit(".", 1)[-1] == CALIBRATION_PLUGIN
    assert (PLUGIN_DIR / f"{CALIBRATION_PLUGIN}.py").is_file()


def test_a_slow_phase_is_scaled_back() -> None:
    # Process 3 ran during a host slow phase: the benchmark and its calibration both 1.8x.
    runs = [
        run("p1", enc=(1.00e-6, 1000)),
        run("p2", enc=(1.01e-6, 1010)),
        run("p3", enc=(1.80e-6, 1800)),
    ]
    merged = merge_processes(calibrate_runs(runs))["enc"]
    assert max(merged.samples) / min(merged.samples) == pytest.approx(1.0, abs=1e-9)
    # Units stay seconds of a typical phase (reference = the median calibration, 1010 ns).
    assert merged.samples[0] == pytest.approx(1.00e-6 * 1010 / 1000)
    assert merged.rounds[2] == pytest.approx((1.01e-6, 1.01e-6))


def test_a_real_slowdown_survives_calibration() -> None:
    # Same calibration, slower code: the ratio must not be normalized away.
    fast = merge_processes(calibrate_runs([run("a", enc=(1.0e-6, 1000))]))["enc"]
    slow = merge_processes(calibrate_runs([run("b", enc=(1.15e-6, 1000))]))["enc"]
    assert slow.median / fast.median == pytest.approx(1.15)


def test_uncalibrated_and_half_calibrated_benchmarks_stay_raw() -> None:
    runs = [
        run("p1", paced=(0.086, None), mixed=(2.0, 1000), enc=(1e-6, 1000)),
        run("p2", paced=(0.087, None), mixed=(3.0, None), enc=(2e-6, 2000)),
    ]
    out = {r.origin: r for r in calibrate_runs(runs)}
    assert out["p1"].benchmarks["paced"].figure == 0.086
    assert out["p2"].benchmarks["mixed"].figure == 3.0
    assert out["p1"].benchmarks["mixed"].figure == 2.0
    # Reference: the median of every calibration figure (1000, 1000, 2000) = 1000 ns.
    assert out["p2"].benchmarks["enc"].figure == pytest.approx(2e-6 * 1000 / 2000)


def test_no_calibration_at_all_is_a_no_op() -> None:
    runs = [run("p1", x=(1.0, None))]
    assert reference_calibration(runs) is None
    assert calibrate_runs(runs) == runs


def test_bad_calibration_values_are_ignored() -> None:
    bench = ProcessBenchmark("x", 1.0, (1.0,), {CALIBRATION_KEY: "fast"})
    runs = [ProcessRun("p", {"x": bench})]
    assert calibrate_runs(runs) == runs


TOY_SUITE = """
import pytest

@pytest.mark.cpu_bound
def test_cpu(benchmark):
    benchmark(sum, range(100))

def test_paced(benchmark):
    benchmark(sum, range(10))
"""


def test_the_plugin_records_calibration_for_cpu_bound_benchmarks_only(tmp_path: Path) -> None:
    (tmp_path / "test_toy.py").write_text(TOY_SUITE)
    out = tmp_path / "out.json"
    env = {**os.environ, "PYTHONPATH": str(PLUGIN_DIR)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(tmp_path),
            f"--rootdir={tmp_path}",
            "-p",
            CALIBRATION_PLUGIN,
            "-p",
            "no:cacheprovider",
            "--strict-markers",  # the plugin registers cpu_bound itself
            "-q",
            "--benchmark-min-rounds=1",
            "--benchmark-max-time=0.001",
            f"--benchmark-json={out}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    infos = {b["name"]: b["extra_info"] for b in json.loads(out.read_text())["benchmarks"]}
    assert infos["test_cpu"][CALIBRATION_KEY] > 0
    assert CALIBRATION_KEY not in infos["test_paced"]


def test_one_reference_for_both_sides_corrects_a_side_that_was_slow_throughout() -> None:
    # The same code on both sides; the current side met a slow phase in every process.
    accepted = [run(f"a{i}", enc=(1.0e-6, 1000)) for i in range(4)]
    current = [run(f"c{i}", enc=(1.8e-6, 1800)) for i in range(4)]
    # Each side against its own median calibration keeps the phase as a difference ...
    own = [merge_processes(calibrate_runs(s))["enc"].median for s in (accepted, current)]
    assert own[1] / own[0] == pytest.approx(1.8)
    # ... one reference over both sides cancels it.
    reference = reference_calibration([*accepted, *current])
    both = [
        merge_processes(calibrate_runs(s, reference=reference))["enc"].median
        for s in (accepted, current)
    ]
    assert both[1] / both[0] == pytest.approx(1.0)
