"""gate.quality.tally and .report: counting fake verdict.json files, and the tables."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from agui_perf.gate.decide.compare import compare
from agui_perf.gate.decide.count_compare import compare_counts
from agui_perf.gate.decide.verdict import AcceptedState, decide, error_verdict
from agui_perf.gate.quality.cases import UNCHANGED, plan_cases
from agui_perf.gate.quality.gate_runs import GateRun, read_verdict
from agui_perf.gate.quality.inject import Work
from agui_perf.gate.quality.measure import Calibration, Effect, Step
from agui_perf.gate.quality.report import (
    CaseResult,
    Report,
    benchmarks_table,
    report_json,
    report_markdown,
    write_report,
)
from agui_perf.gate.quality.tally import STATES, tally
from agui_perf.gate.store.config import Settings
from agui_perf.gate.store.results import CountResult, Counts
from tests._support.results import make_memory, make_results

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

FOUND = AcceptedState(found=True, baseline_path="baselines/x.json", commit="c" * 40)


def _samples(center: float, seed: int) -> list[float]:
    return list(center * np.random.default_rng(seed).lognormal(0.0, 0.01, 8))


def real_verdict(shift: float, seed: int, *, peak: int = 1_000_000) -> dict[str, object]:
    """A verdict.json as the gate writes it: `enc` shifted by `shift`, `io` unchanged."""
    base = make_results(
        {"enc": _samples(1.0, seed), "io": _samples(2.0, seed + 1)}, [make_memory("m")]
    )
    cur = make_results(
        {"enc": _samples(shift, seed + 2), "io": _samples(2.0, seed + 3)},
        [make_memory("m", peak_bytes=peak)],
    )
    comparison = compare(base, cur, Settings(), accepted_found=True)
    return decide(comparison, (), FOUND, Settings()).to_json()


def counted_verdict(serve: int, encode: int) -> dict[str, object]:
    """A verdict.json with instruction counts: `serve` and `encode` instructions per call
    against 1,000 each on the accepted side; timing and memory unchanged."""

    def side(counts: dict[str, int]) -> Any:
        results = make_results({"enc": _samples(1.0, 1)}, [make_memory("m")])
        benchmarks = {name: CountResult(name, value * 20, 20) for name, value in counts.items()}
        return dataclasses.replace(
            results, counts=Counts(benchmarks=benchmarks, tool="valgrind-3.19.0", missing=None)
        )

    base, cur = side({"serve": 1000, "encode": 1000}), side({"serve": serve, "encode": encode})
    comparison = compare(base, cur, Settings(), accepted_found=True)
    counts = compare_counts(base, cur, Settings(), accepted_found=True)
    return decide(comparison, (), FOUND, Settings(), counts).to_json()


def write_run(
    folder: Path, verdict: object | None, *, status: int = 0, log: str = "", wall: float = 60.0
) -> GateRun:
    """A gate run's folder as the gate leaves it, read back the way the harness reads it."""
    folder.mkdir(parents=True)
    (folder / "gate.log").write_text(log, encoding="utf-8")
    if verdict is not None:
        text = verdict if isinstance(verdict, str) else json.dumps(verdict)
        (folder / "verdict.json").write_text(text, encoding="utf-8")
    parsed, error = read_verdict(folder, status)
    return GateRun("case", 1, status, wall, folder, folder / "gate.log", parsed, error)


def entry(name: str, state: str, ratio: float | None = 1.0, **more: Any) -> dict[str, Any]:
    return {"name": name, "state": state, "ratio": ratio, "advisory": False, **more}


def fake(benchmarks: Sequence[object], overall: str = "pass", **more: Any) -> dict[str, Any]:
    """A verdict.json of some future schema: unknown keys and states included."""
    return {
        "schema_version": 7,
        "overall": overall,
        "headline": f"{overall.upper()}: …",
        "benchmarks": list(benchmarks),
        "memory": [],
        "detectable_change": {"enc": 0.03},
        **more,
    }


