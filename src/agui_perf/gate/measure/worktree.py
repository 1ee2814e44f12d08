"""Git: which commit is the accepted state, and a checkout of it beside the current code.

The accepted state is the code of the commit that last changed this environment's baseline
file (`git log -1 -- baselines/<key>.json`, README "How the gate decides"). The gate measures
that commit on this machine, from a detached worktree under `.perf/worktrees/<sha>`, beside
the current code. When the commit cannot be found (git missing, not a repository, a shallow
clone that does not reach it, the file never committed) `find_accepted` says why instead of
raising: the gate then falls back to the stored numbers, and the verdict states the reason.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agui_perf.gate.decide.verdict import AcceptedState
from agui_perf.gate.errors import GateError
from agui_perf.gate.store.results import Source

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

__all__ = [
    "SHALLOW_HINT",
    "WORKTREES",
    "Checkout",
    "GitError",
    "Repository",
    "commit_source",
    "find_accepted",
    "git_output",
    "open_repository",
    "resolve_ref",
    "shallow_commits",
    "working_source",
    "worktree",
]

#: Where accepted commits are checked out, relative to the project root (git-ignored `.perf/`).
WORKTREES = Path(".perf") / "worktrees"
#: The source folders with the default layout (`[tool.agui_perf.layout].source`).
_SOURCES = ("src",)
GIT_TIMEOUT = 120.0
SHALLOW_HINT = (
    "fetch the full history (actions/checkout with fetch-depth: 0, or git fetch --unshallow)"
)


class GitError(GateError):
    """A git command the gate relies on failed; the message quotes git's own last line."""


@dataclass(frozen=True)
class Repository:
    """A project root inside a git work tree.

    `prefix` is the project root relative to the top of the work tree ("" at the top): a
    worktree checks out the whole repository, and the project sits at the same prefix in it.
    """

    root: Path
    toplevel: Path
    prefix: str


@dataclass(frozen=True)
class Checkout:
    """A detached worktree of one commit; `root` is the project root inside it."""

    commit: str
    path: Path
    root: Path


def _git_env() -> dict[str, str]:
    env = dict(os.environ)
    # No pager, no prompt for credentials, messages in English (the last line is quoted);
    # optional locks off so that reading the status never blocks a concurrent `git commit`.
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_PAGER="cat",
        GIT_OPTIONAL_LOCKS="0",
        LC_ALL="C",
        LANGUAGE="C",
    )
    return env


def _run_git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run git; FileNotFoundError (no git) and timeouts are the caller's to interpret."""
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        env=_git_env(),
        # Never the user's terminal: nothing git runs for the gate may wait for input.
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=GIT_TIMEOUT,
        check=False,
    )


def _last_line(text: str) -> str:
    """git's message: its `fatal:`/`error:` line, else the last line.

    git often follows the cause with advice ("use 'add -f' to override, or …"), which alone
    does not say what is wrong.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("fatal: ", "error: ")):
            return line
    return lines[-1] if lines else "no message"


def _git(repo: Repository, *args: str) -> str:
    """Run git in the project root; a failure is a GitError quoting git's message."""
    try:
        done = _run_git(repo.root, *args)
    except FileNotFoundError:
        raise GitError("git is not installed (not found on PATH) — install git") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} did not finish within {GIT_TIMEOUT:g} s") from None
    if done.returncode != 0:
        raise GitError(f"git {' '.join(args)} failed: {_last_line(done.stderr)}")
    return done.stdout


def git_output(repo: Repository, *args: str) -> str:
    """git's stdout, run in the project root; a failure is a GitError quoting git's message."""
    return _git(repo, *args)


def open_repository(root: Path) -> Repository | str:
    """The git work tree `root` is in, or the reason there is none (one line)."""
    root = root.resolve()
    try:
        done = _run_git(root, "rev-parse", "--show-toplevel", "--show-prefix")
    except FileNotFoundError:
        return "git is not installed"
    except subprocess.TimeoutExpired:
        return f"git did not answer within {GIT_TIMEOUT:g} s"
    if done.returncode != 0:
        return f"{root} is not a git repository"
    lines = done.stdout.splitlines()
    toplevel = Path(lines[0]).resolve()
    prefix = lines[1].strip() if len(lines) > 1 else ""
    return Repository(root=root, toplevel=toplevel, prefix=prefix.rstrip("/"))


