"""The gate's chain: each command is a declared list of steps over one run's state.

`perf` (what `nox -s perf` runs) is `PERF_STEPS`, in this order:

 1. `_settings_and_folders`: settings from `[tool.agui_perf]` with the command line's
    overrides, the current tree's layout (`[tool.agui_perf.layout]`, used for both sides)
    checked, the report folder proved writable;
 2. `_stored_baseline`: `baselines/<environment key>.json` (in the layout's baselines folder)
    read; a file from another environment is unusable input (exit 2);
 3. `_accepted_state`: `--ref`, else the commit that last changed the baseline file, else the
    reason it cannot be found;
 4. `_prepare_sides`: the current tree, and the accepted commit checked out in a worktree
    (`worktree`); without an accepted commit only the current side, against the stored
    numbers (advisory);
 5. `_measure_timings`: both sides in fresh processes, interleaved A B A B (`runner`);
 6. `_measure_memory_and_counts`: one memray run per scenario and side (`memory`) and, at the
    same time, each side's `cpu_bound` benchmarks once under callgrind (`counts`; both are
    deterministic, so sharing the cores changes neither);
 7. `_compare_timings`, `_extend_unsettled`: the first pass compared; benchmarks it cannot
    settle (`compare.needs_extension`) get one extension of fresh processes, pooled with the
    first pass and decided once (`compare.extend`);
 8. `_release_sides`: the worktree removed;
 9. `_compare_instruction_counts`, `_note_uncommitted`, `_check_budgets` (on the current run
    alone), `_decide`: the verdict;
10. `_trend`: the trend across the baseline file's git history (`history`, with this run as
    its last point);
11. `_write_outputs`: results-*.json, the report, GitHub Actions' summary, outputs and
    annotations.

`update_baseline` is `UPDATE_BASELINE_STEPS`: the current code measured by the same steps,
then the baseline file replaced atomically, only after a complete run.

Each step is a function that reads and sets fields of a `GateRun`; `run_steps` runs a list
and releases what the run holds (the worktree) however it ends. Process boundaries
(benchmark launcher, memory runner, report writer) are `Hooks`, so every
step is tested with fakes; everything else is plain functions on plain data.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from agui_perf.gate._io import atomic_write_text, dump_json
from agui_perf.gate.decide.budgets import BudgetCheck, BudgetStatus, check_budgets
from agui_perf.gate.decide.compare import (
    Comparison,
    MemoryState,
    State,
    compare,
    extend,
    extension_size,
    needs_extension,
)
from agui_perf.gate.decide.count_compare import CountsComparison, CountState, compare_counts
from agui_perf.gate.decide.stats import min_attainable_p
from agui_perf.gate.decide.verdict import AcceptedState, Verdict, decide, error_verdict
from agui_perf.gate.errors import GateError
from agui_perf.gate.measure import counts as count_runs
from agui_perf.gate.measure import memory as memory_runs
from agui_perf.gate.measure.calibration import reference_calibration
from agui_perf.gate.measure.runner import (
    DEFAULT_MAX_TIME,
    DEFAULT_MIN_ROUNDS,
    DEFAULT_OUT,
    DEFAULT_SCALE,
    RUNS_DIR,
    Launcher,
    RunOptions,
    Side,
    keyword_filter,
    merge_side,
    run_interleaved,
    run_process,
)
from agui_perf.gate.measure.worktree import (
    commit_source,
    find_accepted,
    resolve_ref,
    working_source,
    worktree,
)
from agui_perf.gate.report import github
from agui_perf.gate.report.markdown import render_markdown
from agui_perf.gate.report.write import write_report
from agui_perf.gate.store.baseline import (
    Baseline,
    DiffRow,
    baseline_path,
    diff_baselines,
    read_baseline,
    write_baseline,
)
from agui_perf.gate.store.config import Settings, load_settings
from agui_perf.gate.store.environment import (
    current_environment,
    environment_differences,
    environment_key,
)
from agui_perf.gate.store.history import read_history, with_current
from agui_perf.gate.store.layout import Layout, check_tree
from agui_perf.gate.store.results import (
    Counts,
    Results,
    Source,
    load_memory,
    results_to_json,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from agui_perf.gate.decide.compare import BenchmarkComparison
    from agui_perf.gate.store.environment import Environment
    from agui_perf.gate.store.results import BenchmarkResult, MemoryResult, ProcessRun

__all__ = [
    "NO_BASELINE",
    "PERF_STEPS",
    "UPDATE_BASELINE_STEPS",
    "BaselineUpdate",
    "GateOptions",
    "GateRun",
    "Hooks",
    "Step",
    "baseline_file",
    "github_annotations",
    "min_processes",
    "perf",
    "prepare_out",
    "publish_error",
    "run_steps",
    "update_baseline",
]

_log = logging.getLogger(__name__)

#: The baselines folder with the default layout (`[tool.agui_perf.layout].baselines`).
BASELINES_DIR = Path(Layout().baselines)
NO_BASELINE = "no baseline yet — run nox -s update-baseline"


@dataclass(frozen=True)
class GateOptions:
    """What the command line can set; None means "from [tool.agui_perf]"."""

    root: Path = Path()
    keyword: str | None = None  # pytest -k expression
    processes: int | None = None  # per side
    min_effect: float | None = None
    ref: str | None = None
    out: Path = DEFAULT_OUT
    scale: float = DEFAULT_SCALE
    min_rounds: int = DEFAULT_MIN_ROUNDS
    max_time: float = DEFAULT_MAX_TIME
    history: int = 0  # `perf` only: commits of the trend, 0 = none (the command line: 30)


def _write_report_default(verdict: Verdict, out: Path, current: Results | None) -> None:
    write_report(verdict, out, current=current)


def _memory_default(side: Side, out: Path) -> dict[str, MemoryResult]:
    return measure_memory(side, out)


def _counts_default(request: count_runs.CountRequest) -> dict[str, Counts]:
    return measure_counts(request)


@dataclass(frozen=True)
class Hooks:
    """The process boundaries of the chain (tests inject fakes)."""

    launcher: Launcher = run_process
    memory: Callable[[Side, Path], Mapping[str, MemoryResult]] = _memory_default
    counts: Callable[[count_runs.CountRequest], Mapping[str, Counts]] = _counts_default
    write_report: Callable[[Verdict, Path, Results | None], object] = _write_report_default
    env: Mapping[str, str] | None = None  # None: os.environ
    clock: Callable[[], float] = time.monotonic

    def timing(
        self,
        sides: Sequence[Side],
        options: RunOptions,
        out_dir: Path,
        stage: str = "timing",
    ) -> dict[str, list[ProcessRun]]:
        """`runner.run_interleaved` through these hooks."""
        return run_interleaved(
            sides,
            options,
            out_dir,
            launcher=self.launcher,
            clock=self.clock,
            env=self.env,
            stage=stage,
        )


@dataclass(frozen=True)
class BaselineUpdate:
    """What `update_baseline` did, for the command line to print."""

    path: str  # relative to the root, e.g. baselines/linux-x86_64-cpython3.11.json
    rows: list[DiffRow]
    source: Source
    previous_note: str | None  # why the previous file was not compared (unreadable …)
    kept: list[str]  # benchmarks not selected by -k, kept from the previous file
    #: Where and when the previous file's timings were measured ("Intel Xeon, CPython 3.11.2,
    #: measured at <sha>, committed <date> in <sha>"); None without a readable previous file.
    stored_from: str | None = None
    #: How the previous file's environment differs from this run's (empty: the same).
    environment_changes: tuple[str, ...] = ()


# --- settings and folders -------------------------------------------------------------------------


def gate_settings(root: Path, options: GateOptions) -> Settings:
    """The settings, with the command line's overrides; the layout checked against `root`."""
    settings = load_settings(root / "pyproject.toml")
    check_tree(settings.layout, root)
    if options.processes is not None:
        settings = replace(settings, processes=options.processes)
    if options.min_effect is not None:
        settings = replace(settings, min_effect=options.min_effect)
    return settings