def test_real_verdicts_are_tallied(tmp_path: Path) -> None:
    runs = [
        write_run(tmp_path / "r1", real_verdict(1.30, 10, peak=1_100_000), status=1),
        write_run(tmp_path / "r2", real_verdict(1.30, 20)),
        write_run(tmp_path / "r3", real_verdict(1.00, 30)),
    ]
    assert [r.overall for r in runs] == ["fail", "fail", "pass"]
    result = tally(runs)
    assert (result.runs, result.failed_runs, result.errors) == (3, 2, 0)
    rows = {(row.kind, row.name): row for row in result.rows}
    assert list(rows) == [("timing", "enc"), ("timing", "io"), ("memory", "m")]
    enc = rows["timing", "enc"]
    assert enc.runs == 3
    assert enc.failed == 2  # a regression (not advisory) fails the run
    assert enc.states == {"regression": 2, "unchanged": 1}
    assert enc.gate_ratio == pytest.approx(sorted(enc.ratios)[1])
    assert enc.gate_ratio == pytest.approx(1.30, rel=0.05)
    assert rows["timing", "io"].states == {"unchanged": 3}
    memory = rows["memory", "m"]
    assert (memory.failed, memory.states) == (1, {"regression": 1, "unchanged": 2})
    assert result.wall_summary == (60.0, 60.0, 60.0)


def test_instruction_counts_are_rows_of_their_own(tmp_path: Path) -> None:
    runs = [
        write_run(tmp_path / "r1", counted_verdict(1250, 1000), status=1),
        write_run(tmp_path / "r2", counted_verdict(1050, 1000)),
        write_run(tmp_path / "r3", counted_verdict(1000, 1000)),
    ]
    assert [r.overall for r in runs] == ["fail", "pass", "pass"]
    result = tally(runs)
    rows = {(row.kind, row.name): row for row in result.rows}
    assert [key for key in rows if key[0] == "counts"] == [
        ("counts", "encode"),
        ("counts", "serve"),
    ]
    serve = rows["counts", "serve"]
    assert (serve.runs, serve.failed) == (3, 1)
    assert serve.states == {"regression": 1, "slower": 1, "unchanged": 1}
    assert serve.ratios == pytest.approx((1.25, 1.05, 1.0))
    assert rows["counts", "encode"].states == {"unchanged": 3}
    # The timing row of the same name stays apart from its count.
    assert rows["timing", "enc"].states == {"unchanged": 3}
    report = Report(
        head="f" * 40, accepted="HEAD", gate_args=(), runs=3, cases=(CaseResult(UNCHANGED, result),)
    )
    [line] = [line for line in benchmarks_table(report) if "instructions: serve" in line]
    assert " +5.0 % " in line  # the median of the three runs' count ratios


def test_unknown_states_and_fields_are_counted_not_trusted(tmp_path: Path) -> None:
    runs = [
        write_run(
            tmp_path / "r1",
            fake(
                [
                    entry("enc", "slower", 1.06),
                    entry("io", "faster", 0.95),
                    entry("new_one", "new", None),
                    {"name": "broken"},  # no state: skipped
                    {"state": "regression"},  # no name: skipped
                    "not an entry",
                ]
            ),
        ),
        write_run(
            tmp_path / "r2",
            fake([entry("enc", "regression", 1.2, advisory=True), entry("io", "mystery", 1.0)]),
        ),
        write_run(
            tmp_path / "r3", fake([entry("enc", "regression", 1.3)], overall="fail"), status=1
        ),
    ]
    result = tally(runs)
    assert result.errors == 0
    assert result.failed_runs == 1
    rows = {row.name: row for row in result.rows}
    assert set(rows) == {"enc", "io", "new_one"}
    assert rows["enc"].states == {"slower": 1, "regression": 2}
    assert rows["enc"].failed == 1  # the advisory regression did not fail its run
    assert rows["enc"].ratios == (1.06, 1.2, 1.3)
    assert rows["io"].other == {"mystery": 1}
    assert rows["io"].states["faster"] == 1
    assert rows["new_one"].gate_ratio is None
    assert rows["new_one"].other == {"new": 1}
    assert "slower" in STATES
    assert "faster" in STATES


def test_runs_without_a_verdict_are_errors(tmp_path: Path) -> None:
    gate_error = error_verdict("baseline 'x' is damaged — run nox -s update-baseline").to_json()
    runs = [
        write_run(tmp_path / "r1", gate_error, status=2, log="agui-perf gate perf: error: …\n"),
        write_run(tmp_path / "r2", None, status=-9, log="[perf] timing round 1/8\n"),
        write_run(tmp_path / "r3", "{not json", status=1),
        write_run(tmp_path / "r4", "[1, 2]", status=0),
        write_run(tmp_path / "r5", fake([entry("enc", "unchanged")]), status=-15),
        write_run(tmp_path / "r6", fake([entry("enc", "unchanged")])),
    ]
    assert runs[0].error == "baseline 'x' is damaged — run nox -s update-baseline"
    assert runs[1].error is not None
    assert runs[1].error.startswith("verdict '")
    assert runs[1].error.endswith("; its last line: [perf] timing round 1/8")
    assert runs[4].error is not None
    assert "exit status -15" in runs[4].error
    result = tally(runs)
    assert (result.runs, result.errors, result.failed_runs) == (6, 5, 0)
    assert len(result.error_lines) == 5
    assert [row.runs for row in result.rows] == [1]


