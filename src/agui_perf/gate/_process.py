"""Stopping a child that runs in a process group of its own (`start_new_session=True`).

The gate's children (benchmark processes with their servers, callgrind runs, the quality
harness's gate runs) each lead a group, so that one signal reaches everything they started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess

__all__ = ["signal_group", "stop_group"]


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """`killpg`, quiet when the group is already gone (or was never ours)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def stop_group(proc: subprocess.Popen[bytes], *, grace: float = 10.0) -> None:
    """SIGTERM the group and wait for its leader (SIGKILL if it does not go); then kill the rest.

    Waiting for the leader bounds the stop, and gives it the time to stop what it started in
    its own way (a gate run removes its worktree); whatever of the group is still there once
    the leader has gone (a server that ignored SIGTERM) is killed, not waited for.
    """
    if proc.poll() is None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            signal_group(proc.pid, sig)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                continue
            break
    signal_group(proc.pid, signal.SIGKILL)