def prepare_out(out: Path) -> Path:
    """Create the report folder and prove it writable, before minutes of measuring."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-check-"):
            pass
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise GateError(
            f"output folder '{out}' is not writable ({reason}) — choose another with --out DIR"
        ) from None
    return out


def _fresh_dir(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def baseline_file(root: Path, layout: Layout | None = None) -> tuple[Path, str]:
    """This environment's baseline file: (absolute path, path relative to the root)."""
    folder = Path((layout or Layout()).baselines)
    relative = baseline_path(folder, environment_key())
    return root / relative, relative.as_posix()


def min_processes(alpha: float, benchmarks: int) -> int:
    """Fewest processes a side for which complete separation passes Holm's first step."""
    family = max(1, benchmarks)
    for n in range(1, 101):
        if min_attainable_p(n, n) <= alpha / family:
            return n
    return 101


def _warn_processes(settings: Settings, benchmarks: int) -> None:
    needed = min_processes(settings.alpha, benchmarks)
    if settings.processes < needed:
        over = f" over {benchmarks} benchmarks" if benchmarks > 1 else ""
        _log.info(
            f"warning: with {settings.processes} processes a side the first "
            f"pass cannot reach significance at alpha {settings.alpha:g}{over} (Holm), so "
            "only the extension's pooled processes can decide; use --processes "
            f"{needed} or more",
        )