def _report(tmp_path: Path) -> Report:
    cases = plan_cases(unchanged=True, work=Work.CPU, effects=[0.125])
    slowed = cases[1].__class__(**{**cases[1].__dict__, "iterations": 1234})
    aa_runs = (
        write_run(tmp_path / "a1", fake([entry("enc", "unchanged", 1.01)]), wall=100.0),
        write_run(tmp_path / "a2", fake([entry("enc", "slower", 1.04)]), wall=130.0),
    )
    slow_runs = (
        write_run(tmp_path / "s1", fake([entry("enc", "regression", 1.13)], "fail"), status=1),
        write_run(tmp_path / "s2", None, status=2, log="agui-perf gate perf: error: boom\n"),
    )
    effect = Effect("enc", 1.121, (1.10, 1.14), 1.13, 12)
    return Report(
        head="f" * 40,
        accepted="accepted commit ffffffffff is HEAD",
        gate_args=("--processes", "8"),
        runs=2,
        cases=(
            CaseResult(UNCHANGED, tally(aa_runs), aa_runs),
            CaseResult(slowed, tally(slow_runs), slow_runs, {"enc": effect}),
        ),
        inject="m:f",
        benchmark="enc",
        calibration=Calibration((Step(64, 1.01), Step(1234, 1.124)), 1e-4),
        effect_processes=12,
    )


def test_the_markdown_tables(tmp_path: Path) -> None:
    text = report_markdown(_report(tmp_path))
    lines = text.splitlines()
    assert lines[0].startswith("# verdict-quality")
    assert "`agui-perf gate perf --processes 8`, 2 runs a case" in text
    assert "64 → +1.0 %, 1,234 → +12.4 %" in text
    case_rows = [line for line in lines if line.startswith(("| unchanged", "| cpu +12.5 %"))]
    assert len(case_rows) == 4  # two in the cases table, one a benchmark row each
    aa, slow = case_rows[0], case_rows[1]
    cells = [c.strip() for c in slow.strip("|").split("|")]
    assert cells == [
        "cpu +12.5 %",
        "1,234",
        "+12.5 %",
        "+12.1 % (+10.0 % … +14.0 %)",
        "2",
        "1",
        "1",
        cells[-1],
    ]
    assert [c.strip() for c in aa.strip("|").split("|")][-1] == "1m40s / 1m55s / 2m10s"
    header = next(line for line in lines if line.startswith("| case") and "benchmark" in line)
    names = [c.strip() for c in header.strip("|").split("|")]
    assert names == [
        "case",
        "benchmark",
        "runs",
        "failed",
        *STATES,
        "other",
        "true effect",
        "gate ratio",
    ]
    bench = [c.strip() for c in case_rows[3].strip("|").split("|")]
    assert bench[:4] == ["cpu +12.5 %", "enc", "1", "1"]
    assert bench[4:10] == ["1", "0", "0", "0", "0", "0"]
    assert bench[-1] == "+13.0 %"
    assert "## Errors" in text
    assert "- cpu +12.5 %: boom" in text


def test_the_json_and_the_files(tmp_path: Path) -> None:
    report = _report(tmp_path / "runs")
    data = report_json(report)
    assert data["schema_version"] == 1
    cases = data["cases"]
    assert isinstance(cases, list)
    assert [c["id"] for c in cases] == ["unchanged", "cpu-12.5pct"]
    slow = cases[1]
    assert slow["iterations"] == 1234
    assert slow["true_effects"]["enc"]["ratio"] == 1.121
    assert slow["rows"][0]["states"] == {"regression": 1}
    assert [r["exit_code"] for r in slow["gate_runs"]] == [1, 2]
    markdown, json_path = write_report(tmp_path, report)
    assert markdown.read_text(encoding="utf-8") == report_markdown(report)
    assert json.loads(json_path.read_text(encoding="utf-8")) == json.loads(json.dumps(data))
