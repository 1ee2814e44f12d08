"""Count what the gate said over the runs of one case: per benchmark, memory scenario and count.

Reads each run's `verdict.json` as plain data and tolerates what it does not know: states are
counted as the strings they are (a newer gate may add some, e.g. `slower`/`faster`), and an
entry without a name or a state is skipped rather than trusted. A run that ended without a
verdict counts as an error of the case, not as a row state.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from agui_perf.gate.quality.gate_runs import GateRun

__all__ = ["STATES", "CaseTally", "Row", "tally"]

#: The timing states in the order the table shows them; any other state goes under "other".
STATES = ("regression", "slower", "unchanged", "inconclusive", "improvement", "faster")


@dataclass(frozen=True)
class Row:
    """One row over a case's runs: a benchmark's timing (kind "timing"), a memory scenario
    ("memory") or a benchmark's instruction count ("counts", its ratio current / baseline)."""

    kind: str
    name: str
    runs: int  # runs whose verdict has this row
    failed: int  # runs in which this row failed the run
    states: Mapping[str, int]  # every state seen, by name
    ratios: tuple[float, ...] = ()  # the gate's ratio of medians, one per run that had one

    @property
    def gate_ratio(self) -> float | None:
        """Median over the runs of the gate's measured ratio."""
        return statistics.median(self.ratios) if self.ratios else None

    @property
    def other(self) -> dict[str, int]:
        return {state: n for state, n in self.states.items() if state not in STATES}


@dataclass(frozen=True)
class CaseTally:
    runs: int  # gate runs started
    failed_runs: int  # runs whose verdict failed (exit 1)
    errors: int  # runs without a usable verdict (exit 2, a crash)
    wall_s: tuple[float, ...]  # wall time of every run, seconds
    rows: tuple[Row, ...]
    error_lines: tuple[str, ...] = field(default_factory=tuple)

    @property
    def wall_summary(self) -> tuple[float, float, float] | None:
        """(min, median, max) wall time per gate run."""
        if not self.wall_s:
            return None
        return min(self.wall_s), statistics.median(self.wall_s), max(self.wall_s)


def _entries(verdict: Mapping[str, object], key: str) -> list[Mapping[str, object]]:
    value = verdict.get(key)
    if not isinstance(value, list):
        return []
    return [entry for entry in value if isinstance(entry, dict)]


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


class _Acc:
    def __init__(self) -> None:
        self.runs = 0
        self.failed = 0
        self.states: Counter[str] = Counter()
        self.ratios: list[float] = []


def _count_rows(verdict: Mapping[str, object]) -> list[Mapping[str, object]]:
    counts = verdict.get("counts")
    if not isinstance(counts, dict):
        return []
    return _entries(counts, "rows")


def tally(runs: Sequence[GateRun]) -> CaseTally:
    """The case's rows from its gate runs: benchmarks (by name) first, then memory, then counts."""
    timing: dict[str, _Acc] = {}
    memory: dict[str, _Acc] = {}
    counts: dict[str, _Acc] = {}
    failed_runs = errors = 0
    error_lines: list[str] = []
    for run in runs:
        verdict = run.verdict
        if verdict is None or run.error is not None or run.overall == "error":
            errors += 1
            error_lines.append(run.error or f"exit {run.exit_code} without an error line")
            continue
        if run.overall == "fail":
            failed_runs += 1
        for entry in _entries(verdict, "benchmarks"):
            name, state = entry.get("name"), entry.get("state")
            if not isinstance(name, str) or not isinstance(state, str):
                continue
            acc = timing.setdefault(name, _Acc())
            acc.runs += 1
            acc.states[state] += 1
            acc.failed += state == "regression" and entry.get("advisory") is not True
            ratio = _number(entry.get("ratio"))
            if ratio is not None:
                acc.ratios.append(ratio)
        for key, found, accs in (
            ("scenario", _entries(verdict, "memory"), memory),
            ("benchmark", _count_rows(verdict), counts),
        ):
            for entry in found:
                name, state = entry.get(key), entry.get("state")
                if not isinstance(name, str) or not isinstance(state, str):
                    continue
                acc = accs.setdefault(name, _Acc())
                acc.runs += 1
                acc.states[state] += 1
                failing = entry.get("failing")
                if not isinstance(failing, bool):
                    failing = state == "regression"
                acc.failed += failing
                change = _number(entry.get("change"))
                if accs is counts and change is not None:
                    acc.ratios.append(1.0 + change)
    rows = [
        Row(kind, name, acc.runs, acc.failed, dict(acc.states), tuple(acc.ratios))
        for kind, accs in (("timing", timing), ("memory", memory), ("counts", counts))
        for name, acc in sorted(accs.items())
    ]
    return CaseTally(
        runs=len(runs),
        failed_runs=failed_runs,
        errors=errors,
        wall_s=tuple(run.wall_s for run in runs),
        rows=tuple(rows),
        error_lines=tuple(error_lines),
    )