def _run_options(settings: Settings, options: GateOptions) -> RunOptions:
    return RunOptions(
        processes=settings.processes,
        scale=options.scale,
        min_rounds=options.min_rounds,
        max_time=options.max_time,
        keyword=options.keyword,
    )


# --- measuring ------------------------------------------------------------------------------------


def measure_memory(side: Side, out: Path) -> dict[str, MemoryResult]:
    """Every memray scenario of the side's own scenarios file, one fresh process each."""
    scenarios = side.scenarios
    if not scenarios.is_file():
        _log.info(f"memory · {side.label}: no {side.layout.scenarios}")
        return {}
    packages = side.packages or None
    names = memory_runs.list_scenarios(
        src_dir=side.sources, scenarios_file=scenarios, root=side.root, packages=packages
    )
    _log.info(
        f"memory · {side.label} ({side.revision}) · {len(names)} scenarios",
    )
    records = memory_runs.run_all(
        names,
        src_dir=side.sources,
        scenarios_file=scenarios,
        out_dir=out,
        root=side.root,
        packages=packages,
    )
    return {
        record["scenario"]: load_memory(
            dict(record), origin=f"memory scenario {record['scenario']!r} ({side.label} code)"
        )
        for record in records
    }


def measure_counts(request: count_runs.CountRequest) -> dict[str, Counts]:
    """Every side's instruction counts; "not measured" with the reason where valgrind is missing."""
    try:
        return count_runs.count_sides(request)
    except count_runs.CountsUnavailable as err:
        _log.info(f"instruction counts: not measured ({err})")
        return {side.label: Counts(missing=str(err)) for side in request.sides}


def _memory_and_counts(
    sides: Sequence[Side], run_options: RunOptions, run_dir: Path, hooks: Hooks
) -> tuple[dict[str, dict[str, MemoryResult]], Mapping[str, Counts]]:
    """Memory, side by side, while the counts of all sides run in the background.

    Both are deterministic, so running them together costs neither its exactness; the timing
    stage is over by now. If memory fails, the count runs are stopped before the error goes on.
    """
    cancel = threading.Event()
    request = count_runs.CountRequest(
        sides=sides,
        options=run_options,
        out_dir=run_dir / "counts",
        cancel=cancel,
    )
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="counts") as pool:
        counting = pool.submit(hooks.counts, request)
        try:
            memory = {
                side.label: dict(hooks.memory(side, run_dir / "memory" / side.label))
                for side in sides
            }
            counts = counting.result()
        except BaseException:
            # Ctrl-C or a failed stage: the pool's exit waits for the thread, which stops
            # its valgrind processes as soon as it sees this.
            cancel.set()
            raise
    missing = [side.label for side in sides if side.label not in counts]
    if missing:
        raise GateError(f"instruction counts returned nothing for the {missing[0]} side")
    return memory, counts


def _require_benchmarks(
    benchmarks: Mapping[str, BenchmarkResult], keyword: str | None, layout: Layout
) -> None:
    if benchmarks:
        return
    if keyword:
        raise GateError(
            f"-k {keyword!r} selects no benchmark in the current code — check the expression"
        )
    raise GateError(f"the current code has no benchmarks under {layout.benchmarks} — add some")


# --- the run's state ------------------------------------------------------------------------------


