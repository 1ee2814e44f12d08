"""Nox sessions: the one entry point for people and CI alike.

`nox` alone runs `tests` and `lint`; `perf`, `update-baseline`, `load` and `verdict-quality`
are asked for by name.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nox

# The gate's nox helper, from this checkout: nox's own environment need not have agui-perf.
sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))
from agui_perf import nox as agui

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests", "lint"]
nox.options.reuse_venv = "yes"

PYPROJECT = nox.project.load_toml("pyproject.toml")


def _install(session: nox.Session, *groups: str, extras: str = "gate") -> None:
    """Install the project (editable, with `extras`) and the named dependency groups."""
    deps: list[str] = []
    for group in groups:
        deps.extend(nox.project.dependency_groups(PYPROJECT, group))
    session.install("-e", f".[{extras}]" if extras else ".", *deps)


@nox.session
def tests(session: nox.Session) -> None:
    """Unit and integration tests (the benchmark suites are run elsewhere; the load test runs
    for seconds at two users, to prove it works)."""
    _install(session, "test", extras="gate,load")
    session.run("pytest", "tests", "--ignore=tests/benchmarks", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (check + format), mypy strict over src, tests, this file and the example (with its
    own settings); zizmor, actionlint."""
    # With Locust, so that mypy checks the locustfile against its types.
    _install(session, "lint", extras="gate,load")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    # The example is a project of its own: its own mypy settings, from its own folder.
    with session.chdir("examples/sdk-fastapi"):
        session.run("mypy")
    session.run("zizmor", "--offline", ".github/workflows")
    session.run("actionlint")


@nox.session(default=False)
def perf(session: nox.Session) -> None:
    """The performance gate: current vs accepted code, here, interleaved; exit 0 / 1 / 2.

    `nox -s perf -- -k EXPR --processes N --min-effect F --ref REF --out DIR --scale X`.
    """
    _install(session, "perf")
    agui.perf(session)


@nox.session(name="update-baseline", default=False)
def update_baseline(session: nox.Session) -> None:
    """Measure the current code and replace baselines/<environment>.json (commit it)."""
    _install(session, "perf")
    agui.update_baseline(session)


@nox.session(name="verdict-quality", default=False)
def verdict_quality(session: nox.Session) -> None:
    """Measure the gate itself: false alarms on unchanged code, detections of injected slowdowns.

    `nox -s verdict-quality -- --runs 5 --inject MODULE:FUNCTION --effect 0.125 0.05
    --benchmark NAME -- --processes 8` (`--help` lists the options). Runs `agui-perf gate perf`
    in temporary clones of HEAD; tables in .perf/quality/. Exit 0 done, 2 unusable input.
    """
    _install(session, "perf")
    # After Ctrl-C the harness stops a gate run (which stops its own benchmark processes)
    # and removes its copies: seconds, not nox's half second before it kills the command.
    agui.run_keeping_exit_2(
        session, "python", "-m", "agui_perf.gate.quality", *session.posargs, interrupt_timeout=120
    )


@nox.session(default=False)
def comment(session: nox.Session) -> None:
    """Validate a downloaded perf-report artifact and build the PR comment (perf-comment.yml).

    Runs the default branch's code only; the artifact is data. Without the gate extras, so
    that the job installs as little as possible.
    """
    _install(session, extras="")
    session.run("python", "-m", "agui_perf.gate.report.comment", *session.posargs)


@nox.session(default=False)
def load(session: nox.Session) -> None:
    """`agui-perf load`: Locust against our core (or `--target`), bounded in users and time;
    checks the load budgets and reports goodput.

    `nox -s load -- --users 300 --duration 60 --workers 2` (`--help` lists the options).
    Reports and verdict in .perf/load/; exit 0 pass, 1 budget breach, 2 unusable/usage.
    """
    _install(session, extras="load")
    agui.load(session)
