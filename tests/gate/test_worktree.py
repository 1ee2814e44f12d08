"""gate.worktree against real temporary git repositories (git init, commits, clones)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from agui_perf.gate.errors import GateError
from agui_perf.gate.measure.worktree import (
    WORKTREES,
    Repository,
    _last_line,
    commit_source,
    find_accepted,
    open_repository,
    resolve_ref,
    working_source,
    worktree,
)
from tests._support.git import GIT_ENV, commit_all, git, init_repo, write

BASELINE = "baselines/linux-x86_64-cpython3.11.json"


@pytest.fixture(autouse=True)
def _isolated_git(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def history(tmp_path: Path) -> tuple[Path, list[str]]:
    """Three commits: code, baseline (the accepted one), more code."""
    repo = init_repo(tmp_path / "repo")
    write(repo / "src" / "pkg.py", "VERSION = 1\n")
    first = commit_all(repo, "code v1")
    write(repo / BASELINE, "{}\n")
    accepted = commit_all(repo, "accept v1")
    write(repo / "src" / "pkg.py", "VERSION = 2\n")
    third = commit_all(repo, "code v2")
    return repo, [first, accepted, third]


def test_the_commit_that_last_changed_the_baseline_is_accepted(
    history: tuple[Path, list[str]],
) -> None:
    repo, commits = history
    accepted = find_accepted(repo, BASELINE)
    assert accepted.found
    assert accepted.commit == commits[1]
    assert accepted.subject == "accept v1"
    assert accepted.date is not None
    assert accepted.date[:2] == "20"
    assert accepted.baseline_path == BASELINE
    assert accepted.reason is None


def test_a_baseline_never_committed_is_not_an_accepted_state(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    write(repo / "src" / "pkg.py", "X = 1\n")
    commit_all(repo, "code")
    write(repo / BASELINE, "{}\n")  # written by update-baseline, not committed yet
    accepted = find_accepted(repo, BASELINE)
    assert not accepted.found
    assert accepted.reason is not None
    assert "has never been committed" in accepted.reason


def test_not_a_git_repository(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    accepted = find_accepted(plain, BASELINE)
    assert not accepted.found
    assert accepted.reason == f"{plain.resolve()} is not a git repository"
    assert isinstance(open_repository(plain), str)


def test_git_not_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    accepted = find_accepted(tmp_path, BASELINE)
    assert not accepted.found
    assert accepted.reason == "git is not installed"


def test_shallow_clone_that_does_not_reach_the_commit(
    history: tuple[Path, list[str]], tmp_path: Path
) -> None:
    repo, _ = history
    clone = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", repo.as_uri(), str(clone))
    accepted = find_accepted(clone, BASELINE)
    # With one commit fetched git sees the file as added there; that is not the accepted state.
    assert not accepted.found
    assert accepted.reason is not None
    assert accepted.reason.startswith("shallow clone")
    assert "fetch-depth: 0" in accepted.reason


def test_shallow_clone_deep_enough_still_finds_it(
    history: tuple[Path, list[str]], tmp_path: Path
) -> None:
    repo, commits = history
    clone = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "3", repo.as_uri(), str(clone))
    assert git(clone, "rev-parse", "--is-shallow-repository") == "true"
    accepted = find_accepted(clone, BASELINE)
    assert accepted.found
    assert accepted.commit == commits[1]


def test_shallow_clone_without_the_file_in_its_history(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    write(repo / "src" / "pkg.py", "X = 1\n")
    commit_all(repo, "one")
    write(repo / "src" / "pkg.py", "X = 2\n")
    commit_all(repo, "two")
    clone = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", repo.as_uri(), str(clone))
    accepted = find_accepted(clone, BASELINE)
    assert not accepted.found
    assert accepted.reason is not None
    assert accepted.reason.startswith("shallow clone: no commit in the fetched history")


def test_ref_names_the_accepted_commit(history: tuple[Path, list[str]]) -> None:
    repo, commits = history
    git(repo, "tag", "v1", commits[0])
    assert resolve_ref(repo, "v1", BASELINE).commit == commits[0]
    assert resolve_ref(repo, "HEAD~1", BASELINE).commit == commits[1]
    assert resolve_ref(repo, commits[2][:8], BASELINE).subject == "code v2"


@pytest.mark.parametrize("ref", ["no-such-branch", "--all", "HEAD~99"])
def test_unknown_ref_is_a_one_line_error(history: tuple[Path, list[str]], ref: str) -> None:
    repo, _ = history
    with pytest.raises(GateError, match="does not name a commit") as caught:
        resolve_ref(repo, ref, BASELINE)
    assert "\n" not in str(caught.value)


def test_ref_outside_a_repository_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(GateError, match=r"--ref main needs a git repository.*drop --ref"):
        resolve_ref(tmp_path, "main", BASELINE)


def test_sources(history: tuple[Path, list[str]]) -> None:
    repo, commits = history
    clean = working_source(repo)
    assert clean.commit == commits[2]
    assert clean.tree_hash == git(repo, "rev-parse", "HEAD:src")
    assert not clean.dirty
    write(repo / "src" / "pkg.py", "VERSION = 3\n")
    assert working_source(repo).dirty
    old = commit_source(repo, commits[0])
    assert old.tree_hash == git(repo, "rev-parse", f"{commits[0]}:src")
    assert not old.dirty
    assert working_source(repo.parent).commit == ""


def test_worktree_checks_out_the_commit_and_is_removed_on_exit(
    history: tuple[Path, list[str]],
) -> None:
    repo, commits = history
    with worktree(repo, commits[0]) as checkout:
        assert checkout.path == (repo / WORKTREES / commits[0]).resolve()
        assert checkout.root == checkout.path
        assert (checkout.root / "src" / "pkg.py").read_text() == "VERSION = 1\n"
        assert git(checkout.path, "rev-parse", "HEAD") == commits[0]
        assert not (checkout.root / "baselines").exists()
    assert not checkout.path.exists()
    assert str(checkout.path) not in git(repo, "worktree", "list")
    # The working tree itself is untouched.
    assert (repo / "src" / "pkg.py").read_text() == "VERSION = 2\n"


def test_worktree_is_removed_when_the_block_raises(history: tuple[Path, list[str]]) -> None:
    repo, commits = history
    with pytest.raises(KeyboardInterrupt), worktree(repo, commits[1]) as checkout:
        raise KeyboardInterrupt
    assert not checkout.path.exists()


def test_a_clean_leftover_worktree_is_reused(history: tuple[Path, list[str]]) -> None:
    repo, commits = history
    path = repo / WORKTREES / commits[0]
    git(repo, "worktree", "add", "-q", "--detach", str(path), commits[0])
    marker = path / "left-by-an-interrupted-run"
    marker.write_text("x")  # untracked: does not make the checkout dirty
    with worktree(repo, commits[0]) as checkout:
        assert marker.exists()
        assert checkout.path == path.resolve()
    assert not path.exists()


def test_a_modified_leftover_worktree_is_replaced(history: tuple[Path, list[str]]) -> None:
    repo, commits = history
    path = repo / WORKTREES / commits[0]
    git(repo, "worktree", "add", "-q", "--detach", str(path), commits[0])
    write(path / "src" / "pkg.py", "VERSION = 'edited'\n")
    with worktree(repo, commits[0]) as checkout:
        assert (checkout.root / "src" / "pkg.py").read_text() == "VERSION = 1\n"


def test_stale_folders_and_registrations_are_cleaned(history: tuple[Path, list[str]]) -> None:
    repo, commits = history
    # A registration whose folder is gone (pruned), and a folder git does not know (replaced).
    gone = repo / WORKTREES / commits[1]
    git(repo, "worktree", "add", "-q", "--detach", str(gone), commits[1])
    subprocess.run(["rm", "-rf", str(gone)], check=True)
    junk = repo / WORKTREES / commits[0]
    write(junk / "junk.txt", "left over")
    with worktree(repo, commits[0]) as checkout:
        assert not (checkout.path / "junk.txt").exists()
        assert (checkout.root / "src" / "pkg.py").read_text() == "VERSION = 1\n"
    assert str(gone) not in git(repo, "worktree", "list")


def _admin_dir(repo: Path, path: Path) -> Path:
    """The folder in .git/worktrees/ that registers the worktree at `path`."""
    gitdir = (path / ".git").read_text().split(":", 1)[1].strip()
    assert Path(gitdir).parent == (repo / ".git" / "worktrees").resolve()
    return Path(gitdir)


@pytest.mark.parametrize("folder", ["half-checked-out", "gone"])
def test_a_locked_registration_left_by_a_killed_checkout(
    history: tuple[Path, list[str]], folder: str
) -> None:
    repo, commits = history
    path = repo / WORKTREES / commits[0]
    git(repo, "worktree", "add", "-q", "--detach", str(path), commits[0])
    # What `git worktree add` leaves when it is killed half way: a registration locked as
    # "initializing", which prune keeps and a plain remove or add refuses.
    (_admin_dir(repo, path) / "locked").write_text("initializing")
    if folder == "gone":
        subprocess.run(["rm", "-rf", str(path)], check=True)
    else:
        (path / "src" / "pkg.py").unlink()
    with worktree(repo, commits[0]) as checkout:
        assert (checkout.root / "src" / "pkg.py").read_text() == "VERSION = 1\n"
    assert not path.exists()
    assert git(repo, "worktree", "list").count("\n") == 0


def test_leftovers_of_other_commits_are_removed(history: tuple[Path, list[str]]) -> None:
    repo, commits = history
    # A killed run of an older accepted commit, and a stray folder of another one.
    old = repo / WORKTREES / commits[1]
    git(repo, "worktree", "add", "-q", "--detach", str(old), commits[1])
    (_admin_dir(repo, old) / "locked").write_text("initializing")
    stray = repo / WORKTREES / "not-a-worktree"
    write(stray / "junk.txt", "left over")
    # Someone else's worktree outside .perf/worktrees/ is not the gate's to touch.
    mine = repo.parent / "my-own-worktree"
    git(repo, "worktree", "add", "-q", "--detach", str(mine), commits[2])
    with worktree(repo, commits[0]) as checkout:
        assert sorted(p.name for p in (repo / WORKTREES).iterdir()) == [commits[0]]
        assert checkout.path.is_dir()
    assert not old.exists()
    assert not stray.exists()
    listed = git(repo, "worktree", "list")
    assert listed.count("\n") == 1
    assert str(mine.resolve()) in listed


def test_a_failed_checkout_is_one_line_naming_gits_cause(
    history: tuple[Path, list[str]],
) -> None:
    repo, _ = history
    with pytest.raises(GateError) as caught, worktree(repo, "0" * 40):
        pass
    message = str(caught.value)
    assert "\n" not in message
    assert "fatal: " in message
    assert not (repo / WORKTREES / ("0" * 40)).exists()
    # git's advice after the cause ("use 'add -f' …") is not the cause.
    assert (
        _last_line(
            "fatal: '.perf/w' is a missing but locked worktree;\nuse 'add -f -f' to override"
        )
        == "fatal: '.perf/w' is a missing but locked worktree;"
    )


def test_project_in_a_subfolder_of_the_repository(tmp_path: Path) -> None:
    top = init_repo(tmp_path / "mono")
    project = top / "services" / "agui"
    write(project / "src" / "pkg.py", "X = 1\n")
    write(project / BASELINE, "{}\n")
    sha = commit_all(top, "project in a subfolder")
    repo = open_repository(project)
    assert isinstance(repo, Repository)
    assert repo.prefix == "services/agui"
    assert find_accepted(project, BASELINE).commit == sha
    assert working_source(project).tree_hash == git(top, "rev-parse", "HEAD:services/agui/src")
    with worktree(project, sha) as checkout:
        assert checkout.root == checkout.path / "services" / "agui"
        assert (checkout.root / "src" / "pkg.py").is_file()


def test_history_that_cannot_be_read_is_a_reason_not_a_crash(
    history: tuple[Path, list[str]],
) -> None:
    repo, commits = history
    # The accepted commit's object is gone (a broken or partial clone): git log fails.
    accepted = commits[1]
    (repo / ".git" / "objects" / accepted[:2] / accepted[2:]).unlink()
    state = find_accepted(repo, BASELINE)
    assert not state.found
    assert state.reason is not None
    assert state.reason.startswith("git log -1 --format=%H -- baselines/")
    assert accepted in state.reason  # git names the commit it cannot read
    assert "\n" not in state.reason
