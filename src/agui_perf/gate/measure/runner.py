"""Timing runs: each side's benchmark suite in fresh processes, interleaved A B A B.

Timings are only compared between measurements taken on one machine in one job, and the
machine drifts (thermal state, other load, frequency scaling) over the minutes a run takes.
Alternating the sides process by process spreads that drift over both sides instead of
charging it to whichever ran second (asv does the same). Every process is
fresh, so import state, caches and allocator arenas never carry over from one sample to the
next: one process gives one sample (its median per benchmark).

Each side runs *its own* benchmark suite with *its own* source folders first on PYTHONPATH,
from its own root (`--rootdir`, cwd): the current tree's and the worktree's `tests` packages and
conftests never meet in one process. Both use this interpreter and its installed packages, and
both the current tree's layout (`gate.layout`: which folders those are).
"""

from __future__ import annotations

import logging
import math
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from agui_perf.gate._cause import cause_line
from agui_perf.gate._process import signal_group, stop_group
from agui_perf.gate.errors import GateError
from agui_perf.gate.measure.calibration import calibrate_runs
from agui_perf.gate.store.layout import LAYOUT_TABLE, Layout, missing_in
from agui_perf.gate.store.results import (
    ProcessRun,
    load_pytest_benchmark,
    measured_name,
    merge_processes,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from agui_perf.gate.store.results import BenchmarkResult

__all__ = [
    "BENCHMARKS_DIR",
    "CALIBRATION_PLUGIN",
    "DEFAULT_MAX_TIME",
    "DEFAULT_MIN_ROUNDS",
    "DEFAULT_OUT",
    "DEFAULT_SCALE",
    "EXIT_NO_TESTS",
    "PLUGIN_DIR",
    "REFERENCE_DESELECT",
    "RUNS_DIR",
    "SCALE_ENV",
    "Job",
    "Launcher",
    "RunOptions",
    "Side",
    "format_duration",
    "job_env",
    "keyword_filter",
    "merge_side",
    "pytest_command",
    "run_interleaved",
    "run_process",
]

_log = logging.getLogger(__name__)

#: The report folder, relative to the project root (the workflow uploads it as the artifact).
DEFAULT_OUT = Path(".perf") / "report"
#: Raw per-process output of the last run (pytest-benchmark JSON and logs, memray records).
RUNS_DIR = Path(".perf") / "runs"
#: The benchmark suite of a tree, relative to its root, with the default layout.
BENCHMARKS_DIR = Path(Layout().benchmarks)
#: Read by the benchmark suites to size their workloads (1.0: the suites' own default size).
SCALE_ENV = "AGUI_PERF_SCALE"
# The gate's defaults are chosen for `nox -s perf` to finish within 3 minutes (target 2) on a
# 2-core machine with 8 processes a side (config.DEFAULT_PROCESSES: the fewest that can reach
# significance after Holm over ~20 benchmarks, plus one noisy process of slack). Measured with
# the suite of 23 benchmarks: a process took 8-11 s, of which the pedantic benchmarks' fixed
# rounds and the reference-server stream (20k events a round, not scaled) were most; with the
# `reference` benchmarks deselected (14 left) a process takes about 5 s.
#: Workload size (AGUI_PERF_SCALE). Most benchmarks sit at their round/event floors below 1;
#: measured time per process: 2.9 s at 0.1, 2.7 s at 0.25, 3.2 s at 0.5 (25 vs 50 concurrent
#: streams). 0.25 keeps 25 streams, well above the 10-stream budget, for the least time.
DEFAULT_SCALE = 0.25
#: pytest-benchmark rounds per non-pedantic benchmark and process. The rank test compares
#: per-process medians, so a process needs enough rounds for a median, not a stable mean;
#: 3 instead of pytest-benchmark's 5 saves ~2 s a process on the 1 s reference-stream rounds.
DEFAULT_MIN_ROUNDS = 3
#: Seconds pytest-benchmark may spend per non-pedantic benchmark and process beyond the
#: minimum rounds (its default is 1 s: 16 processes would pay that per benchmark).
DEFAULT_MAX_TIME = 0.1
#: Seconds one benchmark process may take before it is stopped (a hung benchmark).
DEFAULT_TIMEOUT = 600.0
#: pytest's exit status when nothing was collected (e.g. `-k` matched no benchmark).
EXIT_NO_TESTS = 5
#: pytest -m expression: leave out the comparison implementations (marker `reference`).
REFERENCE_DESELECT = "not reference"
#: The calibration plugin: a top-level module in PLUGIN_DIR, which `job_env` puts on
#: PYTHONPATH after the side's src, so both sides load this (the current) gate's copy.
CALIBRATION_PLUGIN = "agui_perf_calibration"
PLUGIN_DIR = Path(__file__).resolve().parent / "_pytest_plugin"
_STOP_GRACE_S = 10.0
#: The start of pytest-benchmark's warning for a process that ran no benchmark.
_NOT_SAVING = "Not saving anything"
#: pytest's exit status for a usage error (a -k expression it cannot parse, among others).
_EXIT_USAGE = 4
_BAD_KEYWORD = "ERROR: Wrong expression passed to '-k': "
_KEYWORD_HINT = (
    "fix the expression: benchmark names (or parts of them) joined with and, or, not and "
    "parentheses, e.g. -k 'encode and not sdk'"
)


def _list_hint(side: Side) -> str:
    return f"pytest {side.layout.benchmarks} --collect-only -q -m 'not reference' lists them"


@dataclass(frozen=True)
class Side:
    """One measured tree: `label` is "accepted" or "current", `revision` a short name for it.

    `layout` is the current tree's on both sides (README "Configuring the layout").
    """

    label: str
    root: Path
    revision: str
    layout: Layout = field(default_factory=Layout)
    #: The project's top-level modules, from the current tree's source folders: the memory
    #: runs refuse a side that imports one from elsewhere (() : what the side's own folders hold).
    packages: tuple[str, ...] = ()

    @property
    def sources(self) -> tuple[Path, ...]:
        """The folders put first on PYTHONPATH, in order."""
        return tuple(self.root / path for path in self.layout.source)

    @property
    def benchmarks(self) -> Path:
        return self.root / self.layout.benchmarks

    @property
    def scenarios(self) -> Path:
        return self.root / self.layout.scenarios


@dataclass(frozen=True)
class RunOptions:
    processes: int
    scale: float = DEFAULT_SCALE
    min_rounds: int = DEFAULT_MIN_ROUNDS
    max_time: float = DEFAULT_MAX_TIME
    keyword: str | None = None  # pytest -k expression
    timeout: float = DEFAULT_TIMEOUT
    python: str = sys.executable


@dataclass(frozen=True)
class Job:
    """One fresh benchmark process: everything a launcher needs to start it."""

    side: Side
    round: int  # 1-based
    command: tuple[str, ...]
    env: Mapping[str, str] = field(repr=False)
    cwd: Path
    json_path: Path  # --benchmark-json target
    log_path: Path  # the process's combined stdout and stderr
    timeout: float
    keyword: str | None = None  # the -k expression in `command`, quoted in errors about it


#: Runs a job to completion and returns its exit status (tests inject fakes).
Launcher: TypeAlias = Callable[[Job], int]


def pytest_command(side: Side, json_path: Path, options: RunOptions) -> tuple[str, ...]:
    command = [
        options.python,
        "-m",
        "pytest",
        str(side.benchmarks),
        f"--rootdir={side.root}",
        "-p",
        "no:cacheprovider",
        # pytest-codspeed (the gate extra, for its callgrind hooks) registers a pytest plugin
        # that would wrap the benchmark fixture if CODSPEED_ENV were ever set: timing runs
        # measure plain pytest-benchmark only.
        "-p",
        "no:codspeed",
        "-q",
        # The short summary names each failed benchmark and its exception: the one line
        # quoted when a process fails.
        "-rfE",
        "--benchmark-only",
        f"--benchmark-json={json_path}",
        f"--benchmark-min-rounds={options.min_rounds}",
        f"--benchmark-max-time={options.max_time:g}",
        # The official SDK and the docs-style reference server are measured beside ours for
        # the ratios the benchmarks report; they are not the code this gate guards, and the
        # reference stream alone was 4-5 s of a 8-11 s process.
        "-m",
        REFERENCE_DESELECT,
        # Times a calibration loop around each `cpu_bound` benchmark (gate.calibration).
        "-p",
        CALIBRATION_PLUGIN,
        # pytest-benchmark warns when a process ran no benchmark (-k selects none in this
        # tree); under `filterwarnings = error` that warning becomes a crash at session end
        # that hides pytest's own exit status and message (a bad -k, nothing collected).
        # An empty side is the gate's to judge (run_interleaved), from the exit status.
        "-W",
        f"ignore:{_NOT_SAVING}",
    ]
    if options.keyword:
        command += ["-k", options.keyword]
    return tuple(command)


def job_env(
    side: Side, options: RunOptions, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """This environment with the side's source folders first on PYTHONPATH and the gate's scale.

    The installed (editable) agui_perf comes after PYTHONPATH on sys.path, so the side's own
    package wins; child servers the benchmarks start inherit the same PYTHONPATH.
    """
    env = dict(os.environ if base is None else base)
    previous = env.get("PYTHONPATH")
    env["PYTHONPATH"] = os.pathsep.join(
        [*map(str, side.sources), *([previous] if previous else []), str(PLUGIN_DIR)]
    )
    env[SCALE_ENV] = f"{options.scale:g}"
    env["PYTHONUNBUFFERED"] = "1"
    # pytest cuts its short summary at the terminal width; the FAILED line is what gets quoted.
    env["COLUMNS"] = "400"
    return env


def keyword_filter(names: Sequence[str], user: str | None = None) -> str:
    """A `-k` expression selecting `names` (and still the user's `-k`, if any).

    -k matches substrings of test names, using identifier characters only; a name with
    other characters in its parameters is selected by its function name (over-selection is
    harmless: the caller keeps only the names it asked for). A derived row (the server's CPU
    time) is selected by the benchmark that measures it.
    """
    allowed = set("_:+-.[]\\/")
    terms: list[str] = []
    for name in names:
        term = measured_name(name)
        if not all(ch.isalnum() or ch in allowed for ch in term):
            term = term.split("[", 1)[0]
        if term and term not in terms:
            terms.append(term)
    if not terms:
        raise GateError("no benchmark names to select for the extension run")
    selected = " or ".join(terms)
    return f"({user}) and ({selected})" if user else selected


def run_process(job: Job) -> int:
    """Run one benchmark process to completion, its output into `job.log_path`.

    The process gets its own process group: the benchmarks start servers of their own, and
    on a timeout, Ctrl-C or SIGTERM the whole group is stopped, so no server outlives the
    gate; what is left of the group when pytest itself has ended is killed too.
    """
    job.log_path.parent.mkdir(parents=True, exist_ok=True)
    with job.log_path.open("wb") as log:
        try:
            proc = subprocess.Popen(
                job.command,
                cwd=job.cwd,
                env=dict(job.env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as err:
            raise GateError(
                f"cannot start the benchmark process {job.command[0]!r} ({err.strerror})"
            ) from None
        try:
            status = proc.wait(timeout=job.timeout)
        except subprocess.TimeoutExpired:
            stop_group(proc, grace=_STOP_GRACE_S)
            raise GateError(
                f"{_where(job)} did not finish within {job.timeout:g} s (stopped) — a benchmark "
                f"hangs; full output in {job.log_path}"
            ) from None
        except BaseException:
            stop_group(proc, grace=_STOP_GRACE_S)
            raise
        # A server a benchmark started and never stopped would hold its port and a core
        # through every later process.
        signal_group(proc.pid, signal.SIGKILL)
        return status


def _where(job: Job) -> str:
    return f"benchmark process {job.round} of the {job.side.label} code ({job.side.revision})"


def _log_text(log_path: Path) -> str:
    try:
        return log_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _failure_line(text: str) -> str:
    """The line that says what failed: pytest's first FAILED/ERROR summary line, else the cause.

    The cause is a usage error or the exception a traceback ends with, not merely the last
    line, which may be a warning printed on the way out (`_cause`).
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("FAILED ", "ERROR ")):
            return line
    return cause_line(text) or "no output"


def _bad_keyword(job: Job, text: str) -> GateError | None:
    """pytest's own complaint about the -k expression, as the gate's error (None: not that)."""
    for line in text.splitlines():
        if line.startswith(_BAD_KEYWORD):
            detail = line.removeprefix(_BAD_KEYWORD).strip()
            keyword = job.keyword or ""
            # pytest repeats the expression before its message: "((( and: at column 5: …".
            detail = detail.removeprefix(f"{keyword}: ") if keyword else detail
            return GateError(
                f"-k {keyword!r} is not a valid pytest -k expression: {detail} — {_KEYWORD_HINT}"
            )
    return None


def _read_job(job: Job, status: int) -> ProcessRun:
    if status in (0, EXIT_NO_TESTS) and not job.json_path.exists():
        # No benchmark ran in this tree: -k names none of its benchmarks (status 5: nothing
        # collected), or only tests without the benchmark fixture (skipped by
        # --benchmark-only; pytest-benchmark then writes no file). run_interleaved judges.
        return ProcessRun(origin=f"benchmark results '{job.json_path}'", benchmarks={})
    if status != 0:
        text = _log_text(job.log_path)
        bad = _bad_keyword(job, text) if status == _EXIT_USAGE else None
        if bad is not None:
            raise bad
        raise GateError(
            f"{_where(job)} failed (pytest exit {status}): {_failure_line(text)} "
            f"— fix it; full output in {job.log_path}"
        )
    return load_pytest_benchmark(job.json_path)


def _collected(log_path: Path) -> str:
    """How many tests the process collected, from pytest's summary ("2 deselected in 0.1s")."""
    lines = [line.strip() for line in _log_text(log_path).splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    # "2 deselected in 0.1s", "no tests collected (24 deselected) in 2.2s": pytest's wording.
    match = re.search(r"\b(\d+) deselected\b", last)
    if match:
        return f"0 of {match.group(1)} collected"
    if last.startswith(("no tests ran", "no tests collected")):
        return "no tests collected"
    return "nothing selected"


def _nothing_selected(
    sides: Sequence[Side], logs: Mapping[str, Path], keyword: str | None
) -> GateError:
    """The error for a first round in which no side ran a benchmark."""
    counts = ", ".join(f"{side.label}: {_collected(logs[side.label])}" for side in sides)
    where = f"the {sides[0].label} code" if len(sides) == 1 else "either tree"
    if keyword:
        return GateError(
            f"-k {keyword!r} selects no benchmark in {where} ({counts}) — check the names; "
            f"{_list_hint(sides[0])}"
        )
    return GateError(
        f"no benchmark to run under {sides[0].layout.benchmarks} in {where} ({counts}) — add "
        "some (benchmarks marked reference are never timed by the gate)"
    )


def check_side(side: Side) -> None:
    """A GateError when the side lacks a folder of the layout: its benchmarks, or a source
    folder (without it the installed package would be measured in its place)."""
    missing = missing_in(side.layout, side.root)
    if missing is None:
        return
    key = "benchmarks" if missing == side.layout.benchmarks else "source"
    raise GateError(
        f"the {side.label} code ({side.revision}) has no {missing} folder (the current tree's "
        f"{LAYOUT_TABLE}.{key}, which both sides use) — nothing to measure there; pass --ref "
        "with a commit that has it"
    )


def format_duration(seconds: float) -> str:
    seconds = max(0, math.ceil(seconds))
    minutes, secs = divmod(seconds, 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class _Eta:
    """Time left, from the durations measured so far (per side: the trees can differ a lot)."""

    def __init__(self, sides: Sequence[Side], processes: int) -> None:
        self.durations: dict[str, list[float]] = {side.label: [] for side in sides}
        self.remaining = {side.label: processes for side in sides}

    def record(self, label: str, seconds: float) -> None:
        self.durations[label].append(seconds)
        self.remaining[label] -= 1

    def skip(self, label: str) -> None:
        self.remaining[label] = 0

    def left(self) -> float | None:
        measured = [d for ds in self.durations.values() for d in ds]
        if not measured:
            return None
        total = 0.0
        for label, count in self.remaining.items():
            own = self.durations[label]
            total += count * (sum(own) / len(own) if own else sum(measured) / len(measured))
        return total


def run_interleaved(
    sides: Sequence[Side],
    options: RunOptions,
    out_dir: Path,
    *,
    launcher: Launcher = run_process,
    clock: Callable[[], float] = time.monotonic,
    env: Mapping[str, str] | None = None,
    stage: str = "timing",
) -> dict[str, list[ProcessRun]]:
    """Run `options.processes` fresh processes per side, alternating: A B A B ...

    Returns each side's per-process results in run order. Progress lines (logged, see
    `gate.progress`) say which side and round is running and how long is left.

    A side whose first process ran no benchmark (-k selects only benchmarks the other tree
    has: new or removed ones) is not run again: every fresh process would collect the same
    nothing. If no side ran one, the selection is the problem: a GateError after one round.
    """
    if options.processes < 1:
        raise GateError(f"--processes must be at least 1, got {options.processes}")
    for side in sides:
        check_side(side)
    runs: dict[str, list[ProcessRun]] = {side.label: [] for side in sides}
    eta = _Eta(sides, options.processes)
    active = list(sides)
    for round_ in range(1, options.processes + 1):
        for side in active:
            folder = out_dir / side.label
            folder.mkdir(parents=True, exist_ok=True)
            json_path = folder / f"process-{round_:02d}.json"
            json_path.unlink(missing_ok=True)
            job = Job(
                side=side,
                round=round_,
                command=pytest_command(side, json_path, options),
                env=job_env(side, options, env),
                cwd=side.root,
                json_path=json_path,
                log_path=folder / f"process-{round_:02d}.log",
                timeout=options.timeout,
                keyword=options.keyword,
            )
            left = eta.left()
            remaining = "estimating time left" if left is None else f"~{format_duration(left)} left"
            _log.info(
                f"{stage} round {round_}/{options.processes} · {side.label} "
                f"({side.revision}) · {remaining}",
            )
            started = clock()
            status = launcher(job)
            eta.record(side.label, clock() - started)
            runs[side.label].append(_read_job(job, status))
        if round_ == 1:
            active = _with_benchmarks(sides, runs, out_dir, options.keyword, eta)
    return runs


def _with_benchmarks(
    sides: Sequence[Side],
    runs: Mapping[str, Sequence[ProcessRun]],
    out_dir: Path,
    keyword: str | None,
    eta: _Eta,
) -> list[Side]:
    """The sides whose first process ran a benchmark; a GateError if none did."""
    active = [side for side in sides if runs[side.label][0].benchmarks]
    if not active:
        # Current first: that is the tree the user is asking about.
        ordered = sorted(sides, key=lambda side: side.label != "current")
        logs = {side.label: out_dir / side.label / "process-01.log" for side in sides}
        raise _nothing_selected(ordered, logs, keyword)
    for side in sides:
        if side not in active:
            eta.skip(side.label)
            selection = f"-k {keyword!r}" if keyword else "the gate's selection"
            _log.info(
                f"the {side.label} code ({side.revision}) has no benchmark matching {selection}; "
                "measuring the other side alone",
            )
    return active


def merge_side(
    side: Side,
    runs: Sequence[ProcessRun],
    *,
    only: Sequence[str] | None = None,
    reference: float | None = None,
) -> dict[str, BenchmarkResult]:
    """One side's per-process runs as BenchmarkResults (`only`: keep just these names).

    `reference`: the calibration both sides are normalized to (`gate.calibration`); by
    default this side's own median.
    """
    if only is not None:
        keep = set(only)
        runs = [
            replace(run, benchmarks={n: b for n, b in run.benchmarks.items() if n in keep})
            for run in runs
        ]
    if all(not run.benchmarks for run in runs):
        return {}
    try:
        return merge_processes(calibrate_runs(runs, reference=reference))
    except GateError as err:
        raise GateError(f"{side.label} code ({side.revision}): {err}") from None
