"""The baseline's history in git: what it held at each commit that changed it, and this run.

Every commit that changed `baselines/<key>.json` holds a complete measurement, so git already
has the trend a reviewer wants to see (has a benchmark been creeping for ten pull requests?).
`read_history` reads it with git alone, no network: `git log -n N -- <file>` for the commits,
`git show <commit>:<file>` for each version, bounded to the last N (`--history N`, default
30). Each version
is read by the baseline's own reader, so an older schema it still reads is read; a version it
cannot read (damaged, an unknown schema version) becomes a skipped point with the reason, never
a failed run. What cannot be seen at all (no git, not a repository, a file never committed)
and what is cut (a shallow clone, more commits than N) is said in `History.notes`.

Per point the values are plain numbers keyed by metric and row name (`Metric`): the median
time per call of each benchmark (its server-CPU rows too), the peak bytes and the allocation
count of each memory scenario, the instructions per call of each counted benchmark. Each
point keeps its environment fingerprint, so the report can mark where it changes: a timing
stored on another machine is not comparable with one taken here, and the trend must say so
rather than draw it as a change.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from agui_perf.gate._io import parse_json_text
from agui_perf.gate.errors import GateError
from agui_perf.gate.measure.worktree import (
    SHALLOW_HINT,
    GitError,
    git_output,
    open_repository,
    shallow_commits,
)
from agui_perf.gate.store.baseline import BASELINE_HINT, baseline_from_json
from agui_perf.gate.store.environment import environment_key, environment_to_json

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from agui_perf.gate.measure.worktree import Repository
    from agui_perf.gate.store.environment import Environment
    from agui_perf.gate.store.results import Results

__all__ = [
    "CURRENT_LABEL",
    "History",
    "HistoryPoint",
    "Metric",
    "read_history",
    "with_current",
]

#: The label of the point that is this run.
CURRENT_LABEL = "current"
_SHORT = 7


class Metric(enum.StrEnum):
    """What a trend value is; one chart or table per metric."""

    TIME = "time"  # median time per call, seconds
    PEAK = "peak"  # memray peak, bytes
    ALLOCATIONS = "allocations"  # memray allocation count
    INSTRUCTIONS = "instructions"  # callgrind instructions per call


@dataclass(frozen=True)
class HistoryPoint:
    """One version of the baseline file (or this run): its values, or why it has none."""

    commit: str  # the commit that changed the file; for this run its HEAD ("" outside git)
    date: str  # committer date, ISO 8601 ("" for this run)
    subject: str
    values: Mapping[Metric, Mapping[str, float]] = field(default_factory=dict)
    environment: Environment | None = None  # None when skipped
    counter: str = ""  # what counted its instructions (`Counts.tool`); "" when none
    source: str = ""  # the commit the file says it measured
    skipped: str | None = None  # why this version could not be read
    boundary: bool = False  # a shallow clone's boundary: history before it was not fetched
    current: bool = False  # this run, not a commit

    @property
    def label(self) -> str:
        return CURRENT_LABEL if self.current else self.commit[:_SHORT]


@dataclass(frozen=True)
class History:
    """The points oldest first (this run last, when added), and what limits them."""

    baseline_path: str
    limit: int
    points: tuple[HistoryPoint, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def readable(self) -> tuple[HistoryPoint, ...]:
        """The points that have values: the ones the trend draws."""
        return tuple(p for p in self.points if p.skipped is None)

    @property
    def skipped(self) -> tuple[HistoryPoint, ...]:
        return tuple(p for p in self.points if p.skipped is not None)

    @property
    def commits(self) -> int:
        """How many commits were read (skipped ones included, this run not)."""
        return sum(not p.current for p in self.points)

    def names(self, metric: Metric) -> list[str]:
        """Every row of `metric` at any readable point, sorted."""
        return sorted({name for p in self._drawn(metric) for name in p.values.get(metric, {})})

    def series(self, metric: Metric, name: str) -> list[float | None]:
        """The row's value at each readable point (None where it did not exist)."""
        drawn = {id(p) for p in self._drawn(metric)}
        return [
            p.values.get(metric, {}).get(name) if id(p) in drawn else None for p in self.readable
        ]

    def _drawn(self, metric: Metric) -> list[HistoryPoint]:
        """The readable points whose `metric` belongs in the trend.

        Instruction counts depend on the counter (valgrind's version, the allocator the counted
        process used): counts made another way than the newest counts are left out, as gaps,
        so that a change of counter never reads as a change of the code.
        """
        points = list(self.readable)
        counted = [p.counter for p in points if p.values.get(metric)]
        if metric is Metric.INSTRUCTIONS and counted:
            # Points without counts (a baseline from before them) have nothing to leave out.
            points = [p for p in points if p.counter == counted[-1] or not p.values.get(metric)]
        return points

    def environment_changes(self) -> list[bool]:
        """Per readable point: whether its environment differs from the point before."""
        points = self.readable
        return [i > 0 and p.environment != points[i - 1].environment for i, p in enumerate(points)]

    def summary(self) -> str:
        """One progress line: what the trend shows."""
        skipped = len(self.skipped)
        text = (
            f"trend over {self.commits} commit{'' if self.commits == 1 else 's'} that changed "
            f"{self.baseline_path}"
        )
        if skipped:
            text += f" ({skipped} skipped: unreadable)"
        if any(p.current for p in self.points):
            text += " and this run"
        return "; ".join([text, *self.notes])

    def to_json(self) -> dict[str, object]:
        # By identity: a point holds dicts, so it is not hashable.
        changes = {
            id(point): changed
            for point, changed in zip(self.readable, self.environment_changes(), strict=True)
        }
        return {
            "baseline_path": self.baseline_path,
            "limit": self.limit,
            "notes": list(self.notes),
            "points": [
                {
                    "label": p.label,
                    "commit": p.commit,
                    "date": p.date,
                    "subject": p.subject,
                    "current": p.current,
                    "source": p.source,
                    "skipped": p.skipped,
                    "boundary": p.boundary,
                    "environment_key": environment_key(p.environment) if p.environment else None,
                    "environment": environment_to_json(p.environment) if p.environment else None,
                    "environment_changed": changes.get(id(p), False),
                    "counter": p.counter,
                    "values": {
                        metric.value: dict(sorted(rows.items()))
                        for metric, rows in sorted(p.values.items())
                    },
                }
                for p in self.points
            ],
        }


