"""gate.pipeline: the whole chain on a toy git repository, with fake benchmark processes.

The repository, the worktree and the baseline file are real; the benchmark processes, the
memory runs and the report writer are injected (`Hooks`), so each test decides exactly what
each side "measured" and runs in well under a second. tests/gate/test_gate_cli.py runs the
same toy suite for real, in subprocesses.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

from agui_perf.gate.decide.compare import MemoryState, State, compare
from agui_perf.gate.decide.verdict import AcceptedState, Overall, decide
from agui_perf.gate.errors import GateError
from agui_perf.gate.pipeline import (
    NO_BASELINE,
    baseline_file,
    github_annotations,
    min_processes,
    perf,
    update_baseline,
)
from agui_perf.gate.progress import LOGGER
from agui_perf.gate.report.write import render_report
from agui_perf.gate.store.baseline import read_baseline, write_baseline
from agui_perf.gate.store.config import Settings
from agui_perf.gate.store.environment import current_environment
from agui_perf.gate.store.history import Metric
from tests._support.git import commit_all, git
from tests._support.results import make_results
from tests._support.toy import (
    BASELINE,
    KEY,
    Fake,
    options,
    plain_copy,
    steady,
    stored_results,
    toy_repo,
)

if TYPE_CHECKING:
    from pathlib import Path

    from agui_perf.gate.measure.runner import Job


# --- the accepted commit measured here ------------------------------------------------------


def test_accepted_commit_is_measured_beside_the_current_code(tmp_path: Path) -> None:
    root, accepted = toy_repo(tmp_path)
    fake = Fake(steady(1e-3, 1e-3))
    verdict = perf(options(root), fake.hooks())

    assert verdict.overall is Overall.PASS
    assert verdict.exit_code() == 0
    assert verdict.accepted is not None
    assert verdict.accepted.found
    assert verdict.accepted.commit == accepted
    assert verdict.accepted.baseline_path == BASELINE
    worktree = (root / ".perf" / "worktrees" / accepted).resolve()
    assert [(job.side.label, job.side.root) for job in fake.jobs[:2]] == [
        ("accepted", worktree),
        ("current", root.resolve()),
    ]
    assert len(fake.jobs) == 16
    assert [side.label for side in fake.memory_sides] == ["accepted", "current"]
    assert {b.name: b.state for b in verdict.benchmarks} == {
        "test_join": State.UNCHANGED,
        "test_sum": State.UNCHANGED,
    }
    assert [m.state for m in verdict.memory] == [MemoryState.UNCHANGED]
    assert not worktree.exists()  # removed on exit
    [(reported, out, current)] = fake.reports
    assert reported is verdict
    assert out == root / ".perf" / "report"
    assert current is not None
    assert current.source.commit == accepted
    stored = json.loads((out / "results-accepted.json").read_text())
    assert stored["source"]["commit"] == accepted
    assert stored["benchmarks"]["test_sum"]["extra_info"] == {"side": "accepted"}


def extension_jobs(fake: Fake) -> list[Job]:
    return [job for job in fake.jobs if job.log_path.parent.parent.name == "extend"]


@pytest.mark.parametrize(
    ("wobble", "added"),
    [(0.0, 8), (0.05, 16)],
    ids=["precise: the short extension", "5 % spread: the full one"],
)
def test_a_regression_is_extended_and_decided_on_the_pooled_processes(
    tmp_path: Path, wobble: float, added: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    root, _ = toy_repo(tmp_path)
    fake = Fake(steady(1e-3, 1.3e-3, wobble=wobble))
    verdict = perf(options(root), fake.hooks())

    assert verdict.overall is Overall.FAIL
    assert verdict.exit_code() == 1
    bench = next(b for b in verdict.benchmarks if b.name == "test_sum")
    assert bench.state is State.REGRESSION
    assert bench.extended
    assert bench.first_pass is not None
    assert bench.first_pass.state is State.REGRESSION
    assert len(bench.first_pass.current_samples) == 8
    assert len(bench.baseline_samples) == len(bench.current_samples) == 8 + added
    assert not next(b for b in verdict.benchmarks if b.name == "test_join").extended
    jobs = extension_jobs(fake)
    assert len(jobs) == 2 * added  # `added` more a side, once
    assert [job.side.label for job in jobs[:4]] == ["accepted", "current"] * 2
    assert all(job.command[-2:] == ("-k", "test_sum") for job in jobs)
    assert (
        f"1 not settled by the first pass (test_sum): {added} more fresh processes a side, "
        "pooled with the first 8 and decided once"
    ) in caplog.messages
    assert any(
        line.startswith(f"extend round {added}/{added} · current") for line in caplog.messages
    )
    # The pooled samples are what the results files hold.
    stored = json.loads((root / ".perf" / "report" / "results-current.json").read_text())
    assert len(stored["benchmarks"]["test_sum"]["samples"]) == 8 + added
    assert len(stored["benchmarks"]["test_join"]["samples"]) == 8


def test_an_extended_benchmark_that_the_pooled_processes_clear_passes(tmp_path: Path) -> None:
    root, _ = toy_repo(tmp_path)
    # A spread that takes the full extension: 16 unchanged processes outweigh the first 8.
    fake = Fake(steady(1e-3, 1.3e-3, extend_current=1e-3, wobble=0.05))
    verdict = perf(options(root, keyword="sum or join"), fake.hooks())

    assert verdict.overall is Overall.PASS
    bench = next(b for b in verdict.benchmarks if b.name == "test_sum")
    assert bench.extended
    assert bench.first_pass is not None
    assert bench.first_pass.state is State.REGRESSION
    assert bench.state is not State.REGRESSION
    assert bench.ratio is not None
    assert bench.ratio < 1.05
    # The user's -k still applies to the extension.
    assert extension_jobs(fake)[0].command[-2:] == ("-k", "(sum or join) and (test_sum)")


def test_an_unchanged_run_is_not_extended(tmp_path: Path) -> None:
    root, _ = toy_repo(tmp_path)
    fake = Fake(steady(1e-3, 1e-3))
    verdict = perf(options(root), fake.hooks())
    assert verdict.overall is Overall.PASS
    assert extension_jobs(fake) == []
    assert not any(b.extended for b in verdict.benchmarks)
    assert all(b.detectable is not None for b in verdict.benchmarks)


def test_ref_replaces_the_baseline_commit(tmp_path: Path) -> None:
    root, accepted = toy_repo(tmp_path)
    first = git(root, "rev-parse", "HEAD~1")
    fake = Fake(steady(1e-3, 1e-3))
    verdict = perf(options(root, ref="HEAD~1", processes=2), fake.hooks())
    assert verdict.accepted is not None
    assert verdict.accepted.commit == first != accepted
    assert fake.jobs[0].side.revision == first[:10]


def test_ref_that_names_nothing_is_an_error(tmp_path: Path) -> None:
    root, _ = toy_repo(tmp_path)
    fake = Fake(steady(1e-3, 1e-3))
    with pytest.raises(GateError, match="--ref 'nope' does not name a commit"):
        perf(options(root, ref="nope"), fake.hooks())
    assert fake.jobs == []


# --- without the accepted commit ------------------------------------------------------------


def test_not_a_git_repository_compares_with_stored_numbers_advisory(tmp_path: Path) -> None:
    root = plain_copy(tmp_path, stored_results({"test_sum": 1e-3, "test_join": 2e-3}))
    fake = Fake(steady(1e-3, 1.5e-3))
    verdict = perf(options(root), fake.hooks())

    assert verdict.accepted is not None
    assert not verdict.accepted.found
    assert verdict.accepted.reason == f"{root.resolve()} is not a git repository"
    bench = next(b for b in verdict.benchmarks if b.name == "test_sum")
    assert bench.state is State.REGRESSION
    assert bench.advisory
    assert not bench.extended  # advisory states are never extended
    assert verdict.overall is Overall.PASS  # timing alone never fails in this mode
    assert "timing is advisory" in verdict.headline
    assert {job.side.label for job in fake.jobs} == {"current"}
    assert len(fake.jobs) == 8


def test_stored_memory_counts_when_the_fingerprint_matches(tmp_path: Path) -> None:
    root = plain_copy(tmp_path, stored_results({"test_sum": 1e-3}, peak=10**6))
    fake = Fake(steady(1e-3, 1e-3), peaks={"current": 2 * 10**6})
    verdict = perf(options(root), fake.hooks())
    assert [m.state for m in verdict.memory] == [MemoryState.REGRESSION]
    assert verdict.overall is Overall.FAIL


def test_stored_memory_from_another_build_is_not_compared(tmp_path: Path) -> None:
    stored = stored_results({"test_sum": 1e-3}, peak=10**6, cpu_model="another CPU")
    root = plain_copy(tmp_path, stored)
    fake = Fake(steady(1e-3, 1e-3), peaks={"current": 2 * 10**6})
    verdict = perf(options(root), fake.hooks())
    [memory] = verdict.memory
    assert memory.state is MemoryState.NOT_COMPARABLE
    assert "cpu_model" in memory.reason
    assert verdict.overall is Overall.PASS


def test_no_baseline_yet_still_checks_budgets(tmp_path: Path) -> None:
    root, _ = toy_repo(tmp_path, baseline=False)
    with (root / "pyproject.toml").open("a") as handle:
        handle.write("\n[tool.agui_perf.budgets]\nworkflow_s = 1\n")

    def timing(job: Job) -> dict[str, float]:
        return {"test_sum": 1e-3}

    fake = Fake(timing)
    verdict = perf(options(root, processes=2), fake.hooks())
    assert verdict.accepted is not None
    assert verdict.accepted.reason == NO_BASELINE
    assert NO_BASELINE in verdict.headline
    assert [b.state for b in verdict.benchmarks] == [State.NEW]
    assert verdict.overall is Overall.PASS  # the budget's figure is not measured

    breach = Fake(timing)
    breach_launch = breach.launch

    def launch_with_figure(job: Job) -> int:
        status = breach_launch(job)
        doc = json.loads(job.json_path.read_text())
        doc["benchmarks"][0]["extra_info"]["workflow_s"] = 5
        job.json_path.write_text(json.dumps(doc))
        return status

    hooks = replace(breach.hooks(), launcher=launch_with_figure)
    failed = perf(options(root, processes=2), hooks)
    assert failed.overall is Overall.FAIL
    assert failed.exit_code() == 1
    assert "budget breach" in failed.headline


def test_a_baseline_from_another_environment_is_unusable(tmp_path: Path) -> None:
    root, _ = toy_repo(tmp_path, baseline=False)
    other = stored_results({"test_sum": 1e-3}, system="Darwin", machine="arm64")
    write_baseline(root / BASELINE, other)  # under this machine's name, but measured elsewhere
    before = (root / BASELINE).read_bytes()
    fake = Fake(steady(1e-3, 1e-3))
    with pytest.raises(GateError, match=r"was measured on darwin-arm64-.*not on this machine"):
        perf(options(root), fake.hooks())
    assert fake.jobs == []
    assert (root / BASELINE).read_bytes() == before


def test_an_unwritable_report_folder_fails_before_measuring(tmp_path: Path) -> None:
    root, _ = toy_repo(tmp_path)
    (root / "a-file").write_text("x")
    fake = Fake(steady(1e-3, 1e-3))
    with pytest.raises(GateError, match=r"^output folder '.*a-file/report' is not writable"):
        perf(options(root, out=root / "a-file" / "report"), fake.hooks())
    assert fake.jobs == []


def test_a_filter_that_selects_nothing(tmp_path: Path) -> None:
    root, _ = toy_repo(tmp_path)

    jobs: list[Job] = []

    def nothing(job: Job) -> int:
        jobs.append(job)
        return 5  # pytest: no tests collected

    hooks = replace(Fake(steady(1e-3, 1e-3)).hooks(), launcher=nothing)
    with pytest.raises(GateError, match=r"^-k 'nope' selects no benchmark in either tree \("):
        perf(options(root, keyword="nope", processes=4), hooks)
    assert [job.side.label for job in jobs] == ["accepted", "current"]  # one round, then stop
    with pytest.raises(GateError, match=r"^-k 'nope' selects no benchmark in the current code"):
        update_baseline(options(root, keyword="nope", processes=4), hooks)


@pytest.mark.parametrize(("benchmarks", "needed"), [(1, 5), (15, 7), (20, 7), (200, 9)])
def test_min_processes(benchmarks: int, needed: int) -> None:
    assert min_processes(0.01, benchmarks) == needed


def test_too_few_processes_warn(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    root, _ = toy_repo(tmp_path)
    fake = Fake(steady(1e-3, 1e-3))
    perf(options(root, processes=3), fake.hooks())
    assert caplog.messages[0] == (
        "warning: with 3 processes a side the first pass cannot reach significance at "
        "alpha 0.01 over 2 benchmarks (Holm), so only the extension's pooled processes can "
        "decide; use --processes 5 or more"
    )


# --- GitHub Actions -------------------------------------------------------------------------


def test_github_actions_summary_outputs_annotations_and_pr_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, _ = toy_repo(tmp_path)
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 42}}))
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "GITHUB_OUTPUT": str(tmp_path / "output.txt"),
        "GITHUB_EVENT_PATH": str(event),
    }
    fake = Fake(steady(1e-3, 1.3e-3))
    verdict = perf(options(root), fake.hooks(env))

    assert verdict.overall is Overall.FAIL
    summary = (tmp_path / "summary.md").read_text()
    assert summary.startswith("## ❌ FAIL")
    assert "test\\_sum" in summary
    outputs = (tmp_path / "output.txt").read_text()
    assert "verdict<<" in outputs
    assert "\nfail\n" in outputs
    assert "regressions<<" in outputs
    assert (root / ".perf" / "report" / "pr-number").read_text() == "42\n"
    annotations = [line for line in capsys.readouterr().out.splitlines() if line.startswith("::")]
    assert len(annotations) == 1
    assert annotations[0].startswith("::error title=Timing regression%3A test_sum::slower by ~30.")
    assert "decided on 8 + 8 processes pooled" in annotations[0]


def test_annotations_name_every_failing_finding(tmp_path: Path) -> None:
    root = plain_copy(tmp_path, stored_results({"test_sum": 1e-3}, peak=10**6))
    with (root / "pyproject.toml").open("a") as handle:
        handle.write("\n[tool.agui_perf.budgets]\npeak_memory_mb = 1\n")
    fake = Fake(steady(1e-3, 1e-3), peaks={"current": 3 * 10**6})
    verdict = perf(options(root), fake.hooks())
    items = github_annotations(verdict)
    assert [item.title for item in items] == [
        "Memory regression: toy_alloc",
        "Budget breached: peak memory",
    ]
    assert items[0].message == "peak +200.0 %, allocations +0.0 % (tolerance 2 %)"
    assert items[1].message == "toy_alloc: 3 MB against a max of 1 MB"
    assert all(item.level == "error" for item in github_annotations(verdict))


def test_slower_faster_and_inconclusive_slowdowns_are_warnings_after_the_errors() -> None:
    def spread(centre: float, step: float = 0.004) -> list[float]:
        return [centre * (1 + step * (i - 4)) for i in range(8)]

    wide = [1.0, 3.0, 0.5, 2.0, 0.8, 2.5, 0.6, 1.5]
    base = make_results(
        {"fail": spread(1.0), "slow": spread(1.0), "fast": spread(1.0), "wide": wide}
    )
    current = make_results(
        {
            "fail": spread(1.3),
            "slow": spread(1.04),
            "fast": spread(0.96),
            "wide": [1.3 * x for x in wide[::-1]],
        }
    )
    settings = Settings()
    comparison = compare(base, current, settings, accepted_found=True)
    accepted = AcceptedState(found=True, baseline_path=BASELINE)
    items = github_annotations(decide(comparison, (), accepted, settings))
    assert [(item.level, item.title) for item in items] == [
        ("error", "Timing regression: fail"),
        ("warning", "Timing faster: fast"),
        ("warning", "Timing slower: slow"),
        ("warning", "Timing inconclusive: wide"),
    ]
    assert items[2].message.startswith(
        "slower by ~4.0 %: significant, below what this run can call a regression"
    )
    assert "Holm-corrected over 4 benchmarks" in items[2].message


def test_outside_github_actions_nothing_is_published(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, _ = toy_repo(tmp_path)
    env = {"GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}  # but not GITHUB_ACTIONS=true
    perf(options(root), Fake(steady(1e-3, 1.3e-3)).hooks(env))
    assert not (tmp_path / "summary.md").exists()
    assert "::error" not in capsys.readouterr().out


# --- the trend ------------------------------------------------------------------------------


def test_perf_shows_the_trend_over_the_baseline_commits(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    root, first = toy_repo(tmp_path)
    write_baseline(root / BASELINE, stored_results({"test_sum": 1.1e-3, "test_join": 2e-3}))
    second = commit_all(root, "accept v2")
    write_baseline(root / BASELINE, stored_results({"test_sum": 1.2e-3, "test_join": 2e-3}))
    third = commit_all(root, "accept v3")
    fake = Fake(steady(1.2e-3, 1.2e-3))
    verdict = perf(options(root, history=30), fake.hooks())

    history = verdict.history
    assert history is not None
    assert [p.commit for p in history.points[:-1]] == [first, second, third]
    assert history.points[-1].current
    sums = history.series(Metric.TIME, "test_sum")
    assert sums[:3] == pytest.approx([1e-3 * 1.0035, 1.1e-3 * 1.0035, 1.2e-3 * 1.0035], rel=1e-2)
    assert sums[3] == pytest.approx(1.2e-3, rel=1e-2)
    assert f"trend over 3 commits that changed {BASELINE} and this run" in caplog.messages
    files = render_report(verdict)
    assert "### Trend" in files["verdict.md"]
    assert files["report.html"].count('id="chart-agui-perf-trend-') == 3  # no counts in the toy
    assert json.loads(files["verdict.json"])["history"]["points"][-1]["label"] == "current"


def test_perf_history_zero_draws_no_trend(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    root, _ = toy_repo(tmp_path)
    fake = Fake(steady(1e-3, 1e-3))
    verdict = perf(options(root, history=0), fake.hooks())
    assert verdict.history is None
    assert caplog.messages  # the run's progress was captured, without a trend line
    assert not any("trend" in line for line in caplog.messages)
    assert json.loads(render_report(verdict)["verdict.json"])["history"] is None


def test_perf_in_a_shallow_clone_says_the_trend_is_cut(tmp_path: Path) -> None:
    root, _ = toy_repo(tmp_path)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--depth", "1", root.as_uri(), str(clone))
    fake = Fake(steady(1e-3, 1e-3))
    verdict = perf(options(clone, history=30), fake.hooks())
    assert verdict.history is not None
    assert verdict.history.notes[0].startswith("shallow clone: the history before ")
    assert "shallow clone: the history before" in render_report(verdict)["verdict.md"]


# --- update-baseline ------------------------------------------------------------------------


def test_update_baseline_replaces_the_file_and_lists_the_changes(tmp_path: Path) -> None:
    root, _ = toy_repo(tmp_path)

    def timing(job: Job) -> dict[str, float]:
        return {"test_sum": 1.5e-3 * (1 + job.round / 1000), "test_new": 1e-6}

    fake = Fake(timing)
    update = update_baseline(options(root, processes=3), fake.hooks())

    assert update.path == BASELINE
    assert {job.side.label for job in fake.jobs} == {"current"}
    stored = read_baseline(root / BASELINE, expected_key=KEY)
    assert set(stored.results.benchmarks) == {"test_sum", "test_new"}  # test_join removed
    assert len(stored.results.benchmarks["test_sum"].samples) == 3
    assert stored.results.source == update.source
    rows = {(row.name, row.metric): row for row in update.rows}
    sum_row = rows["test_sum", "median s"]
    assert sum_row.old is not None
    assert sum_row.new is not None
    assert sum_row.pct == pytest.approx((sum_row.new - sum_row.old) / sum_row.old * 100)
    assert rows["test_join", "median s"].new is None
    assert rows["test_new", "median s"].old is None
    assert ("toy_alloc", "peak bytes") in rows
    assert update.kept == []


def test_update_baseline_with_a_filter_keeps_the_others(tmp_path: Path) -> None:
    root, _ = toy_repo(tmp_path)
    before = read_baseline(root / BASELINE, expected_key=KEY).results.benchmarks["test_join"]
    fake = Fake(lambda job: {"test_sum": 3e-3})
    update = update_baseline(options(root, processes=2, keyword="test_sum"), fake.hooks())
    assert update.kept == ["test_join"]
    stored = read_baseline(root / BASELINE, expected_key=KEY).results.benchmarks
    assert stored["test_join"].samples == before.samples
    assert stored["test_sum"].median == pytest.approx(3e-3)


def test_update_baseline_replaces_an_unusable_file(tmp_path: Path) -> None:
    root, _ = toy_repo(tmp_path)
    (root / BASELINE).write_text("{ not json")
    update = update_baseline(options(root, processes=1), Fake(steady(1e-3, 1e-3)).hooks())
    assert update.previous_note is not None
    assert update.previous_note.startswith("the previous file is not usable and is replaced")
    assert read_baseline(root / BASELINE, expected_key=KEY).results.benchmarks


@pytest.mark.parametrize("failure", ["crash", "interrupt"])
def test_a_failed_or_interrupted_update_leaves_the_old_file(tmp_path: Path, failure: str) -> None:
    root, _ = toy_repo(tmp_path)
    before = (root / BASELINE).read_bytes()
    fake = Fake(steady(1e-3, 1e-3))

    def launch(job: Job) -> int:
        if job.round == 3:  # half way
            if failure == "interrupt":
                raise KeyboardInterrupt
            job.log_path.write_text("FAILED tests/benchmarks/test_toy.py::test_sum - boom\n")
            return 1
        return fake.launch(job)

    hooks = replace(fake.hooks(), launcher=launch)
    with pytest.raises(KeyboardInterrupt if failure == "interrupt" else GateError):
        update_baseline(options(root, processes=4), hooks)
    assert (root / BASELINE).read_bytes() == before
    assert sorted(p.name for p in (root / "baselines").iterdir()) == [f"{KEY}.json"]


def test_update_baseline_says_where_the_stored_numbers_came_from(tmp_path: Path) -> None:
    root, accepted = toy_repo(tmp_path)
    date = git(root, "show", "-s", "--format=%cI", accepted)[:10]
    update = update_baseline(options(root, processes=2), Fake(steady(1e-3, 1e-3)).hooks())
    env = current_environment()
    assert update.stored_from == (
        f"{env.cpu_model}, {env.implementation} {env.python_version}, measured at aaaaaaaaaa, "
        f"committed {date} in {accepted[:10]}"
    )
    assert update.environment_changes == ()
    timing = [row for row in update.rows if not row.comparable]
    assert {row.metric for row in timing} == {"median s"}
    assert {row.metric for row in update.rows if row.comparable} == {"peak bytes", "allocations"}


def test_update_baseline_over_a_file_from_another_machine_says_so(tmp_path: Path) -> None:
    root, _ = toy_repo(tmp_path, baseline=False)
    elsewhere = stored_results({"test_sum": 1e-3, "test_join": 2e-3}, cpu_model="Other CPU")
    write_baseline(root / BASELINE, elsewhere)  # not committed
    update = update_baseline(options(root, processes=2), Fake(steady(1e-3, 1e-3)).hooks())
    assert update.stored_from is not None
    assert update.stored_from.startswith("Other CPU, ")
    assert update.stored_from.endswith(f"no commit found ({BASELINE} has never been committed)")
    assert update.environment_changes == (
        f"cpu_model 'Other CPU' vs {current_environment().cpu_model!r}",
    )


def test_update_baseline_without_a_previous_file_has_no_origin(tmp_path: Path) -> None:
    root, _ = toy_repo(tmp_path, baseline=False)
    update = update_baseline(options(root, processes=2), Fake(steady(1e-3, 1e-3)).hooks())
    assert update.stored_from is None
    assert all(row.old is None for row in update.rows)


def test_update_baseline_refuses_ref(tmp_path: Path) -> None:
    root, _ = toy_repo(tmp_path)
    with pytest.raises(GateError, match="--ref HEAD does not apply to update-baseline"):
        update_baseline(options(root, ref="HEAD"), Fake(steady(1e-3, 1e-3)).hooks())


def test_baseline_file_is_named_for_this_environment(tmp_path: Path) -> None:
    path, relative = baseline_file(tmp_path)
    assert relative == f"baselines/{KEY}.json"
    assert path == tmp_path / relative
