"""The harness's result as tables: Markdown (printed and written) and JSON.

Two tables. Cases: one row per case with the injected iterations, the target and the true
effect on the named benchmark, how many gate runs failed or erred, and the wall time per gate
run. Benchmarks: one row per case and benchmark (and memory scenario) with the count of every
state the gate gave it, the true effect measured apart from the gate, and the gate's own
ratio (median over the runs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agui_perf.gate._io import atomic_write_text, dump_json
from agui_perf.gate.measure.runner import format_duration
from agui_perf.gate.quality.tally import STATES

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from agui_perf.gate.quality.cases import Case
    from agui_perf.gate.quality.gate_runs import GateRun
    from agui_perf.gate.quality.measure import Calibration, Effect
    from agui_perf.gate.quality.tally import CaseTally, Row

__all__ = [
    "CaseResult",
    "Report",
    "format_effect",
    "report_json",
    "report_markdown",
    "write_report",
]

QUALITY_SCHEMA_VERSION = 1
_NONE = "—"


@dataclass(frozen=True)
class CaseResult:
    case: Case
    tally: CaseTally
    runs: tuple[GateRun, ...] = ()
    effects: Mapping[str, Effect] = field(default_factory=dict)  # true effects by benchmark


@dataclass(frozen=True)
class Report:
    head: str  # the commit the copies were made from
    accepted: str  # how the gate runs chose their accepted side (gate_ref's reason)
    gate_args: tuple[str, ...]  # passed to every gate run (besides --out)
    runs: int  # gate runs per case
    cases: tuple[CaseResult, ...]
    inject: str | None = None  # module:qualname
    benchmark: str | None = None  # the benchmark the effects are sized and measured on
    calibration: Calibration | None = None
    effect_processes: int = 0  # processes a side of the true-effect measurement
    dirty: bool = False  # the project had uncommitted changes the copies do not hold


def _pct(ratio: float | None) -> str:
    return _NONE if ratio is None else f"{(ratio - 1.0) * 100:+.1f} %"


def format_effect(effect: Effect | None) -> str:
    """`+12.3 % (+10.1 … +14.0 %)`: the estimate and its 95 % interval; "—" when absent."""
    if effect is None:
        return _NONE
    low, high = effect.interval
    return f"{_pct(effect.ratio)} ({_pct(low)} … {_pct(high)})"


def _wall(tally: CaseTally) -> str:
    summary = tally.wall_summary
    if summary is None:
        return _NONE
    return " / ".join(format_duration(s) for s in summary)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A Markdown pipe table with padded columns, readable as plain text too."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(f"{c:<{w}}" for c, w in zip(cells, widths, strict=True)) + " |"

    return [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)]


def _states(row: Row) -> list[str]:
    other = row.other
    extra = ", ".join(f"{n} {state}" for state, n in sorted(other.items()))
    return [str(row.states.get(state, 0)) for state in STATES] + [extra or "0"]


def cases_table(report: Report) -> list[str]:
    header = [
        "case",
        "iterations",
        "target",
        f"true effect{f' on {report.benchmark}' if report.benchmark else ''}",
        "runs",
        "failed runs",
        "errors",
        "wall per gate run (min / median / max)",
    ]
    rows = []
    for result in report.cases:
        case = result.case
        rows.append(
            [
                case.label,
                _NONE if case.iterations is None else f"{case.iterations:,}",
                _NONE if case.target_effect is None else f"+{case.target_effect * 100:.4g} %",
                format_effect(result.effects.get(report.benchmark or "")),
                str(result.tally.runs),
                str(result.tally.failed_runs),
                str(result.tally.errors),
                _wall(result.tally),
            ]
        )
    return _table(header, rows)


def benchmarks_table(report: Report) -> list[str]:
    header = ["case", "benchmark", "runs", "failed", *STATES, "other", "true effect", "gate ratio"]
    rows = []
    for result in report.cases:
        for row in result.tally.rows:
            name = {"memory": f"memory: {row.name}", "counts": f"instructions: {row.name}"}.get(
                row.kind, row.name
            )
            effect = result.effects.get(row.name) if row.kind == "timing" else None
            rows.append(
                [
                    result.case.label,
                    name,
                    str(row.runs),
                    str(row.failed),
                    *_states(row),
                    format_effect(effect),
                    _pct(row.gate_ratio),
                ]
            )
    return _table(header, rows)


def _calibration_line(calibration: Calibration) -> str:
    steps = ", ".join(f"{s.iterations:,} → {_pct(s.ratio)}" for s in calibration.steps)
    return (
        f"calibration (iterations → effect): {steps}; {calibration.slope * 100:.3g} % an iteration"
    )


def report_markdown(report: Report) -> str:
    lines = ["# verdict-quality: the gate measured on unchanged and slowed-down copies", ""]
    gate = " ".join(["agui-perf gate perf", *report.gate_args])
    dirty = " (uncommitted changes not included)" if report.dirty else ""
    lines.append(
        f"Copies of {report.head[:10]}{dirty}; `{gate}`, "
        f"{report.runs} run{'' if report.runs == 1 else 's'} a case; "
        f"{report.accepted}."
    )
    if report.inject:
        sized = f", sized on `{report.benchmark}`" if report.benchmark else ""
        lines.append(f"Slowdown injected into `{report.inject}`{sized}.")
    if report.calibration:
        lines.append(_calibration_line(report.calibration) + ".")
    if report.effect_processes:
        lines.append(
            f"True effect: Hodges-Lehmann ratio slowed / unchanged, {report.effect_processes} "
            "fresh processes a side, interleaved (95 % rank interval)."
        )
    lines += ["", "## Cases", "", *cases_table(report), "", "## Benchmarks", ""]
    lines += benchmarks_table(report)
    errors = [(r.case.label, line) for r in report.cases for line in r.tally.error_lines]
    if errors:
        lines += ["", "## Errors", ""]
        lines += [f"- {label}: {line}" for label, line in errors]
    return "\n".join(lines) + "\n"


def _effect_json(effect: Effect) -> dict[str, object]:
    return {
        "ratio": effect.ratio,
        "interval": list(effect.interval),
        "raw_ratio": effect.raw_ratio,
        "processes": effect.processes,
    }


def _row_json(row: Row, effect: Effect | None) -> dict[str, object]:
    return {
        "kind": row.kind,
        "name": row.name,
        "runs": row.runs,
        "failed": row.failed,
        "states": dict(row.states),
        "gate_ratios": list(row.ratios),
        "gate_ratio_median": row.gate_ratio,
        "true_effect": _effect_json(effect) if effect else None,
    }


def _run_json(run: GateRun) -> dict[str, object]:
    return {
        "run": run.run,
        "exit_code": run.exit_code,
        "overall": run.overall,
        "wall_s": run.wall_s,
        "report": str(run.out),
        "log": str(run.log),
        "error": run.error,
    }


def report_json(report: Report) -> dict[str, object]:
    calibration = report.calibration
    return {
        "schema_version": QUALITY_SCHEMA_VERSION,
        "head": report.head,
        "dirty": report.dirty,
        "accepted": report.accepted,
        "gate_args": list(report.gate_args),
        "runs_per_case": report.runs,
        "inject": report.inject,
        "benchmark": report.benchmark,
        "effect_processes": report.effect_processes,
        "calibration": None
        if calibration is None
        else {
            "slope_per_iteration": calibration.slope,
            "steps": [{"iterations": s.iterations, "ratio": s.ratio} for s in calibration.steps],
        },
        "cases": [
            {
                "id": r.case.id,
                "label": r.case.label,
                "work": None if r.case.work is None else str(r.case.work),
                "iterations": r.case.iterations,
                "target_effect": r.case.target_effect,
                "runs": r.tally.runs,
                "failed_runs": r.tally.failed_runs,
                "errors": r.tally.errors,
                "wall_s": list(r.tally.wall_s),
                "true_effects": {name: _effect_json(e) for name, e in sorted(r.effects.items())},
                "rows": [
                    _row_json(row, r.effects.get(row.name) if row.kind == "timing" else None)
                    for row in r.tally.rows
                ],
                "gate_runs": [_run_json(run) for run in r.runs],
            }
            for r in report.cases
        ],
    }


def write_report(out: Path, report: Report) -> tuple[Path, Path]:
    """`quality.md` and `quality.json` in `out`, each written atomically."""
    markdown, data = out / "quality.md", out / "quality.json"
    atomic_write_text(data, dump_json(report_json(report)))
    atomic_write_text(markdown, report_markdown(report))
    return markdown, data