def _describe(repo: Repository, commit: str, baseline: str, reason: str | None) -> AcceptedState:
    line = _git(repo, "show", "-s", "--format=%H%x00%cI%x00%s", commit).strip()
    sha, date, subject = [*line.split("\x00"), "", ""][:3]
    return AcceptedState(
        found=True, baseline_path=baseline, commit=sha, date=date, subject=subject, reason=reason
    )


def shallow_commits(repo: Repository) -> set[str]:
    """The boundary commits of a shallow clone (empty when the history is complete); {"*"}
    when the clone is shallow but its boundary list cannot be read."""
    if _git(repo, "rev-parse", "--is-shallow-repository").strip() != "true":
        return set()
    shallow = Path(_git(repo, "rev-parse", "--git-path", "shallow").strip())
    if not shallow.is_absolute():
        shallow = repo.root / shallow
    try:
        return set(shallow.read_text(encoding="ascii").split())
    except OSError:
        # Shallow but the list is unreadable: treat every commit as a possible boundary.
        return {"*"}


def find_accepted(root: Path, baseline: str) -> AcceptedState:
    """The commit that last changed `baseline` (a path relative to `root`), or why not.

    Never raises for a missing repository or history: that is the stored-numbers mode, and
    the reason ends up in the verdict.
    """
    repo = open_repository(root)
    if isinstance(repo, str):
        return AcceptedState(found=False, baseline_path=baseline, reason=repo)
    try:
        shallow = shallow_commits(repo)
        sha = _git(repo, "log", "-1", "--format=%H", "--", baseline).strip()
        if not sha:
            if shallow:
                reason = f"shallow clone: no commit in the fetched history changes {baseline} — "
                return AcceptedState(
                    found=False, baseline_path=baseline, reason=reason + SHALLOW_HINT
                )
            return AcceptedState(
                found=False,
                baseline_path=baseline,
                reason=f"{baseline} has never been committed — commit it with the code it measures",
            )
        # At a shallow boundary history is cut, so git sees the file as added there even if it
        # was last changed further back: that commit is not the accepted one.
        if sha in shallow or "*" in shallow:
            return AcceptedState(
                found=False,
                baseline_path=baseline,
                reason=(
                    f"shallow clone: the history that last changed {baseline} was not fetched "
                    f"— {SHALLOW_HINT}"
                ),
            )
        if _run_git(repo.root, "cat-file", "-e", f"{sha}^{{commit}}").returncode != 0:
            return AcceptedState(
                found=False,
                baseline_path=baseline,
                reason=f"commit {sha[:12]} that last changed {baseline} is not in this clone",
            )
        return _describe(repo, sha, baseline, None)
    except GitError as err:
        return AcceptedState(found=False, baseline_path=baseline, reason=str(err))


