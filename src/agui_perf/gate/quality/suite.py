"""The benchmarks of a copy, as the gate would select them (pytest --collect-only).

Collected before anything is measured, so that a misspelt `--benchmark` costs seconds and
one line instead of a calibration that finds nothing.
"""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

from agui_perf.gate.errors import GateError
from agui_perf.gate.measure.runner import (
    CALIBRATION_PLUGIN,
    EXIT_NO_TESTS,
    REFERENCE_DESELECT,
    RunOptions,
    job_env,
)

if TYPE_CHECKING:
    from agui_perf.gate.measure.runner import Side

__all__ = ["collect_benchmarks"]


def collect_benchmarks(
    side: Side, scale: float, keyword: str | None = None, *, timeout: float = 300.0
) -> list[str]:
    """The names of the benchmarks the gate would run in `side` (pytest --collect-only).

    Names as pytest-benchmark writes them: the test name with its parameters.
    """
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(side.benchmarks),
        f"--rootdir={side.root}",
        "-p",
        "no:cacheprovider",
        "-q",
        "--collect-only",
        "-m",
        REFERENCE_DESELECT,
        "-p",
        CALIBRATION_PLUGIN,
        *(["-k", keyword] if keyword else []),
    ]
    env = job_env(side, RunOptions(processes=1, scale=scale))
    try:
        done = subprocess.run(
            command,
            cwd=side.root,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise GateError(f"collecting the benchmarks took over {timeout:g} s") from None
    if done.returncode not in (0, EXIT_NO_TESTS):
        lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
        raise GateError(
            f"collecting the benchmarks of {side.root} failed (pytest exit {done.returncode}): "
            f"{lines[-1] if lines else 'no output'}"
        )
    return [line.rsplit("::", 1)[1] for line in done.stdout.splitlines() if "::" in line]
