"""`python -m agui_perf.gate.quality` (`nox -s verdict-quality`): the chain, top to bottom.

1. options checked (`options`: bad input is one line and exit 2, before anything runs);
2. the project at HEAD (a dirty tree is refused: the copies would not hold its changes);
3. copies: one clone of HEAD per case, in one temporary folder removed at the end;
4. the slowdown validated (function and benchmark exist), calibrated when sized by effect,
   and written into each slowed copy;
5. the true effect measured apart from the gate: unchanged and slowed copies side by side;
6. the gate run on every case, cases interleaved round by round, each run's output kept;
7. the tables: printed, and written as quality.md and quality.json under --out.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from agui_perf.gate.cli import interrupts
from agui_perf.gate.errors import GateError
from agui_perf.gate.measure.runner import (
    RunOptions,
    Side,
    format_duration,
    keyword_filter,
    run_interleaved,
    run_process,
)
from agui_perf.gate.progress import to_stderr
from agui_perf.gate.quality.cases import UNCHANGED, Case
from agui_perf.gate.quality.copies import (
    Copies,
    GateRef,
    Project,
    dirty_paths,
    gate_ref,
    head_commit,
    project,
    slow_down,
)
from agui_perf.gate.quality.gate_runs import GateRun, gate_env, run_gate
from agui_perf.gate.quality.inject import Target, inject, module_file
from agui_perf.gate.quality.options import PROG, Config, parse_config
from agui_perf.gate.quality.progress import GATE_RUN, LOGGER, PREFIX, PROCESS, Progress
from agui_perf.gate.quality.report import (
    CaseResult,
    Report,
    benchmarks_table,
    cases_table,
    format_effect,
    write_report,
)
from agui_perf.gate.quality.suite import collect_benchmarks
from agui_perf.gate.quality.tally import tally
from agui_perf.gate.store.results import measured_name

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from agui_perf.gate.measure.runner import Job
    from agui_perf.gate.quality.measure import Calibration, Effect
    from agui_perf.gate.store.results import ProcessRun

__all__ = ["main", "run"]


def _fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


class _Harness:
    """The state one run of the harness carries from step to step."""

    def __init__(self, config: Config, progress: Progress, out: Path) -> None:
        self.config = config
        self.progress = progress
        self.out = out

    def launcher(self, stage: str, processes: int) -> Callable[[Job], int]:
        def launch(job: Job) -> int:
            self.progress.say(
                f"{stage} · {job.side.revision} · process {job.round}/{processes} · "
                f"{self.progress.left()}"
            )
            return self.progress.timed(PROCESS, lambda: run_process(job))

        return launch

    def interleaved(
        self, sides: Sequence[Side], processes: int, keyword: str | None, stage: str, folder: str
    ) -> dict[str, list[ProcessRun]]:
        options = RunOptions(processes=processes, scale=self.config.scale, keyword=keyword)
        return run_interleaved(
            sides,
            options,
            self.out / "measure" / folder,
            launcher=self.launcher(stage, processes),
        )


def _check_target(root: Path, target: Target) -> None:
    """Fail now, not after minutes, if the function is not there."""
    path = module_file(root, target.module)
    text = path.read_text(encoding="utf-8")
    inject(text, target.qualname, "pass\n", filename=path.relative_to(root).as_posix())


def _check_benchmark(side: Side, config: Config) -> None:
    names = collect_benchmarks(side, config.scale)
    # A derived row ("<name> · server CPU") is measured by its benchmark: that one must exist.
    if config.benchmark is not None and measured_name(config.benchmark) not in names:
        shown = ", ".join(names[:20]) + (", …" if len(names) > 20 else "")
        raise GateError(
            f"unknown benchmark {config.benchmark!r} — the gate's benchmarks are: {shown or 'none'}"
        )


def _calibrate(
    harness: _Harness, unchanged: Side, probe: Side, cases: Sequence[Case]
) -> tuple[Calibration, list[Case]]:
    # The statistics stack (numpy, scipy) loads only once there is something to measure, so
    # that bad input is reported within a second (the same for the pipeline further down).
    from agui_perf.gate.quality.measure import calibrate, effects

    config = harness.config
    target, benchmark = config.target, config.benchmark
    assert target is not None
    assert benchmark is not None
    processes = config.calibration_processes
    steps = 0

    def measure(iterations: int) -> float:
        nonlocal steps
        steps += 1
        slow_down(probe.root, target, config.work, iterations)
        harness.progress.plan(PROCESS, 2 * processes)
        runs = harness.interleaved(
            [unchanged, replace(probe, revision=f"{iterations:,} iterations")],
            processes,
            keyword_filter([benchmark]),
            f"calibration step {steps}",
            f"calibration-{steps:02d}",
        )
        measured = effects(runs, unchanged, [probe], [benchmark])[probe.label]
        if benchmark not in measured:
            raise GateError(
                f"benchmark {benchmark!r} was collected but not measured — is it a benchmark "
                "(does it use the benchmark fixture)?"
            )
        ratio = measured[benchmark].ratio
        harness.progress.say(
            f"calibration step {steps}: {iterations:,} iterations → "
            f"{(ratio - 1) * 100:+.1f} % on {benchmark}"
        )
        return ratio

    targets = [c.target_effect for c in cases if c.target_effect is not None]
    calibration = calibrate(
        targets, measure, describe=f"{config.work} work in {target} on {benchmark}"
    )
    sized = [
        replace(c, iterations=calibration.iterations_for(c.target_effect))
        if c.target_effect is not None
        else c
        for c in cases
    ]
    harness.progress.say(
        "calibrated: "
        + ", ".join(f"{c.label} → {c.iterations:,} iterations" for c in sized if c.slowed)
    )
    return calibration, sized


def _true_effects(
    harness: _Harness, unchanged: Side, slowed: dict[str, Side]
) -> dict[str, dict[str, Effect]]:
    from agui_perf.gate.quality.measure import effects

    config = harness.config
    processes = config.effect_processes
    sides = [unchanged, *slowed.values()]
    if config.all_benchmarks:
        keyword, names = config.keyword, None
    else:
        assert config.benchmark is not None
        keyword, names = keyword_filter([config.benchmark]), [config.benchmark]
    harness.progress.plan(PROCESS, len(sides) * processes)
    runs = harness.interleaved(sides, processes, keyword, "true effect", "true-effect")
    measured = effects(runs, unchanged, list(slowed.values()), names)
    for case_id, by_name in measured.items():
        if config.benchmark in by_name:
            effect = by_name[config.benchmark]
            harness.progress.say(
                f"true effect · {slowed[case_id].revision}: {format_effect(effect)} "
                f"on {config.benchmark}"
            )
    return measured


def _gate_runs(
    harness: _Harness, roots: dict[str, Path], cases: Sequence[Case], gate_args: Sequence[str]
) -> dict[str, list[GateRun]]:
    config, progress = harness.config, harness.progress
    env = gate_env()
    total = config.runs * len(cases)
    progress.plan(GATE_RUN, total)
    done: dict[str, list[GateRun]] = {case.id: [] for case in cases}
    number = 0
    # Round by round, every case once a round: drift of the machine over the hour spreads
    # over all cases instead of landing on whichever ran last.
    for round_ in range(1, config.runs + 1):
        for case in cases:
            number += 1
            progress.say(
                f"gate run {number}/{total} · {case.label} ({round_}/{config.runs}) · "
                f"{progress.left()}"
            )
            out = harness.out / "runs" / case.id / f"run-{round_:02d}"
            run = run_gate(case.id, round_, roots[case.id], out, gate_args, env=env)
            progress.done(GATE_RUN, run.wall_s)
            done[case.id].append(run)
            headline = run.verdict.get("headline") if run.verdict else None
            said = run.error or (headline if isinstance(headline, str) else run.overall)
            progress.say(
                f"gate run {number}/{total} · {case.label}: exit {run.exit_code} in "
                f"{format_duration(run.wall_s)} · {said}"
            )
            if run.error is not None and round_ == 1:
                # The first run of a case failing is a setup problem, not noise: stop now
                # rather than repeat it for an hour.
                raise GateError(f"the gate failed on {case.label}: {run.error} — see {run.log}")
    return done


def _project(config: Config) -> tuple[Project, str, list[str]]:
    """The repository, its HEAD, and what is uncommitted (refused unless --allow-dirty)."""
    repo = project(Path.cwd())
    head = head_commit(repo)
    dirty = dirty_paths(repo)
    if dirty and not config.allow_dirty:
        raise GateError(
            f"the project has uncommitted changes ({dirty[0].strip()}"
            f"{f' and {len(dirty) - 1} more' if len(dirty) > 1 else ''}); the copies are made "
            f"from HEAD ({head[:10]}) and would not contain them — commit them, or pass "
            "--allow-dirty to measure HEAD anyway"
        )
    return repo, head, dirty


def _prepare_out(out: Path) -> Path:
    """The output folder, writable, with fresh `runs/` and `measure/`; absolute, because the
    benchmark processes and the gate runs work in the copies."""
    from agui_perf.gate.pipeline import prepare_out

    folder = prepare_out(out).resolve()
    for name in ("runs", "measure"):
        _fresh(folder / name)
    return folder


def _accepted_side(config: Config, root: Path, head: str) -> GateRef:
    from agui_perf.gate.pipeline import baseline_file
    from agui_perf.gate.store.config import load_settings

    if config.ref_given:
        return GateRef(None, "the accepted side is the --ref given")
    _, baseline = baseline_file(root, load_settings(root / "pyproject.toml").layout)
    return gate_ref(root, baseline, head)


def _slowdowns(
    harness: _Harness, copies: Copies, unchanged: Side, roots: dict[str, Path]
) -> tuple[list[Case], Calibration | None, dict[str, dict[str, Effect]]]:
    """A copy per slowed case, sized (calibrated if asked by effect) and slowed down; the
    true effects. Returns the cases with their iterations."""
    config = harness.config
    cases = list(config.cases)
    target = config.target
    if target is None:
        return cases, None, {}
    slowed = [c for c in cases if c.slowed]
    for case in slowed:
        roots[case.id] = copies.make(case.id)
    sides = {c.id: Side(c.id, roots[c.id], c.label) for c in slowed}
    calibration = None
    if any(c.target_effect is not None for c in slowed):
        calibration, cases = _calibrate(harness, unchanged, sides[slowed[0].id], cases)
    for case in cases:
        if case.work is not None:
            assert case.iterations is not None
            slow_down(roots[case.id], target, case.work, case.iterations)
    measured: dict[str, dict[str, Effect]] = {}
    if config.benchmark is not None or config.all_benchmarks:
        measured = _true_effects(harness, unchanged, sides)
    return cases, calibration, measured


def run(config: Config, progress: Progress) -> Report:
    """The whole chain; GateError for anything unusable.

    What can be checked in seconds is checked before the first measurement: the tree, the
    function, the benchmark, the output folder.
    """
    repo, head, dirty = _project(config)
    with Copies(repo, head) as copies:
        progress.say(f"copies of {head[:10]} in {copies.folder}")
        unchanged = Side(UNCHANGED.id, copies.make(UNCHANGED.id), "unchanged")
        if config.target is not None:
            _check_target(unchanged.root, config.target)
        if config.benchmark is not None:
            _check_benchmark(unchanged, config)
        harness = _Harness(config, progress, _prepare_out(config.out))
        ref = _accepted_side(config, unchanged.root, head)
        progress.say(ref.reason)
        gate_args = [*config.gate_args, *(["--ref", ref.ref] if ref.ref else [])]
        roots = {UNCHANGED.id: unchanged.root}
        cases, calibration, measured = _slowdowns(harness, copies, unchanged, roots)
        runs = _gate_runs(harness, roots, cases, gate_args)
    results = tuple(
        CaseResult(c, tally(runs[c.id]), tuple(runs[c.id]), measured.get(c.id, {})) for c in cases
    )
    return Report(
        head=head,
        accepted=ref.reason,
        gate_args=tuple(gate_args),
        runs=config.runs,
        cases=results,
        inject=None if config.target is None else str(config.target),
        benchmark=config.benchmark,
        calibration=calibration,
        effect_processes=config.effect_processes if measured else 0,
        dirty=bool(dirty),
    )


def _error(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_config(sys.argv[1:] if argv is None else argv)
    progress = Progress()
    try:
        with interrupts(), to_stderr(LOGGER, PREFIX):
            report = run(config, progress)
            markdown, data = write_report(config.out, report)
    except KeyboardInterrupt:
        return _error("interrupted — the copies were removed; no report written")
    except GateError as err:
        return _error(str(err))
    except OSError as err:
        where = f" ({err.filename})" if err.filename else ""
        return _error(f"{err.strerror or err}{where} — fix it and run verdict-quality again")
    print("\n".join(cases_table(report)))
    print()
    print("\n".join(benchmarks_table(report)))
    print(f"\nreport: {markdown} and {data}")
    return 0
