"""Nox sessions for a project that adopts the gate: a noxfile of a few lines.

    import nox
    from agui_perf import nox as agui

    @nox.session
    def perf(session: nox.Session) -> None:
        agui.install(session, "perf")
        agui.perf(session)

    @nox.session(name="update-baseline")
    def update_baseline(session: nox.Session) -> None:
        agui.install(session, "perf")
        agui.update_baseline(session)

`perf` and `update_baseline` run `agui-perf gate …` with the session's posargs, so
`nox -s perf -- -k stream --processes 10` reaches the gate as typed. Two things nox would
otherwise get wrong for the gate are handled here, once (this repository's noxfile uses them
too): nox turns every failed command into exit status 1, which would make "unusable input"
(the gate's 2) read as "regression" (1); and after Ctrl-C nox kills a command half a second
later, which would leave the gate's benchmark processes, their servers and the accepted
commit's worktree behind.

nox is imported only inside the functions: the module is imported by noxfiles, where nox is,
and by tests, where it need not be.
"""

from __future__ import annotations

import json
import re
import tomllib
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

if TYPE_CHECKING:
    from nox import Session

__all__ = [
    "GATE_STOP_GRACE_S",
    "comment",
    "gate_requirement",
    "install",
    "load",
    "perf",
    "run_keeping_exit_2",
    "update_baseline",
]

#: Seconds nox waits after Ctrl-C before it terminates the gate: the gate stops its benchmark
#: processes (each a process group with servers of its own) and removes the accepted
#: commit's worktree, which takes seconds, not nox's default 0.3.
GATE_STOP_GRACE_S = 60.0
DISTRIBUTION = "agui-perf"
_EXTRA = "gate"
#: A requirement on agui-perf itself, in any spelling of the name (PEP 503 normalization).
_OWN_NAME = re.compile(r"^\s*agui[-_.]perf(?![A-Za-z0-9])", re.IGNORECASE)


def run_keeping_exit_2(
    session: Session, *args: str, interrupt_timeout: float | None = GATE_STOP_GRACE_S
) -> None:
    """`session.run(*args)`, but an exit status 2 (usage error, unusable input) stays 2.

    nox reports every failed command as a failed session, exit 1. SystemExit is not an
    Exception, so nox lets it through as it is and the session's own status becomes 2.
    `interrupt_timeout`: seconds nox waits after Ctrl-C before it terminates the command.
    """
    import nox.command

    try:
        session.run(*args, interrupt_timeout=interrupt_timeout)
    except nox.command.CommandFailed as failed:
        if failed.return_code == 2:
            raise SystemExit(2) from None
        raise


def perf(session: Session, *args: str) -> None:
    """`agui-perf gate perf` with `args` and the session's posargs: exit 0 / 1 / 2."""
    run_keeping_exit_2(
        session, "python", "-m", "agui_perf", "gate", "perf", *args, *session.posargs
    )


def update_baseline(session: Session, *args: str) -> None:
    """`agui-perf gate update-baseline` with `args` and the session's posargs."""
    run_keeping_exit_2(
        session, "python", "-m", "agui_perf", "gate", "update-baseline", *args, *session.posargs
    )


def load(session: Session, *args: str) -> None:
    """`agui-perf load` with `args` and the session's posargs: exit 0 / 1 / 2.

    Install agui-perf with the `load` extra first (`gate_requirement("load")`). After Ctrl-C
    the run stops Locust's master, its workers and the server it started, within seconds.
    """
    run_keeping_exit_2(session, "python", "-m", "agui_perf", "load", *args, *session.posargs)


def gate_requirement(extra: str | None = _EXTRA) -> tuple[str, ...]:
    """The `session.install` arguments for the agui-perf this noxfile imported, with `extra`:
    the same checkout (editable or not), VCS commit or version.

    So that the gate in the session is the one whose helper runs it, also when agui-perf was
    installed from a checkout or a git URL rather than from an index.
    """
    extras = f"[{extra}]" if extra else ""
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        # Imported from a source tree on sys.path (this repository's own noxfile).
        return ("-e", f"{Path(__file__).resolve().parents[2]}{extras}")
    wanted = f"{DISTRIBUTION}{extras}"
    text = dist.read_text("direct_url.json")
    if not text:
        return (f"{wanted}=={dist.version}",)
    # PEP 610: how the distribution was installed, when not from an index.
    direct = json.loads(text)
    url = str(direct.get("url", ""))
    if "vcs_info" in direct:
        vcs = direct["vcs_info"]
        return (f"{wanted} @ {vcs.get('vcs', 'git')}+{url}@{vcs.get('commit_id', '')}",)
    parsed = urlparse(url)
    if parsed.scheme == "file" and direct.get("dir_info", {}).get("editable"):
        return ("-e", f"{unquote(parsed.path)}{extras}")
    return (f"{wanted} @ {url}",)


def install(session: Session, *groups: str, pyproject: str = "pyproject.toml") -> None:
    """Install what the gate needs to measure the project into `session`.

    The project itself (editable) when `pyproject` has a `[build-system]`, else its
    `[project].dependencies`; the named `[dependency-groups]` (the benchmarks' own needs, an
    HTTP client say); and agui-perf with the gate extra (`gate_requirement`), in place of
    any requirement on agui-perf the groups name, which an index may not even have.
    """
    import nox.project

    with Path(pyproject).open("rb") as handle:
        document = tomllib.load(handle)
    project: list[str] = []
    if "build-system" in document:
        project = ["-e", "."]
    else:
        project = [str(dep) for dep in document.get("project", {}).get("dependencies", [])]
    deps: list[str] = []
    for group in groups:
        deps.extend(
            dep
            for dep in nox.project.dependency_groups(document, group)
            if not _OWN_NAME.match(dep)
        )
    session.install(*gate_requirement(), *project, *deps)


def comment(session: Session) -> None:
    """Validate a downloaded perf-report artifact and print the pull request comment
    (`perf-comment.yml`: `nox -s comment -- DIR --pr N …`).

    agui-perf alone, without the gate extra: the job that runs this holds a token that can
    write comments and installs as little as it can.
    """
    session.install(*gate_requirement(extra=None))
    session.run("python", "-m", "agui_perf.gate.report.comment", *session.posargs)
