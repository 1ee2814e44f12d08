"""A toy project for the gate's chain, and fakes of its process boundaries (`Hooks`).

The project is real (files, git, a baseline); `Fake` decides what each side "measures", so a
test of the chain runs in well under a second. The gate's command-line tests run the same toy
suite for real, in subprocesses.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from agui_perf.gate.pipeline import GateOptions, Hooks
from agui_perf.gate.store.baseline import write_baseline
from agui_perf.gate.store.environment import current_environment, environment_key
from agui_perf.gate.store.results import Counts
from tests._support.git import commit_all, git, init_repo
from tests._support.results import make_memory, make_results, pb_doc, pb_entry

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

    from agui_perf.gate.decide.verdict import Verdict
    from agui_perf.gate.measure.counts import CountRequest
    from agui_perf.gate.measure.runner import Job, Side
    from agui_perf.gate.store.results import MemoryResult, Results

__all__ = [
    "BASELINE",
    "KEY",
    "TOY_FILES",
    "Fake",
    "options",
    "plain_copy",
    "steady",
    "stored_results",
    "toy_repo",
    "write_toy",
]


KEY = environment_key()
BASELINE = f"baselines/{KEY}.json"

#: A tiny project with the layout the gate expects: src/agui_perf, tests/benchmarks (two
#: benchmarks and one memory scenario). Its agui_perf is a toy, so a benchmark that imported
#: the wrong tree would say so in `extra_info["agui_perf_file"]`.
TOY_FILES: dict[str, str] = {
    ".gitignore": ".perf/\n__pycache__/\n",
    "pyproject.toml": textwrap.dedent(
        """\
        [project]
        name = "toy"
        version = "0"

        [tool.pytest.ini_options]
        addopts = ["-p", "no:hypothesispytest"]

        [tool.agui_perf]
        alpha = 0.01
        min_effect = 0.10
        """
    ),
    "src/agui_perf/__init__.py": textwrap.dedent(
        """\
        SIZE = 2000


        def work(n):
            return sum(range(n))
        """
    ),
    "tests/__init__.py": "",
    "tests/benchmarks/__init__.py": "",
    "tests/benchmarks/test_toy.py": textwrap.dedent(
        """\
        import os

        import agui_perf


        def test_sum(benchmark):
            if os.environ.get("TOY_CRASH"):
                raise ZeroDivisionError("toy benchmark crashed")
            benchmark.extra_info["agui_perf_file"] = agui_perf.__file__
            benchmark.pedantic(agui_perf.work, args=(agui_perf.SIZE,), rounds=5, iterations=20)


        def test_join(benchmark):
            benchmark.extra_info["agui_perf_file"] = agui_perf.__file__
            benchmark.pedantic(",".join, args=(["x"] * 200,), rounds=5, iterations=20)
        """
    ),
    "tests/benchmarks/memory_scenarios.py": textwrap.dedent(
        """\
        import agui_perf


        def toy_alloc():
            kept = [str(i) * 10 for i in range(agui_perf.SIZE)]
            return len(kept)


        SCENARIOS = {"toy_alloc": toy_alloc}
        """
    ),
}


def write_toy(root: Path, files: Mapping[str, str] = TOY_FILES) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def stored_results(medians: Mapping[str, float], peak: int = 1_000_000, **env: Any) -> Results:
    """A complete run as update-baseline would store it, measured in this environment."""
    environment = replace(current_environment(), **env) if env else current_environment()
    return make_results(
        {name: [m * (1 + i / 1000) for i in range(8)] for name, m in medians.items()},
        [make_memory("toy_alloc", peak, 10_000)],
        env=environment,
    )


def toy_repo(tmp_path: Path, *, baseline: bool = True) -> tuple[Path, str]:
    """A toy repository whose last commit stores the baseline; (root, accepted commit)."""
    root = write_toy(init_repo(tmp_path / "toy"))
    commit_all(root, "toy project")
    if not baseline:
        return root, git(root, "rev-parse", "HEAD")
    write_baseline(root / BASELINE, stored_results({"test_sum": 1e-3, "test_join": 2e-3}))
    return root, commit_all(root, "accept the toy baseline")


@dataclass
class Fake:
    """Fake process boundaries: what each side "measures", and a record of what ran."""

    timing: Callable[[Job], Mapping[str, float]]
    peaks: Mapping[str, int] = field(default_factory=lambda: {"accepted": 10**6, "current": 10**6})
    jobs: list[Job] = field(default_factory=list)
    memory_sides: list[Side] = field(default_factory=list)
    reports: list[tuple[Verdict, Path, Results | None]] = field(default_factory=list)

    def launch(self, job: Job) -> int:
        self.jobs.append(job)
        medians = self.timing(job)
        entries = [
            pb_entry(name, [m * 0.99, m, m * 1.01], {"side": job.side.label})
            for name, m in medians.items()
        ]
        job.json_path.write_text(json.dumps(pb_doc(*entries)), encoding="utf-8")
        return 0

    def memory(self, side: Side, out: Path) -> dict[str, MemoryResult]:
        self.memory_sides.append(side)
        return {"toy_alloc": make_memory("toy_alloc", self.peaks[side.label], 10_000)}

    def report(self, verdict: Verdict, out: Path, current: Results | None) -> None:
        self.reports.append((verdict, out, current))

    def counts(self, request: CountRequest) -> dict[str, Counts]:
        # No cpu_bound benchmark in the toy: counted, nothing (tests/gate/test_counts_pipeline.py
        # covers the counts stage).
        return {side.label: Counts(tool="fake", missing=None) for side in request.sides}

    def hooks(self, env: Mapping[str, str] | None = None) -> Hooks:
        return Hooks(
            launcher=self.launch,
            memory=self.memory,
            counts=self.counts,
            write_report=self.report,
            env=env or {},
        )


def steady(
    accepted: float,
    current: float,
    *,
    extend_current: float | None = None,
    wobble: float = 0.0,
) -> Callable[[Job], dict[str, float]]:
    """test_sum at the given medians per side (a hair of spread, no ties); test_join equal.

    `extend_current`: what the current side measures in the extension's processes instead.
    `wobble`: a spread of about this fraction between the processes of a side on top.
    """

    def timing(job: Job) -> dict[str, float]:
        extending = job.log_path.parent.parent.name == "extend"
        level = accepted if job.side.label == "accepted" else current
        if extending and extend_current is not None and job.side.label == "current":
            level = extend_current
        # Extension rounds sit between the first pass's (no ties when pooled).
        spread = 1 + job.round / 1000 + (0.0003 if job.side.label == "current" else 0)
        spread += 0.00005 if extending else 0
        # Deterministic scatter over -1..1: the round and the side pick a different point.
        spread *= 1 + wobble * (((job.round * 7 + len(job.side.label)) % 9) - 4) / 4
        medians = {"test_sum": level * spread}
        if not extending:
            medians["test_join"] = 2e-3 * spread
        return medians

    return timing


def options(root: Path, **changes: Any) -> GateOptions:
    return replace(GateOptions(root=root, out=root / ".perf" / "report", processes=8), **changes)


def plain_copy(tmp_path: Path, baseline: Results | None) -> Path:
    root = write_toy(tmp_path / "plain")
    if baseline is not None:
        write_baseline(root / BASELINE, baseline)
    return root