@dataclass(eq=False, repr=False)  # fields fill in step by step: no value semantics
class GateRun:
    """One run of `perf` or `update_baseline`: what its steps have found so far.

    The steps (`PERF_STEPS`, `UPDATE_BASELINE_STEPS`) run in order on one GateRun; each reads
    what earlier steps set and sets what later ones read. A field read before the step that
    sets it is an AttributeError (a step out of order), never a silent default.
    """

    options: GateOptions
    hooks: Hooks
    #: What is undone however the run ends: the accepted commit's worktree.
    resources: ExitStack = field(default_factory=ExitStack)
    # settings and folders
    root: Path = field(init=False)
    settings: Settings = field(init=False)
    out: Path = field(init=False)
    path: Path = field(init=False)  # this environment's baseline file
    relative: str = field(init=False)  # the same, relative to the root
    # perf: what the current code is compared with
    stored: Baseline | None = field(init=False)
    accepted: AcceptedState = field(init=False)
    # update-baseline: the file it replaces
    previous: Baseline | None = field(init=False)
    previous_note: str | None = field(init=False)
    # the sides and what they measured
    environment: Environment = field(init=False)
    run_options: RunOptions = field(init=False)
    run_dir: Path = field(init=False)
    current_side: Side = field(init=False)
    accepted_side: Side | None = field(init=False)  # None: the current code alone
    accepted_source: Source = field(init=False)  # set with accepted_side
    runs: dict[str, list[ProcessRun]] = field(init=False)  # per side label
    benchmarks: dict[str, dict[str, BenchmarkResult]] = field(init=False)  # per side label
    current: Results = field(init=False)
    accepted_results: Results | None = field(init=False)  # the accepted side as measured here
    # the decision
    comparison: Comparison = field(init=False)
    counts: CountsComparison = field(init=False)
    budgets: tuple[BudgetCheck, ...] = field(init=False)
    verdict: Verdict = field(init=False)
    # update-baseline's outcome
    update: BaselineUpdate = field(init=False)

    @property
    def sides(self) -> list[Side]:
        """The measured sides, accepted first."""
        if self.accepted_side is None:
            return [self.current_side]
        return [self.accepted_side, self.current_side]

    @property
    def baseline(self) -> Results | None:
        """What the current code is compared with: the accepted side measured here, else the
        stored numbers (advisory), else nothing."""
        if self.accepted_results is not None:
            return self.accepted_results
        return self.stored.results if self.stored is not None else None


#: One step of a run: reads and sets fields of the GateRun.
Step = Callable[[GateRun], None]


def run_steps(run: GateRun, steps: Sequence[Step]) -> GateRun:
    """Every step in order; whatever the run holds (a worktree) is released however it ends."""
    with run.resources:
        for step in steps:
            step(run)
    return run


# --- the steps ------------------------------------------------------------------------------------


def _settings_and_folders(run: GateRun) -> None:
    """Settings (the layout checked), the report folder proved writable, the baseline file."""
    run.root = root = run.options.root.resolve()
    run.settings = gate_settings(root, run.options)
    run.out = prepare_out(run.options.out)
    run.path, run.relative = baseline_file(root, run.settings.layout)


def _stored_baseline(run: GateRun) -> None:
    """This environment's stored baseline, if there is one (another environment's: exit 2)."""
    path = run.path
    run.stored = read_baseline(path, expected_key=environment_key()) if path.exists() else None


def _accepted_state(run: GateRun) -> None:
    """`--ref`, else the commit that last changed the baseline file, else why there is none."""
    options, root, relative, stored = run.options, run.root, run.relative, run.stored
    if options.ref is not None:
        accepted = resolve_ref(root, options.ref, relative)
    elif stored is None:
        accepted = AcceptedState(found=False, baseline_path=relative, reason=NO_BASELINE)
    else:
        accepted = find_accepted(root, relative)
    run.accepted = accepted
    family = len(stored.results.benchmarks) if stored else 1
    _warn_processes(run.settings, family)


def _prepare_sides(run: GateRun) -> None:
    """The current tree, and the accepted commit checked out in a worktree (held until
    `_release_sides`); the environment, the processes' options and their folder."""
    root, layout, accepted = run.root, run.settings.layout, run.accepted
    run.environment = current_environment(layout.fingerprint_packages)
    run.run_options = _run_options(run.settings, run.options)
    run.run_dir = _fresh_dir(root / RUNS_DIR / "perf")
    current_side = Side("current", root, "working tree", layout)
    current_side = replace(current_side, packages=memory_runs.source_packages(current_side.sources))
    run.current_side = current_side
    run.accepted_side = None
    if accepted.found and accepted.commit:
        commit = accepted.commit
        checkout = run.resources.enter_context(worktree(root, commit))
        # The current tree's layout on both sides (README "Configuring the layout").
        run.accepted_side = Side(
            "accepted", checkout.root, commit[:10], layout, current_side.packages
        )
        run.accepted_source = commit_source(root, commit, layout.source)


