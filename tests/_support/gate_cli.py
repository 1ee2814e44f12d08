"""`agui-perf gate …` in a subprocess, as a user runs it, and what to check of its output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import agui_perf
from tests._support.git import GIT_ENV

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "TIMEOUT",
    "error_line",
    "gate_env",
    "run_gate",
    "snapshot",
]


TIMEOUT = 300.0
#: The gate under test, importable in the child whatever the child's cwd.
PACKAGE_ROOT = str(Path(agui_perf.__file__).resolve().parents[1])


def gate_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    # Outside GitHub Actions even when this suite runs there: no summary, no annotations.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GITHUB_", "TOY_", "AGUI_PERF_")) and key != "PYTHONPATH"
    }
    env.update(GIT_ENV)
    env["PYTHONPATH"] = PACKAGE_ROOT
    env.update(extra or {})
    return env


def run_gate(
    root: Path, *args: str, extra: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agui_perf", "gate", *args],
        cwd=root,
        env=gate_env(extra),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under baselines/ and its bytes."""
    folder = root / "baselines"
    if not folder.exists():
        return {}
    return {str(p.relative_to(root)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def error_line(stderr: str) -> str:
    """The one error line: last on stderr, the only one, no traceback before it.

    Lines before it can only be progress lines from a run that had started, every one of them
    with the gate's one progress prefix.
    """
    lines = stderr.splitlines()
    assert "Traceback" not in stderr
    errors = [line for line in lines if ": error: " in line]
    assert len(errors) == 1, stderr
    assert lines[-1] == errors[0]
    assert all(line.startswith("[perf] ") for line in lines[:-1]), stderr
    return errors[0]
