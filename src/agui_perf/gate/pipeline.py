"""The gate's chain, top to bottom: settings → accepted state → measure → compare → verdict.

`perf` (what `nox -s perf` runs):

 1. settings from `[tool.agui_perf]`, command-line overrides, the current tree's layout
    (`[tool.agui_perf.layout]`, used for both sides) checked, the report folder checked;
 2. the stored baseline `baselines/<environment key>.json` (in the layout's baselines
    folder) read (a file from another environment is unusable input: exit 2);
 3. the accepted state: `--ref`, else the commit that last changed the baseline file, else
    the reason it cannot be found;
 4. timing: both sides in fresh processes, interleaved A B A B (`runner`), the accepted side
    from a worktree (`worktree`); without an accepted commit only the current side, against
    the stored numbers (advisory);
 5. memory: one memray run per scenario and side (`memory`); at the same time, instruction
    counts: each side's `cpu_bound` benchmarks once under callgrind (`counts`), both sides at
    once (memory and counts are deterministic, so sharing the cores changes neither);
 6. compare; benchmarks the first pass cannot settle (`compare.needs_extension`) get one
    extension of fresh processes, pooled with the first pass and decided once (`compare.extend`);
 7. budgets on the current run alone; the verdict; the trend across the baseline file's git
    history (`history`, with this run as its last point); the report; GitHub Actions outputs.

`update_baseline` measures the current code the same way and replaces the baseline file
atomically, only after a complete run.

Process boundaries (benchmark launcher, memory runner, report writer) are `Hooks`, so every
step is tested with fakes; everything else is plain functions on plain data. Progress lines
are logged (`gate.progress`), not passed a stream.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from agui_perf.gate._io import atomic_write_text, dump_json
from agui_perf.gate.decide.budgets import BudgetStatus, check_budgets
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
    from collections.abc import Callable, Mapping, Sequence

    from agui_perf.gate.decide.compare import BenchmarkComparison
    from agui_perf.gate.store.environment import Environment
    from agui_perf.gate.store.results import BenchmarkResult, MemoryResult, ProcessRun

__all__ = [
    "BASELINES_DIR",
    "NO_BASELINE",
    "BaselineUpdate",
    "GateOptions",
    "Hooks",
    "baseline_file",
    "gate_settings",
    "github_annotations",
    "measure_counts",
    "measure_memory",
    "min_processes",
    "perf",
    "prepare_out",
    "publish_error",
    "publish_github",
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


# --- 1. settings and folders ------------------------------------------------------------------


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


# --- 2.-6. measuring ------------------------------------------------------------------------


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
    _log.info(f"memory · {side.label} ({side.revision}) · {len(names)} scenarios")
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


def _measure_current_only(
    side: Side,
    run_options: RunOptions,
    run_dir: Path,
    environment: Environment,
    hooks: Hooks,
) -> Results:
    runs = hooks.timing([side], run_options, run_dir / "timing")
    benchmarks = merge_side(side, runs[side.label])
    _require_benchmarks(benchmarks, run_options.keyword, side.layout)
    memory, counts = _memory_and_counts([side], run_options, run_dir, hooks)
    return Results(
        source=working_source(side.root, side.layout.source),
        environment=environment,
        benchmarks=benchmarks,
        memory=memory[side.label],
        counts=counts[side.label],
    )


def _measure_both(
    accepted: Side,
    current: Side,
    accepted_source: Source,
    settings: Settings,
    run_options: RunOptions,
    run_dir: Path,
    environment: Environment,
    hooks: Hooks,
) -> tuple[Results, Results, Comparison]:
    sides = [accepted, current]
    runs = hooks.timing(sides, run_options, run_dir / "timing")
    # One calibration reference for both sides (gate.calibration says why).
    reference = reference_calibration([*runs[accepted.label], *runs[current.label]])
    # No benchmark on the current side is fine when the accepted one has some (all "removed"):
    # run_interleaved has already refused a selection that runs nothing on either side.
    current_benchmarks = merge_side(current, runs[current.label], reference=reference)
    accepted_benchmarks = merge_side(accepted, runs[accepted.label], reference=reference)
    memory, counts = _memory_and_counts(sides, run_options, run_dir, hooks)
    base = Results(
        source=accepted_source,
        environment=environment,
        benchmarks=accepted_benchmarks,
        memory=memory[accepted.label],
        counts=counts[accepted.label],
    )
    cur = Results(
        source=working_source(current.root, current.layout.source),
        environment=environment,
        benchmarks=current_benchmarks,
        memory=memory[current.label],
        counts=counts[current.label],
    )
    comparison = compare(base, cur, settings, accepted_found=True)
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
    return base, cur, comparison


# --- the perf chain ---------------------------------------------------------------------------


def perf(options: GateOptions, hooks: Hooks | None = None) -> Verdict:
    """Measure, compare, decide, report. Raises GateError for unusable input (exit 2)."""
    hooks = hooks or Hooks()
    root = options.root.resolve()
    settings = gate_settings(root, options)
    out = prepare_out(options.out)
    layout = settings.layout
    path, relative = baseline_file(root, layout)
    stored = read_baseline(path, expected_key=environment_key()) if path.exists() else None

    if options.ref is not None:
        accepted = resolve_ref(root, options.ref, relative)
    elif stored is None:
        accepted = AcceptedState(found=False, baseline_path=relative, reason=NO_BASELINE)
    else:
        accepted = find_accepted(root, relative)
    family = len(stored.results.benchmarks) if stored else 1
    _warn_processes(settings, family)

    environment = current_environment(layout.fingerprint_packages)
    run_options = _run_options(settings, options)
    run_dir = _fresh_dir(root / RUNS_DIR / "perf")
    current_side = Side("current", root, "working tree", layout)
    current_side = replace(current_side, packages=memory_runs.source_packages(current_side.sources))
    baseline_results: Results | None = None
    if accepted.found and accepted.commit:
        commit = accepted.commit
        with worktree(root, commit) as checkout:
            # The current tree's layout on both sides (README "Configuring the layout").
            accepted_side = Side(
                "accepted", checkout.root, commit[:10], layout, current_side.packages
            )
            baseline_results, current, comparison = _measure_both(
                accepted_side,
                current_side,
                commit_source(root, commit, layout.source),
                settings,
                run_options,
                run_dir,
                environment,
                hooks,
            )
    else:
        current = _measure_current_only(current_side, run_options, run_dir, environment, hooks)
        if stored is not None:
            baseline_results = stored.results
        reference = stored.results if stored else replace(current, benchmarks={}, memory={})
        comparison = compare(reference, current, settings, accepted_found=False)

    counts = _compare_counts(baseline_results, current, settings, accepted.found)
    if current.source.dirty:
        _log.info(
            f"note: the current code has uncommitted changes in "
            f"{', '.join(f'{path}/' for path in layout.source)} — "
            "measured as the files are on disk, not as any commit",
        )
    budgets = check_budgets(current, settings.budgets)
    verdict = decide(comparison, budgets, accepted, settings, counts=counts)
    if options.history:
        history = with_current(read_history(root, relative, options.history), current)
        _log.info(history.summary())
        verdict = replace(verdict, history=history)
    _write_results(out, current, baseline_results)
    hooks.write_report(verdict, out, current)
    publish_github(verdict, out, hooks.env)
    return verdict


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


# --- GitHub Actions ---------------------------------------------------------------------------


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


# --- update-baseline --------------------------------------------------------------------------


def _previous(path: Path) -> tuple[Baseline | None, str | None]:
    if not path.exists():
        return None, None
    try:
        return read_baseline(path, expected_key=environment_key()), None
    except GateError as err:
        # The file is replaced anyway; update-baseline is the fix the error hints point to.
        return None, f"the previous file is not usable and is replaced ({err})"


def update_baseline(options: GateOptions, hooks: Hooks | None = None) -> BaselineUpdate:
    """Measure the current code and replace the baseline file, atomically, after a full run."""
    hooks = hooks or Hooks()
    if options.ref is not None:
        raise GateError(
            f"--ref {options.ref} does not apply to update-baseline: it always measures the "
            "current code — drop --ref"
        )
    root = options.root.resolve()
    settings = gate_settings(root, options)
    out = prepare_out(options.out)
    layout = settings.layout
    path, relative = baseline_file(root, layout)
    previous, note = _previous(path)
    family = len(previous.results.benchmarks) if previous else 1
    _warn_processes(settings, family)

    side = Side("current", root, "working tree", layout)
    measured = _measure_current_only(
        side,
        _run_options(settings, options),
        _fresh_dir(root / RUNS_DIR / "update-baseline"),
        current_environment(layout.fingerprint_packages),
        hooks,
    )
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
    return BaselineUpdate(
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
