"""The closing table: every target's figures in one run, side by side.

Each run a test makes through `agui_run` is recorded here under what it measured (target,
path, body) and the test that asked for it; at the end of the session the plugin prints one
row per (test, target) with the median of each figure over those runs, so two apps measured
by one parametrized test stand in adjacent rows. Runs held at once (`agui_run.concurrent`)
get rows of their own: a run under load is not the same measurement as a run alone.

Plain data and string formatting: nothing here starts, reads or times anything.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from agui_perf.suite.figures import RunFigures

__all__ = ["COLUMNS", "TITLE", "Row", "Tally", "format_table"]

TITLE: Final = "agui-perf service suite"
#: The table's header, in order; times in milliseconds.
COLUMNS: Final = (
    "test",
    "target",
    "runs",
    "events",
    "bytes",
    "ttfe ms",
    "ttfc ms",
    "gap p50",
    "gap p95",
    "gap p99",
    "gap max",
    "duration ms",
    "events/s",
    "verified",
    "framing",
)
_NUMERIC: Final = frozenset(COLUMNS[2:13])


@dataclass(frozen=True, slots=True)
class _Key:
    label: str
    target: str
    path: str
    body: bytes


@dataclass
class Tally:
    """The runs of this session, grouped by what they measured, in the order first seen."""

    _runs: dict[_Key, list[RunFigures]] = field(default_factory=dict)

    def add(self, label: str, target: str, path: str, body: bytes, run: RunFigures) -> None:
        """Record one run `label` (the test, and how) made of `target` at `path`."""
        self._runs.setdefault(_Key(label, target, path, body), []).append(run)

    def __bool__(self) -> bool:
        return bool(self._runs)

    def rows(self) -> list[Row]:
        """One row per (label, target, path, body): rows of one label together, first seen first."""
        labels = list(dict.fromkeys(key.label for key in self._runs))
        ordered = sorted(self._runs.items(), key=lambda item: labels.index(item[0].label))
        return [Row.of(key.label, f"{key.target} {key.path}", runs) for key, runs in ordered]


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table: medians over a group of runs (the largest gap: the maximum)."""

    label: str
    target: str
    runs: int
    events: float
    bytes: float
    ttfe_s: float | None
    ttfc_s: float | None
    gap_p50_s: float | None
    gap_p95_s: float | None
    gap_p99_s: float | None
    gap_max_s: float | None
    duration_s: float
    events_per_s: float | None
    verified: int
    framing_ok: int
    line_ends: tuple[str, ...]

    @classmethod
    def of(cls, label: str, target: str, runs: Sequence[RunFigures]) -> Row:
        gap_maxes = [run.gap_max_s for run in runs if run.gap_max_s is not None]
        return cls(
            label=label,
            target=target,
            runs=len(runs),
            events=statistics.median(run.events for run in runs),
            bytes=statistics.median(run.bytes for run in runs),
            ttfe_s=_median(run.ttfe_s for run in runs),
            ttfc_s=_median(run.ttfc_s for run in runs),
            gap_p50_s=_median(run.gap_p50_s for run in runs),
            gap_p95_s=_median(run.gap_p95_s for run in runs),
            gap_p99_s=_median(run.gap_p99_s for run in runs),
            gap_max_s=max(gap_maxes) if gap_maxes else None,
            duration_s=statistics.median(run.duration_s for run in runs),
            events_per_s=_median(run.events_per_s for run in runs),
            verified=sum(run.verified for run in runs),
            framing_ok=sum(run.framing_ok for run in runs),
            line_ends=tuple(sorted({end for run in runs for end in run.line_ends})),
        )

    def cells(self) -> tuple[str, ...]:
        return (
            self.label,
            self.target,
            str(self.runs),
            f"{self.events:g}",
            f"{self.bytes:,.0f}",
            *(
                _ms(value)
                for value in (
                    self.ttfe_s,
                    self.ttfc_s,
                    self.gap_p50_s,
                    self.gap_p95_s,
                    self.gap_p99_s,
                    self.gap_max_s,
                    self.duration_s,
                )
            ),
            "-" if self.events_per_s is None else f"{self.events_per_s:,.0f}",
            _share(self.verified, self.runs, "yes"),
            _share(self.framing_ok, self.runs, "ok")
            + ("" if self.line_ends in ((), ("LF",)) else f" ({','.join(self.line_ends)})"),
        )


def _median(values: Iterable[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:.2f}"


def _share(count: int, runs: int, word: str) -> str:
    """`word` when every run passed, else how many did: `NO 3/5` reads as a failure."""
    return word if count == runs else f"NO {count}/{runs}"


def format_table(rows: Sequence[Row]) -> list[str]:
    """The rows under a header, columns aligned (text left, numbers right)."""
    table = [COLUMNS, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(width) if name in _NUMERIC else cell.ljust(width)
            for name, cell, width in zip(COLUMNS, cells, widths, strict=True)
        ).rstrip()

    return [line(COLUMNS), *(line(cells) for cells in table[1:])]