def _measure_timings(run: GateRun) -> None:
    """Every side's benchmarks in fresh processes, interleaved; one median per process."""
    hooks, run_options, run_dir = run.hooks, run.run_options, run.run_dir
    accepted, current = run.accepted_side, run.current_side
    run.runs = runs = hooks.timing(run.sides, run_options, run_dir / "timing")
    if accepted is None:
        benchmarks = merge_side(current, runs[current.label])
        _require_benchmarks(benchmarks, run_options.keyword, current.layout)
        run.benchmarks = {current.label: benchmarks}
        return
    # One calibration reference for both sides (gate.calibration says why).
    reference = reference_calibration([*runs[accepted.label], *runs[current.label]])
    # No benchmark on the current side is fine when the accepted one has some (all "removed"):
    # run_interleaved has already refused a selection that runs nothing on either side.
    current_benchmarks = merge_side(current, runs[current.label], reference=reference)
    accepted_benchmarks = merge_side(accepted, runs[accepted.label], reference=reference)
    run.benchmarks = {accepted.label: accepted_benchmarks, current.label: current_benchmarks}


def _measure_memory_and_counts(run: GateRun) -> None:
    """Memory (memray) and instruction counts (callgrind) of every side, both stages at once;
    then each side's Results."""
    accepted, current, environment = run.accepted_side, run.current_side, run.environment
    memory, counts = _memory_and_counts(run.sides, run.run_options, run.run_dir, run.hooks)
    run.accepted_results = None
    if accepted is not None:
        run.accepted_results = Results(
            source=run.accepted_source,
            environment=environment,
            benchmarks=run.benchmarks[accepted.label],
            memory=memory[accepted.label],
            counts=counts[accepted.label],
        )
    run.current = Results(
        source=working_source(current.root, current.layout.source),
        environment=environment,
        benchmarks=run.benchmarks[current.label],
        memory=memory[current.label],
        counts=counts[current.label],
    )


def _compare_timings(run: GateRun) -> None:
    """The first pass compared: with the accepted side measured here, else (advisory) with the
    stored numbers, else with nothing (every benchmark new)."""
    settings, current, stored = run.settings, run.current, run.stored
    if run.accepted_results is not None:
        run.comparison = compare(run.accepted_results, current, settings, accepted_found=True)
        return
    reference = stored.results if stored else replace(current, benchmarks={}, memory={})
    run.comparison = compare(reference, current, settings, accepted_found=False)


def _extend_unsettled(run: GateRun) -> None:
    """The benchmarks the first pass cannot settle (`compare.needs_extension`) get one
    extension of fresh processes, pooled with the first pass and decided once."""
    accepted, base = run.accepted_side, run.accepted_results
    if accepted is None or base is None:
        return  # nothing measured here to extend
    hooks, settings, run_options, run_dir = run.hooks, run.settings, run.run_options, run.run_dir
    current, runs, cur, comparison = run.current_side, run.runs, run.current, run.comparison
    sides = [accepted, current]
    names = needs_extension(comparison)
    if names:
        added = extension_size(comparison, settings)
        shown = ", ".join(names[:3]) + (f", +{len(names) - 3} more" if len(names) > 3 else "")
        _log.info(
            f"{len(names)} not settled by the first pass ({shown}): "
            f"{added} more fresh processes a side, pooled with the first {settings.processes} "
            "and decided once",
        )
        more = hooks.timing(
            sides,
            replace(
                run_options,
                processes=added,
                keyword=keyword_filter(names, run_options.keyword),
            ),
            run_dir / "extend",
            stage="extend",
        )
        # Pooled as one bigger run: one calibration reference over every process of both.
        pooled = {side.label: [*runs[side.label], *more[side.label]] for side in sides}
        reference = reference_calibration([*pooled[accepted.label], *pooled[current.label]])
        base = replace(
            base,
            benchmarks={
                **base.benchmarks,
                **merge_side(accepted, pooled[accepted.label], only=names, reference=reference),
            },
        )
        cur = replace(
            cur,
            benchmarks={
                **cur.benchmarks,
                **merge_side(current, pooled[current.label], only=names, reference=reference),
            },
        )
        comparison = extend(comparison, base, cur, settings)
    run.accepted_results, run.current, run.comparison = base, cur, comparison