def resolve_ref(root: Path, ref: str, baseline: str) -> AcceptedState:
    """`--ref REF`: the commit REF names, as the accepted state. GateError if there is none."""
    repo = open_repository(root)
    if isinstance(repo, str):
        raise GateError(f"--ref {ref} needs a git repository, but {repo} — drop --ref")
    done = _run_git(
        repo.root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise GateError(
            f"--ref {ref!r} does not name a commit in this repository — check the name "
            "(git log --oneline) or fetch it"
        )
    return _describe(repo, done.stdout.strip(), baseline, None)


def _tree_hash(repo: Repository, commit: str, sources: Sequence[str]) -> str:
    """The git tree hash of the source folder; of several, their hashes joined by "+"."""
    hashes = []
    for source in sources:
        path = f"{repo.prefix}/{source}" if repo.prefix else source
        done = _run_git(repo.root, "rev-parse", "--verify", "--quiet", f"{commit}:{path}")
        hashes.append(done.stdout.strip() if done.returncode == 0 else "")
    return "+".join(hashes) if any(hashes) else ""


def commit_source(root: Path, commit: str, sources: Sequence[str] = _SOURCES) -> Source:
    """The source record of a committed state: its hash and the tree hash of its source
    folders (`[tool.agui_perf.layout].source`, `src/` by default)."""
    repo = open_repository(root)
    if isinstance(repo, str):
        return Source(commit="", tree_hash="", dirty=False)
    return Source(commit=commit, tree_hash=_tree_hash(repo, commit, sources), dirty=False)


def working_source(root: Path, sources: Sequence[str] = _SOURCES) -> Source:
    """The current code: HEAD, the tree hash of its source folders (`src/` by default), and
    whether they have changes.

    Outside git (or before the first commit) the hashes are empty; the code is still measured.
    """
    repo = open_repository(root)
    if isinstance(repo, str):
        return Source(commit="", tree_hash="", dirty=False)
    head = _run_git(repo.root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    if head.returncode != 0:
        return Source(commit="", tree_hash="", dirty=True)
    commit = head.stdout.strip()
    status = _git(repo, "status", "--porcelain", "--untracked-files=all", "--", *sources)
    return Source(
        commit=commit, tree_hash=_tree_hash(repo, commit, sources), dirty=bool(status.strip())
    )


def _registered(repo: Repository) -> dict[Path, str]:
    """Every worktree git has registered: its path and HEAD commit ("" if it has none)."""
    listing = _git(repo, "worktree", "list", "--porcelain")
    found: dict[Path, str] = {}
    current: Path | None = None
    for line in listing.splitlines():
        if line.startswith("worktree "):
            current = Path(line.removeprefix("worktree ")).resolve()
            found[current] = ""
        elif line.startswith("HEAD ") and current is not None:
            found[current] = line.removeprefix("HEAD ").strip()
    return found


def _remove(repo: Repository, path: Path) -> None:
    # --force twice: also a worktree that is locked, as `git worktree add` leaves one
    # ("initializing") when it is killed half way.
    _git(repo, "worktree", "remove", "--force", "--force", str(path))


def _clear_leftovers(repo: Repository, base: Path, keep: Path | None) -> None:
    """Remove every worktree and folder under `base` except `keep`: a killed run's leftovers.

    Only one gate run uses a project's `.perf/` at a time (`gate.lock`), so anything under
    `.perf/worktrees/` that this run did not make was left by a run that could not clean up
    (SIGKILL, a power cut), possibly of another accepted commit.
    """
    for path in _registered(repo):
        if path != keep and path.is_relative_to(base):
            _remove(repo, path)
    _git(repo, "worktree", "prune")
    if base.is_dir():
        for entry in base.iterdir():
            if entry.resolve() == keep:
                continue
            # Not a worktree git knows (pruned or removed above): a leftover folder.
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def _is_clean(path: Path) -> bool:
    try:
        done = _run_git(path, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and not done.stdout.strip()


@contextlib.contextmanager
def worktree(root: Path, commit: str) -> Iterator[Checkout]:
    """Check out `commit` detached at `<root>/.perf/worktrees/<commit>`; remove it on exit.

    A clean worktree already there at that commit (left by a killed run) is reused; anything
    else under `.perf/worktrees/` is removed first (`_clear_leftovers`), stale or locked
    registrations included. Failure to check out is a GitError. From the first git command
    on, an interrupt (or any error) removes what was made.
    """
    repo = open_repository(root)
    if isinstance(repo, str):
        raise GitError(f"cannot check out {commit[:12]}: {repo}")
    base = (repo.root / WORKTREES).resolve()
    path = base / commit
    try:
        _git(repo, "worktree", "prune")
        reuse = _registered(repo).get(path) == commit and _is_clean(path)
        _clear_leftovers(repo, base, path if reuse else None)
        if not reuse:
            base.mkdir(parents=True, exist_ok=True)
            # --force twice: a registration of this path that prune and remove could not
            # clear (locked, folder gone) must not stop the run.
            _git(repo, "worktree", "add", "--force", "--force", "--detach", str(path), commit)
        project = path / repo.prefix if repo.prefix else path
        yield Checkout(commit=commit, path=path, root=project)
    finally:
        with contextlib.suppress(GitError, OSError, subprocess.TimeoutExpired):
            if path in _registered(repo):
                _remove(repo, path)
        with contextlib.suppress(GitError, OSError, subprocess.TimeoutExpired):
            _git(repo, "worktree", "prune")
        with contextlib.suppress(OSError):
            # A `git worktree add` stopped half way leaves a folder git may not know.
            if path.exists():
                shutil.rmtree(path)
