"""gate.history against real temporary git repositories: several baseline commits, a shallow
clone, no history at all, versions that cannot be read."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING

import pytest

from agui_perf.gate.store.baseline import baseline_to_json, write_baseline
from agui_perf.gate.store.history import CURRENT_LABEL, Metric, read_history, with_current
from agui_perf.gate.store.results import CountResult, Counts, Source
from tests._support.git import GIT_ENV, commit_all, git, init_repo, write
from tests._support.results import make_env, make_memory, make_results

if TYPE_CHECKING:
    from pathlib import Path

    from agui_perf.gate.store.environment import Environment
    from agui_perf.gate.store.results import Results

BASELINE = "baselines/linux-x86_64-cpython3.11.json"


@pytest.fixture(autouse=True)
def _isolated_git(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)


def measured(
    time: float, peak: int, env: Environment | None = None, counter: str = "valgrind-3.19.0"
) -> Results:
    """A complete baseline: one benchmark at `time` s, one scenario at `peak` bytes."""
    results = make_results(
        {"test_encode": [time, time * 1.01, time * 0.99]},
        [make_memory("stream", peak, 9000)],
        env=env,
    )
    counts = Counts(
        benchmarks={"test_encode": CountResult("test_encode", 2_000_000, 20)},
        tool=counter,
        missing=None,
    )
    return dataclasses.replace(results, counts=counts)


def commit_baseline(repo: Path, results: Results, message: str) -> str:
    write_baseline(repo / BASELINE, results)
    return commit_all(repo, message)


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, list[str]]:
    """Two code commits, then three baseline commits with a code commit between, then more
    code: seven commits."""
    root = init_repo(tmp_path / "repo")
    write(root / "src" / "pkg.py", "V = 0\n")
    commit_all(root, "code")
    write(root / "README", "the toy\n")
    commit_all(root, "docs")
    commits = [commit_baseline(root, measured(1.00e-3, 1_000_000), "accept v1")]
    write(root / "src" / "pkg.py", "V = 1\n")
    commit_all(root, "code v2, no baseline change")
    commits.append(commit_baseline(root, measured(1.10e-3, 1_000_000), "accept v2"))
    commits.append(commit_baseline(root, measured(1.20e-3, 1_100_000), "accept v3"))
    write(root / "src" / "pkg.py", "V = 3\n")
    commit_all(root, "code v4")
    return root, commits


def test_every_commit_that_changed_the_baseline_oldest_first(repo: tuple[Path, list[str]]) -> None:
    root, commits = repo
    history = read_history(root, BASELINE, 30)
    assert history.notes == ()
    assert [p.commit for p in history.points] == commits
    assert [p.subject for p in history.points] == ["accept v1", "accept v2", "accept v3"]
    assert [p.label for p in history.points] == [c[:7] for c in commits]
    assert all(p.date[:2] == "20" and p.skipped is None for p in history.points)
    assert history.series(Metric.TIME, "test_encode") == [1.00e-3, 1.10e-3, 1.20e-3]
    assert history.series(Metric.PEAK, "stream") == [1_000_000, 1_000_000, 1_100_000]
    assert history.series(Metric.ALLOCATIONS, "stream") == [9000, 9000, 9000]
    assert history.series(Metric.INSTRUCTIONS, "test_encode") == [100_000] * 3
    assert history.environment_changes() == [False, False, False]
    assert history.summary() == f"trend over 3 commits that changed {BASELINE}"


def test_the_current_run_is_the_last_point(repo: tuple[Path, list[str]]) -> None:
    root, _ = repo
    current = dataclasses.replace(
        measured(1.3e-3, 1_200_000), source=Source(commit="c" * 40, tree_hash="", dirty=True)
    )
    history = with_current(read_history(root, BASELINE, 30), current)
    last = history.points[-1]
    assert last.current
    assert last.label == CURRENT_LABEL
    assert last.subject == "this run (working tree, uncommitted changes in src/)"
    assert history.series(Metric.TIME, "test_encode")[-1] == pytest.approx(1.3e-3)
    assert history.summary().endswith("and this run")
    obj = json.loads(json.dumps(history.to_json(), allow_nan=False))
    assert [p["label"] for p in obj["points"]][-1] == "current"
    assert obj["points"][0]["values"]["time"] == {"test_encode": 1.0e-3}


def test_bounded_to_the_last_n_commits(repo: tuple[Path, list[str]]) -> None:
    root, commits = repo
    history = read_history(root, BASELINE, 2)
    assert [p.commit for p in history.points] == commits[1:]
    assert history.notes == (
        f"the last 2 commits that changed {BASELINE} (older ones left out; --history N shows more)",
    )
    # Exactly N commits in the history: nothing is left out, nothing is said.
    assert read_history(root, BASELINE, 3).notes == ()


def test_counts_made_another_way_are_gaps_in_the_instruction_trend(tmp_path: Path) -> None:
    # Another counter (here: a newer valgrind) counts other instructions for the same code:
    # those points are left out of that trend, and only of that one.
    root = init_repo(tmp_path / "repo")
    commit_baseline(root, measured(1e-3, 1000), "valgrind 3.19")
    newer = "valgrind-3.22.0"
    commit_baseline(root, measured(1e-3, 1000, counter=newer), "valgrind 3.22")
    history = read_history(root, BASELINE, 30)
    assert [p.counter for p in history.points] == ["valgrind-3.19.0", newer]
    assert history.series(Metric.INSTRUCTIONS, "test_encode") == [None, 100_000]
    assert history.series(Metric.TIME, "test_encode") == [1e-3, 1e-3]
    current = with_current(history, measured(1e-3, 1000, counter="valgrind-3.24.0"))
    assert current.series(Metric.INSTRUCTIONS, "test_encode") == [None, None, 100_000]
    assert current.names(Metric.INSTRUCTIONS) == ["test_encode"]


def test_a_changed_environment_is_marked(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    commit_baseline(root, measured(1e-3, 1000), "on AMD")
    commit_baseline(root, measured(1e-3, 1000, env=make_env(cpu_model="Intel Xeon")), "on Intel")
    commit_baseline(root, measured(2e-3, 1000, env=make_env(cpu_model="Intel Xeon")), "again")
    history = read_history(root, BASELINE, 30)
    assert history.environment_changes() == [False, True, False]
    points = history.to_json()["points"]
    assert isinstance(points, list)
    assert [p["environment_changed"] for p in points] == [False, True, False]


def test_versions_that_cannot_be_read_are_skipped_with_the_reason(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    commit_baseline(root, measured(1e-3, 1000), "good")
    write(root / BASELINE, "{ not json")
    damaged = commit_all(root, "damaged")
    future = baseline_to_json(measured(1e-3, 1000))
    future["schema_version"] = 9
    write(root / BASELINE, json.dumps(future))
    commit_all(root, "from a later gate")
    old = baseline_to_json(measured(2e-3, 1000))
    del old["counts"]
    old["schema_version"] = 1
    write(root / BASELINE, json.dumps(old))
    commit_all(root, "schema 1")

    history = read_history(root, BASELINE, 30)
    assert [p.subject for p in history.points] == [
        "good",
        "damaged",
        "from a later gate",
        "schema 1",
    ]
    assert [p.subject for p in history.readable] == ["good", "schema 1"]
    reasons = {p.subject: p.skipped for p in history.skipped}
    assert reasons["damaged"] is not None
    assert reasons["damaged"].startswith("is not valid JSON")
    assert reasons["from a later gate"] == "has schema version 9; this gate reads version 1 or 2"
    assert history.points[1].label == damaged[:7]
    # A schema 1 version has no counts: the row is absent there, not zero.
    assert history.series(Metric.INSTRUCTIONS, "test_encode") == [100_000, None]
    assert history.series(Metric.TIME, "test_encode") == [1e-3, 2e-3]
    assert history.summary().endswith("(2 skipped: unreadable)")


def test_a_deleted_and_restored_file(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    commit_baseline(root, measured(1e-3, 1000), "first")
    (root / BASELINE).unlink()
    commit_all(root, "drop the baseline")
    commit_baseline(root, measured(2e-3, 1000), "again")
    history = read_history(root, BASELINE, 30)
    assert [p.subject for p in history.points] == ["first", "again"]


def test_shallow_clone_says_where_history_stops(
    repo: tuple[Path, list[str]], tmp_path: Path
) -> None:
    root, _ = repo
    clone = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", root.as_uri(), str(clone))
    history = read_history(clone, BASELINE, 30)
    # One commit fetched: git shows the file as added there; it holds the newest version.
    [point] = history.points
    assert point.boundary
    assert point.subject == "code v4"
    assert history.series(Metric.TIME, "test_encode") == [1.2e-3]
    assert len(history.notes) == 1
    assert history.notes[0].startswith(f"shallow clone: the history before {point.label} ")
    assert "fetch-depth: 0" in history.notes[0]


def test_shallow_clone_deep_enough_has_no_note(
    repo: tuple[Path, list[str]], tmp_path: Path
) -> None:
    root, commits = repo
    clone = tmp_path / "shallow"
    # Deep enough for every baseline commit: the boundary ("docs") is before the first one.
    git(tmp_path, "clone", "-q", "--depth", "6", root.as_uri(), str(clone))
    assert git(clone, "rev-parse", "--is-shallow-repository") == "true"
    history = read_history(clone, BASELINE, 30)
    assert [p.commit for p in history.points] == commits
    assert not any(p.boundary for p in history.points)
    assert history.notes == ()


def test_shallow_clone_without_the_file(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    write(root / "src" / "pkg.py", "X = 1\n")
    commit_all(root, "one")
    clone = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", root.as_uri(), str(clone))
    history = read_history(clone, BASELINE, 30)
    assert history.points == ()
    assert history.notes[0].startswith(f"shallow clone: no fetched commit changes {BASELINE}")


def test_a_baseline_never_committed(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    write(root / "src" / "pkg.py", "X = 1\n")
    commit_all(root, "code")
    write_baseline(root / BASELINE, measured(1e-3, 1000))  # not committed yet
    history = read_history(root, BASELINE, 30)
    assert history.points == ()
    assert history.notes == (f"no history: {BASELINE} has never been committed",)


def test_not_a_repository_and_no_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    history = read_history(plain, BASELINE, 30)
    assert history.points == ()
    assert history.notes == (f"no history: {plain.resolve()} is not a git repository",)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert read_history(plain, BASELINE, 30).notes == ("no history: git is not installed",)


def test_a_project_in_a_subfolder_of_the_repository(tmp_path: Path) -> None:
    top = init_repo(tmp_path / "mono")
    project = top / "services" / "agui"
    commit_baseline(project, measured(1e-3, 1000), "first")
    commit_baseline(project, measured(2e-3, 1000), "second")
    history = read_history(project, BASELINE, 30)
    assert history.series(Metric.TIME, "test_encode") == [1e-3, 2e-3]