def _release_sides(run: GateRun) -> None:
    """The accepted commit's worktree removed: nothing is measured after this."""
    run.resources.close()


def _compare_instruction_counts(run: GateRun) -> None:
    """Instructions per call, compared exactly (`count_compare`)."""
    run.counts = _compare_counts(run.baseline, run.current, run.settings, run.accepted.found)


def _note_uncommitted(run: GateRun) -> None:
    """Say that the current code is not any commit, when it has uncommitted changes."""
    current, layout = run.current, run.settings.layout
    if current.source.dirty:
        _log.info(
            f"note: the current code has uncommitted changes in "
            f"{', '.join(f'{path}/' for path in layout.source)} — "
            "measured as the files are on disk, not as any commit",
        )


def _check_budgets(run: GateRun) -> None:
    """The budgets, on the current run alone."""
    run.budgets = check_budgets(run.current, run.settings.budgets)


def _decide(run: GateRun) -> None:
    """The verdict from the comparison, the counts and the budgets."""
    run.verdict = decide(run.comparison, run.budgets, run.accepted, run.settings, counts=run.counts)


def _trend(run: GateRun) -> None:
    """The trend across the baseline file's git history, this run its last point (`--history`)."""
    options, root, relative = run.options, run.root, run.relative
    current = run.current
    if options.history:
        history = with_current(read_history(root, relative, options.history), current)
        _log.info(history.summary())
        run.verdict = replace(run.verdict, history=history)


def _write_outputs(run: GateRun) -> None:
    """results-*.json, the report, and in GitHub Actions the summary, outputs and annotations."""
    out, current, verdict, hooks = run.out, run.current, run.verdict, run.hooks
    _write_results(out, current, run.baseline)
    hooks.write_report(verdict, out, current)
    publish_github(verdict, out, hooks.env)


#: `perf`, top to bottom: what the gate does, in the order it does it.
PERF_STEPS: tuple[Step, ...] = (
    _settings_and_folders,
    _stored_baseline,
    _accepted_state,
    _prepare_sides,
    _measure_timings,
    _measure_memory_and_counts,
    _compare_timings,
    _extend_unsettled,
    _release_sides,
    _compare_instruction_counts,
    _note_uncommitted,
    _check_budgets,
    _decide,
    _trend,
    _write_outputs,
)


def perf(options: GateOptions, hooks: Hooks | None = None) -> Verdict:
    """Measure, compare, decide, report (`PERF_STEPS`). Raises GateError for unusable input
    (exit 2)."""
    return run_steps(GateRun(options, hooks or Hooks()), PERF_STEPS).verdict


def _compare_counts(
    baseline: Results | None, current: Results, settings: Settings, accepted_found: bool
) -> CountsComparison:
    # Without a baseline at all, the current counts are new (not "unchanged" against themselves).
    reference = baseline or replace(current, counts=replace(current.counts, benchmarks={}))
    return compare_counts(
        reference, current, settings, accepted_found=accepted_found and baseline is not None
    )


def _write_results(out: Path, current: Results, accepted: Results | None) -> None:
    atomic_write_text(out / "results-current.json", dump_json(results_to_json(current)))
    if accepted is not None:
        atomic_write_text(out / "results-accepted.json", dump_json(results_to_json(accepted)))


# --- GitHub Actions -------------------------------------------------------------------------------