def point_values(results: Results) -> dict[Metric, dict[str, float]]:
    """The trend's numbers from one measurement (a stored baseline or this run)."""
    return {
        Metric.TIME: {name: bench.median for name, bench in results.benchmarks.items()},
        Metric.PEAK: {name: float(mem.peak_bytes) for name, mem in results.memory.items()},
        Metric.ALLOCATIONS: {
            name: float(mem.total_allocations) for name, mem in results.memory.items()
        },
        Metric.INSTRUCTIONS: {
            name: count.per_call for name, count in results.counts.benchmarks.items()
        },
    }


def with_current(history: History, current: Results) -> History:
    """`history` with this run as its last point."""
    source = current.source
    where = "working tree" + (", uncommitted changes in src/" if source.dirty else "")
    point = HistoryPoint(
        commit=source.commit,
        date="",
        subject=f"this run ({where})",
        values=point_values(current),
        environment=current.environment,
        counter=current.counts.tool,
        source=source.commit,
        current=True,
    )
    return replace(history, points=(*history.points, point))


def read_history(root: Path, baseline: str, limit: int) -> History:
    """The last `limit` versions of `baseline` (a path relative to `root`), oldest first.

    Never raises for git or for a version that cannot be read: what is missing is a note or a
    skipped point, and the run goes on.
    """
    empty = History(baseline_path=baseline, limit=limit)
    repo = open_repository(root)
    if isinstance(repo, str):
        return replace(empty, notes=(f"no history: {repo}",))
    try:
        return _read(repo, empty)
    except GitError as err:
        return replace(empty, notes=(f"no history: {err}",))


def _read(repo: Repository, empty: History) -> History:
    baseline, limit = empty.baseline_path, empty.limit
    shallow = shallow_commits(repo)
    # Every change but D: a commit that deleted the file holds no version of it. (The
    # exclusion, --diff-filter=d, listed no commit at all with git 2.39.)
    log = git_output(
        repo,
        "log",
        f"-n{limit + 1}",
        "--diff-filter=ACMRT",
        "--format=%H%x00%cI%x00%s",
        "--",
        baseline,
    )
    entries = [line.split("\x00", 2) for line in log.splitlines() if line.strip()]
    notes: list[str] = []
    if not entries:
        if shallow:
            notes.append(
                f"shallow clone: no fetched commit changes {baseline}, so there is no trend "
                f"— {SHALLOW_HINT}"
            )
        else:
            notes.append(f"no history: {baseline} has never been committed")
        return replace(empty, notes=tuple(notes))
    if len(entries) > limit:
        notes.append(
            f"the last {limit} commits that changed {baseline} (older ones left out; "
            "--history N shows more)"
        )
    path = f"{repo.prefix}/{baseline}" if repo.prefix else baseline
    points = [
        _point(repo, path, sha, date, subject, boundary=sha in shallow)
        for sha, date, subject in (_fields(entry) for entry in reversed(entries[:limit]))
    ]
    boundary = next((p for p in points if p.boundary), None)
    if boundary is not None:
        notes.append(
            f"shallow clone: the history before {boundary.label} was not fetched, and "
            f"{boundary.label} shows {baseline} as it was there — {SHALLOW_HINT}"
        )
    elif "*" in shallow:
        notes.append(f"shallow clone: older versions may be missing — {SHALLOW_HINT}")
    return replace(empty, points=tuple(points), notes=tuple(notes))


def _fields(entry: Sequence[str]) -> tuple[str, str, str]:
    sha, date, subject = [*entry, "", ""][:3]
    return sha, date, subject


def _point(
    repo: Repository, path: str, sha: str, date: str, subject: str, *, boundary: bool
) -> HistoryPoint:
    point = HistoryPoint(commit=sha, date=date, subject=subject, boundary=boundary)
    origin = f"baseline '{path}' at {sha[:_SHORT]}"
    try:
        text = git_output(repo, "show", f"{sha}:{path}")
        stored = baseline_from_json(
            parse_json_text(text, origin=origin, hint=BASELINE_HINT), origin=origin
        )
    except GateError as err:
        # The reader's fix ("run nox -s update-baseline") is for the current file, not history.
        reason = str(err).removesuffix(f" — {BASELINE_HINT}").removeprefix(f"{origin} ")
        return replace(point, skipped=reason.removeprefix(": "))
    results = stored.results
    return replace(
        point,
        values=point_values(results),
        environment=results.environment,
        counter=results.counts.tool,
        source=results.source.commit,
    )
