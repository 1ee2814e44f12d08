"""Copies of the project at HEAD: one git clone per case, all in one temporary folder.

A clone (rather than a worktree of this repository) keeps everything the gate does inside a
copy — its own `.perf/worktrees/` checkout of the accepted commit, registered in the copy's own
`.git` — away from this repository: removing the temporary folder removes all of it, and a
killed run leaves nothing registered here. The clone has the full history, so the gate finds
the accepted commit in it exactly as `nox -s perf` does here. A slowdown is an uncommitted
change in the copy's working tree, which the gate measures as the current code.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from agui_perf.gate.errors import GateError
from agui_perf.gate.quality.inject import inject, module_file, work_statement

if TYPE_CHECKING:
    from agui_perf.gate.quality.inject import Target, Work

__all__ = [
    "TEMP_PREFIX",
    "Copies",
    "GateRef",
    "Project",
    "dirty_paths",
    "gate_ref",
    "head_commit",
    "project",
    "slow_down",
]

#: Name prefix of the temporary folder that holds the copies.
TEMP_PREFIX = "agui-perf-quality-"
_GIT_TIMEOUT = 120.0


def _git(cwd: Path, *args: str) -> str:
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_PAGER="cat", LC_ALL="C", LANGUAGE="C")
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise GateError("git is not installed (not found on PATH) — install git") from None
    except subprocess.TimeoutExpired:
        raise GateError(f"git {args[0]} did not finish within {_GIT_TIMEOUT:g} s") from None
    if done.returncode != 0:
        last = [line for line in done.stderr.splitlines() if line.strip()]
        raise GateError(f"git {' '.join(args)} failed: {last[-1] if last else 'no message'}")
    return done.stdout


@dataclass(frozen=True)
class Project:
    """The project root, the top of its git work tree, and the root relative to that top."""

    root: Path
    toplevel: Path
    prefix: str


def project(root: Path) -> Project:
    """The git repository of the project at `root`; GateError when there is none."""
    try:
        shown = _git(root, "rev-parse", "--show-toplevel", "--show-prefix")
    except GateError as err:
        raise GateError(
            f"verdict-quality copies the project with git, but {err} — run it in a git clone"
        ) from None
    lines = shown.splitlines()
    prefix = lines[1].strip().rstrip("/") if len(lines) > 1 else ""
    return Project(root=root, toplevel=Path(lines[0].strip()), prefix=prefix)


def head_commit(repo: Project) -> str:
    try:
        return _git(repo.root, "rev-parse", "--verify", "HEAD^{commit}").strip()
    except GateError:
        raise GateError("the repository has no commit yet — commit the project first") from None


def dirty_paths(repo: Project) -> list[str]:
    """`git status --porcelain` lines for the project: what a copy of HEAD would not contain."""
    status = _git(repo.root, "status", "--porcelain", "--untracked-files=normal", "--", ".")
    return [line for line in status.splitlines() if line.strip()]


@dataclass(frozen=True)
class GateRef:
    """Whether the gate runs need `--ref HEAD` (`ref`), and why (a line for the report)."""

    ref: str | None
    reason: str


def gate_ref(copy_root: Path, baseline: str, head: str) -> GateRef:
    """`--ref <head>` unless the gate's own accepted commit already has HEAD's code.

    The gate compares the working tree with the commit that last changed the baseline file.
    When commits after that one changed the code (anything outside baselines/), "unchanged"
    would not be unchanged: the copy would be measured against older code. Then every gate
    run gets `--ref <HEAD>`, which changes only which commit is checked out as the accepted
    side; the measurement is the same.
    """
    from agui_perf.gate.measure.worktree import find_accepted

    accepted = find_accepted(copy_root, baseline)
    if not accepted.found or accepted.commit is None:
        return GateRef(head, f"--ref {head[:10]}: no accepted commit ({accepted.reason})")
    if accepted.commit == head:
        return GateRef(None, f"accepted commit {head[:10]} is HEAD")
    try:
        # Anything but the baselines folder (the layout's: the one holding `baseline`).
        folder = PurePosixPath(baseline).parent.as_posix()
        _git(copy_root, "diff", "--quiet", accepted.commit, head, "--", ".", f":(exclude){folder}")
    except GateError:
        return GateRef(
            head,
            f"--ref {head[:10]}: the accepted commit {accepted.commit[:10]} has other code than "
            "HEAD, so unchanged copies are compared with HEAD instead",
        )
    return GateRef(None, f"accepted commit {accepted.commit[:10]} has HEAD's code")


class Copies(contextlib.AbstractContextManager["Copies"]):
    """A temporary folder of clones of `repo` at `commit`; removed on exit, also on Ctrl-C."""

    def __init__(self, repo: Project, commit: str) -> None:
        self.repo = repo
        self.commit = commit
        self.folder = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))

    def make(self, name: str) -> Path:
        """A fresh clone named `name`; returns the project root inside it."""
        dest = self.folder / name
        _git(self.folder, "clone", "--quiet", "--no-checkout", "--", str(self.repo.toplevel), name)
        _git(
            dest, "-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", self.commit
        )
        return dest / self.repo.prefix if self.repo.prefix else dest

    def close(self) -> None:
        # A second Ctrl-C must not cut the removal short: the signals wait until it is done
        # (and then interrupt as usual). git's read-only object files are no obstacle on POSIX.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            shutil.rmtree(self.folder, ignore_errors=True)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def __exit__(self, *exc: object) -> None:
        self.close()


def slow_down(root: Path, target: Target, work: Work, iterations: int) -> Path:
    """Write `work` of `iterations` into `target` in the copy at `root`; returns the file.

    Always starts from the committed text, so calling it again with another count replaces
    the previous slowdown instead of adding to it. The module's cached bytecode is removed:
    Python trusts a .pyc whose recorded source size and mtime (whole seconds) match, which
    two quick rewrites of equal length can do.
    """
    path = module_file(root, target.module)
    relative = path.relative_to(root).as_posix()
    committed = _git(root, "show", f"HEAD:./{relative}")
    text = inject(committed, target.qualname, work_statement(work, iterations), filename=relative)
    path.write_text(text, encoding="utf-8")
    for cached in (path.parent / "__pycache__").glob(f"{path.stem}.*.pyc"):
        cached.unlink(missing_ok=True)
    return path
