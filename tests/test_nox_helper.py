"""`agui_perf.nox`: what a project's noxfile calls to run the gate.

A stand-in session records what the helper asks nox to do; nox's own CommandFailed is what a
real `session.run` raises for a command that exits non-zero.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import nox.command
import pytest

from agui_perf import nox as agui

if TYPE_CHECKING:
    from nox import Session


class FakeSession:
    """The part of `nox.Session` the helper uses; `status` is the command's exit status."""

    def __init__(self, posargs: list[str], status: int = 0) -> None:
        self.posargs = posargs
        self.status = status
        self.runs: list[tuple[tuple[str, ...], float | None]] = []
        self.installs: list[tuple[str, ...]] = []

    def run(self, *args: str, interrupt_timeout: float | None = None) -> None:
        self.runs.append((args, interrupt_timeout))
        if self.status:
            raise nox.command.CommandFailed(f"Returned code {self.status}", return_code=self.status)

    def install(self, *args: str) -> None:
        self.installs.append(args)


def session(fake: FakeSession) -> Session:
    return cast("Session", fake)


def test_perf_and_update_baseline_run_the_gate_with_the_posargs_and_a_grace() -> None:
    fake = FakeSession(["-k", "stream", "--processes", "10"])
    agui.perf(session(fake))
    agui.update_baseline(session(fake), "--scale", "0.1")
    assert fake.runs == [
        (
            ("python", "-m", "agui_perf", "gate", "perf", "-k", "stream", "--processes", "10"),
            agui.GATE_STOP_GRACE_S,
        ),
        (
            (
                *("python", "-m", "agui_perf", "gate", "update-baseline", "--scale", "0.1"),
                *("-k", "stream", "--processes", "10"),
            ),
            agui.GATE_STOP_GRACE_S,
        ),
    ]
    # Seconds for the gate to stop its processes and remove its worktree, not nox's 0.3.
    assert agui.GATE_STOP_GRACE_S >= 30


def test_load_runs_agui_perf_load_with_the_posargs() -> None:
    fake = FakeSession(["--users", "300", "--target", "http://127.0.0.1:8000"])
    agui.load(session(fake), "--duration", "60")
    assert fake.runs == [
        (
            (
                *("python", "-m", "agui_perf", "load", "--duration", "60"),
                *("--users", "300", "--target", "http://127.0.0.1:8000"),
            ),
            agui.GATE_STOP_GRACE_S,
        )
    ]
    with pytest.raises(SystemExit) as unusable:
        agui.load(session(FakeSession([], status=2)))
    assert unusable.value.code == 2


def test_exit_2_stays_2_and_a_regression_stays_a_failed_command() -> None:
    with pytest.raises(SystemExit) as unusable:
        agui.perf(session(FakeSession([], status=2)))
    assert unusable.value.code == 2
    with pytest.raises(nox.command.CommandFailed) as regression:
        agui.perf(session(FakeSession([], status=1)))
    assert regression.value.return_code == 1


def test_install_puts_the_gate_beside_the_projects_dependencies(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "app"\ndependencies = ["fastapi>=0.115", "uvicorn"]\n'
        '[dependency-groups]\nperf = ["agui-perf[gate]", "httpx>=0.27"]\n'
        'other = ["never"]\n',
        encoding="utf-8",
    )
    fake = FakeSession([])
    agui.install(session(fake), "perf", pyproject=str(pyproject))
    [args] = fake.installs
    gate = agui.gate_requirement()
    # The group's own agui-perf requirement gives way to the one this helper came from.
    assert args == (*gate, "fastapi>=0.115", "uvicorn", "httpx>=0.27")

    pyproject.write_text(
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
        '[project]\nname = "lib"\ndependencies = ["orjson"]\n',
        encoding="utf-8",
    )
    fake = FakeSession([])
    agui.install(session(fake), pyproject=str(pyproject))
    assert fake.installs == [(*gate, "-e", ".")]  # a package installs itself


class FakeDistribution:
    def __init__(self, direct_url: dict[str, Any] | None) -> None:
        self.version = "0.1.0"
        self.direct_url = direct_url

    def read_text(self, name: str) -> str | None:
        assert name == "direct_url.json"
        return None if self.direct_url is None else json.dumps(self.direct_url)


@pytest.mark.parametrize(
    ("direct_url", "expected"),
    [
        (None, ("agui-perf[gate]==0.1.0",)),
        (
            {"url": "file:///work/agui%20perf", "dir_info": {"editable": True}},
            ("-e", "/work/agui perf[gate]"),
        ),
        (
            {"url": "file:///work/agui-perf", "dir_info": {}},
            ("agui-perf[gate] @ file:///work/agui-perf",),
        ),
        (
            {
                "url": "https://example.org/agui-perf.git",
                "vcs_info": {"vcs": "git", "commit_id": "abc123"},
            },
            ("agui-perf[gate] @ git+https://example.org/agui-perf.git@abc123",),
        ),
    ],
)
def test_the_gate_requirement_is_where_this_agui_perf_came_from(
    monkeypatch: pytest.MonkeyPatch,
    direct_url: dict[str, Any] | None,
    expected: tuple[str, ...],
) -> None:
    monkeypatch.setattr(metadata, "distribution", lambda name: FakeDistribution(direct_url))
    assert agui.gate_requirement() == expected


def test_a_source_tree_on_sys_path_installs_that_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> None:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "distribution", missing)
    root = Path(agui.__file__).resolve().parents[2]
    assert agui.gate_requirement() == ("-e", f"{root}[gate]")
    assert (root / "pyproject.toml").is_file()


def test_comment_installs_agui_perf_alone_and_passes_the_posargs() -> None:
    fake = FakeSession(["report", "--pr", "7"])
    agui.comment(session(fake))
    assert fake.installs == [agui.gate_requirement(extra=None)]
    assert all("[gate]" not in arg for arg in fake.installs[0])
    assert fake.runs == [
        (("python", "-m", "agui_perf.gate.report.comment", "report", "--pr", "7"), None)
    ]
