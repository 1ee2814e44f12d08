"""One gate run, exactly as `nox -s perf` runs it: `python -m agui_perf gate perf` in a copy.

The gate runs as a subprocess with the copy as its working directory, so it measures the
copy's working tree as the current code and finds the accepted commit in the copy's history.
Its own progress lines (`[perf] …`) and its verdict line go to a log file per run; its report
goes to a folder of its own (`--out`), from which `verdict.json` is read.

The subprocess gets its own process group. On Ctrl-C or SIGTERM here it is sent SIGTERM, which
the gate treats like Ctrl-C (it stops its benchmark processes and removes its worktree), and is
given time to do so before the group is killed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import agui_perf
from agui_perf.gate._io import load_json_file
from agui_perf.gate._process import stop_group
from agui_perf.gate.errors import GateError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "GateRun",
    "gate_env",
    "read_verdict",
    "run_gate",
]

#: Seconds one gate run may take before it is stopped (a full run takes minutes).
GATE_TIMEOUT = 3600.0
#: Seconds the gate gets to stop its own processes after SIGTERM (it gives each 10 s).
_STOP_GRACE_S = 60.0
#: This gate, importable from any working directory (the copies have their own agui_perf).
_PACKAGE_ROOT = str(Path(agui_perf.__file__).resolve().parents[1])


@dataclass(frozen=True)
class GateRun:
    """What one gate run left: its exit status, wall time, verdict (parsed) and files."""

    case: str
    run: int  # 1-based, per case
    exit_code: int
    wall_s: float
    out: Path  # the gate's report folder
    log: Path  # the gate's stdout and stderr
    verdict: Mapping[str, object] | None  # verdict.json, None if it was not written
    error: str | None  # the gate's one error line, or why there is no verdict

    @property
    def overall(self) -> str:
        value = self.verdict.get("overall") if self.verdict else None
        return value if isinstance(value, str) else "error"


def gate_command(out: Path, args: Sequence[str], python: str = sys.executable) -> list[str]:
    return [python, "-m", "agui_perf", "gate", "perf", *args, "--out", str(out)]


def gate_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment for the gate, with this gate's package first on PYTHONPATH.

    The GITHUB_ variables are dropped: inside Actions every run would append its verdict to
    the job summary and annotate the pull request.
    """
    source = os.environ if base is None else base
    env = {key: value for key, value in source.items() if not key.startswith("GITHUB_")}
    previous = env.get("PYTHONPATH")
    env["PYTHONPATH"] = os.pathsep.join([_PACKAGE_ROOT, *([previous] if previous else [])])
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _log_lines(log: Path) -> list[str]:
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line.strip() for line in text.splitlines() if line.strip()]


def _error_line(log: Path) -> str | None:
    """The gate's own one-line error (`agui-perf gate perf: error: …`), without its prefix."""
    errors = [line for line in _log_lines(log) if ": error: " in line]
    return errors[-1].split(": error: ", 1)[1] if errors else None


def run_gate(
    case: str,
    run: int,
    cwd: Path,
    out: Path,
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    timeout: float = GATE_TIMEOUT,
) -> GateRun:
    """Run the gate once in `cwd`, its report into `out` and its output into `out/gate.log`."""
    out.mkdir(parents=True, exist_ok=True)
    log = out / "gate.log"
    path = out / "verdict.json"
    path.unlink(missing_ok=True)
    command = gate_command(out, args)
    started = time.monotonic()
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            status = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop_group(proc, grace=_STOP_GRACE_S)
            raise GateError(
                f"gate run {run} of {case} did not finish within {timeout:g} s (stopped) "
                f"— see {log}"
            ) from None
        except BaseException:
            stop_group(proc, grace=_STOP_GRACE_S)
            raise
    wall = time.monotonic() - started
    verdict, error = read_verdict(out, status)
    return GateRun(case, run, status, wall, out, log, verdict, error)


def read_verdict(out: Path, status: int) -> tuple[Mapping[str, object] | None, str | None]:
    """The verdict a gate run wrote into `out` and, for a run that erred, its error line.

    An error verdict (exit 2) carries the gate's one line; a missing or unreadable
    verdict.json is an error quoting the last line of the gate's log instead.
    """
    path, log = out / "verdict.json", out / "gate.log"
    try:
        parsed = load_json_file(path, origin=f"verdict '{path}'", hint=f"see {log}")
    except GateError as err:
        lines = _log_lines(log)
        last = f"; its last line: {lines[-1]}" if lines else ""
        return None, _error_line(log) or f"{err}{last}"
    if not isinstance(parsed, dict):
        return None, f"verdict '{path}' is not a JSON object — see {log}"
    if status == 2 or parsed.get("overall") == "error":
        message = parsed.get("error")
        if isinstance(message, str) and message:
            return parsed, message
        return parsed, _error_line(log) or f"the gate ended with exit status {status} — see {log}"
    if status not in (0, 1):
        return parsed, f"the gate ended with exit status {status} — see {log}"
    return parsed, None