def github_annotations(verdict: Verdict) -> list[github.Annotation]:
    """One error per failing finding (timing regression, memory regression, budget breach),
    then one warning per timing change the run saw but does not fail on (slower, faster, an
    inconclusive slowdown)."""
    items: list[github.Annotation] = []
    warnings: list[github.Annotation] = []
    for bench in verdict.benchmarks:
        if bench.failing:
            items.append(
                github.Annotation(
                    "error", f"Timing regression: {bench.name}", _timing_message(bench)
                )
            )
        elif not bench.advisory and (
            bench.state in (State.SLOWER, State.FASTER)
            or (bench.state is State.INCONCLUSIVE and bench.direction == "slower")
        ):
            warnings.append(
                github.Annotation(
                    "warning",
                    f"Timing {bench.state.value}: {bench.name}",
                    _timing_message(bench),
                )
            )
    for mem in verdict.memory:
        if mem.state is MemoryState.REGRESSION:
            peak = "" if mem.peak_change is None else f"peak {mem.peak_change * 100:+.1f} %, "
            allocs = (
                ""
                if mem.allocations_change is None
                else f"allocations {mem.allocations_change * 100:+.1f} %"
            )
            items.append(
                github.Annotation(
                    "error",
                    f"Memory regression: {mem.scenario}",
                    f"{peak}{allocs} (tolerance {mem.tolerance * 100:g} %)",
                )
            )
    for row in verdict.counts.rows if verdict.counts else ():
        if row.state in (CountState.REGRESSION, CountState.SLOWER):
            change = "" if row.change is None else f"{row.change * 100:+.2f} % "
            failing = row.state is CountState.REGRESSION
            items.append(
                github.Annotation(
                    "error" if failing else "warning",
                    f"Instruction count {'regression' if failing else 'slower'}: {row.benchmark}",
                    f"{change}instructions per call (minimum effect {row.min_effect * 100:g} %, "
                    f"repeatability {row.repeatability * 100:g} %)",
                )
            )
    items.extend(
        github.Annotation(
            "error",
            f"Budget breached: {check.label}",
            f"{check.subject}: {_amount(check.actual, check.unit)} against a {check.kind} of "
            f"{_amount(check.target, check.unit)}",
        )
        for check in verdict.budgets
        if check.status is BudgetStatus.FAIL
    )
    return items + warnings


def _timing_message(bench: BenchmarkComparison) -> str:
    pooled = ""
    if bench.first_pass is not None:
        first = len(bench.first_pass.current_samples)
        pooled = f"; decided on {first} + {len(bench.current_samples) - first} processes pooled"
    return f"{bench.reason}{pooled}; {bench.statistic}"


def _amount(value: float | None, unit: str) -> str:
    return f"{value:g} {unit}".strip() if value is not None else "not measured"


def _outputs(verdict: Verdict) -> dict[str, str]:
    benchmarks = verdict.benchmarks
    return {
        "verdict": verdict.overall.value,
        "exit-code": str(verdict.exit_code()),
        "headline": verdict.headline,
        "benchmarks": str(len(benchmarks)),
        "regressions": str(sum(b.state is State.REGRESSION and not b.advisory for b in benchmarks)),
        "improvements": str(sum(b.state is State.IMPROVEMENT for b in benchmarks)),
        "memory-regressions": str(sum(m.state is MemoryState.REGRESSION for m in verdict.memory)),
        "count-regressions": str(len(verdict.counts.regressions) if verdict.counts else 0),
        "budget-breaches": str(sum(b.status is BudgetStatus.FAIL for b in verdict.budgets)),
    }


def publish_github(verdict: Verdict, out: Path, env: Mapping[str, str] | None = None) -> None:
    """In GitHub Actions: job summary, step outputs, annotations, the PR number file."""
    if not github.in_github_actions(env):
        return
    github.write_step_summary(render_markdown(verdict), env)
    github.write_outputs(_outputs(verdict), env)
    github.emit_annotations(github_annotations(verdict))
    github.write_pr_number(out, env)


def publish_error(
    error: GateError, out: Path, hooks: Hooks | None = None, *, settings: Settings | None = None
) -> Verdict:
    """The error verdict (exit 2), written to the report folder and the job summary if possible.

    Best effort: the one-line error on stderr is what counts; a report folder that cannot be
    written (the error may be exactly that) is left alone.
    """
    hooks = hooks or Hooks()
    verdict = error_verdict(error, settings=settings)
    try:
        if out.is_dir() and os.access(out, os.W_OK):
            hooks.write_report(verdict, out, None)
        publish_github(verdict, out, hooks.env)
    except (OSError, GateError, ValueError):
        pass
    return verdict


# --- update-baseline ------------------------------------------------------------------------------


def _previous(path: Path) -> tuple[Baseline | None, str | None]:
    if not path.exists():
        return None, None
    try:
        return read_baseline(path, expected_key=environment_key()), None
    except GateError as err:
        # The file is replaced anyway; update-baseline is the fix the error hints point to.
        return None, f"the previous file is not usable and is replaced ({err})"


def _refuse_ref(run: GateRun) -> None:
    """`--ref` has no meaning here: update-baseline always measures the current code."""
    options = run.options
    if options.ref is not None:
        raise GateError(
            f"--ref {options.ref} does not apply to update-baseline: it always measures the "
            "current code — drop --ref"
        )


