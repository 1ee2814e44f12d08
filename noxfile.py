"""Nox sessions: the one entry point for people and CI alike.

`nox` alone runs `tests` and `lint`; `perf`, `update-baseline` and `load` are asked for by name.
"""

from __future__ import annotations

import nox

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
    """Unit and integration tests (the benchmark suites and the load test are run elsewhere)."""
    _install(session, "test")
    session.run(
        "pytest",
        "tests",
        "--ignore=tests/benchmarks",
        "--ignore=tests/load",
        *session.posargs,
    )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (check + format), mypy strict over src, tests and this file; zizmor, actionlint."""
    _install(session, "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    session.run("zizmor", "--offline", ".github/workflows")
    session.run("actionlint")


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
    """Locust load test on 127.0.0.1, bounded in users and time; checks the load budgets.

    `nox -s load -- --users 300 --duration 60 --workers 2` (`--help` lists the options).
    Reports and verdict in .perf/load/; exit 0 pass, 1 budget breach, 2 unusable/usage.
    """
    _install(session, "load", extras="")
    session.run("python", "-m", "tests.load.run", *session.posargs)