def _previous_baseline(run: GateRun) -> None:
    """The file to be replaced, if it is readable (an unusable one is replaced, with a note)."""
    previous, note = _previous(run.path)
    run.previous, run.previous_note = previous, note
    family = len(previous.results.benchmarks) if previous else 1
    _warn_processes(run.settings, family)


def _prepare_current_side(run: GateRun) -> None:
    """The current tree alone; the environment, the processes' options and their folder."""
    root, layout = run.root, run.settings.layout
    run.current_side = Side("current", root, "working tree", layout)
    run.accepted_side = None
    run.run_options = _run_options(run.settings, run.options)
    run.run_dir = _fresh_dir(root / RUNS_DIR / "update-baseline")
    run.environment = current_environment(layout.fingerprint_packages)


def _replace_baseline_file(run: GateRun) -> None:
    """The measured numbers (under -k with the stored ones of the others) written to
    results-current.json and then, atomically, over the baseline file."""
    options, root, relative, path = run.options, run.root, run.relative, run.path
    previous, note, measured, out = run.previous, run.previous_note, run.current, run.out
    kept: dict[str, BenchmarkResult] = {}
    if options.keyword and previous is not None:
        # -k re-measures a subset; the others keep their stored numbers rather than vanish.
        kept = {
            name: bench
            for name, bench in previous.results.benchmarks.items()
            if name not in measured.benchmarks
        }
    results = replace(
        measured,
        benchmarks=dict(sorted({**kept, **measured.benchmarks}.items())),
        counts=_kept_counts(previous, measured, options.keyword),
    )
    _write_results(out, results, None)
    # Read before the write: the previous file's commit is what `git log` finds for the path.
    stored_from = _stored_from(root, relative, previous)
    written = write_baseline(path, results)
    run.update = BaselineUpdate(
        path=relative,
        rows=diff_baselines(previous, written),
        source=results.source,
        previous_note=note,
        kept=sorted(kept),
        stored_from=stored_from,
        environment_changes=tuple(
            environment_differences(previous.results.environment, measured.environment)
            if previous
            else ()
        ),
    )


#: `update-baseline`, top to bottom: the current code measured as `perf` measures it, then the
#: file replaced, only after a complete run.
UPDATE_BASELINE_STEPS: tuple[Step, ...] = (
    _refuse_ref,
    _settings_and_folders,
    _previous_baseline,
    _prepare_current_side,
    _measure_timings,
    _measure_memory_and_counts,
    _replace_baseline_file,
)


def update_baseline(options: GateOptions, hooks: Hooks | None = None) -> BaselineUpdate:
    """Measure the current code and replace the baseline file, atomically, after a full run
    (`UPDATE_BASELINE_STEPS`)."""
    return run_steps(GateRun(options, hooks or Hooks()), UPDATE_BASELINE_STEPS).update


def _stored_from(root: Path, relative: str, previous: Baseline | None) -> str | None:
    """Where and when the previous file's numbers were measured, for the update's printout.

    Its timings are never compared with the new ones (they were taken elsewhere or at another
    time); saying where they came from tells the reader why.
    """
    if previous is None:
        return None
    stored = previous.results.environment
    parts = [f"{stored.cpu_model}, {stored.implementation} {stored.python_version}"]
    if previous.results.source.commit:
        parts.append(f"measured at {previous.results.source.commit[:10]}")
    committed = find_accepted(root, relative)
    if committed.found and committed.commit:
        parts.append(f"committed {(committed.date or '')[:10]} in {committed.commit[:10]}")
    else:
        reason = (committed.reason or "unknown reason").split(" — ")[0]
        parts.append(f"no commit found ({reason})")
    return ", ".join(parts)


def _kept_counts(previous: Baseline | None, measured: Results, keyword: str | None) -> Counts:
    """The measured counts, plus (under -k) the previous ones of benchmarks not re-counted.

    Only counts of the same valgrind are kept: two tools' counts in one file would compare
    as a change the next time.
    """
    counts = measured.counts
    if not keyword or previous is None or counts.missing is not None:
        return counts
    old = previous.results.counts
    if old.missing is not None or old.tool != counts.tool:
        return counts
    merged = {**old.benchmarks, **counts.benchmarks}
    return replace(counts, benchmarks=dict(sorted(merged.items())))
