"""Waiting for processes to end, without /proc's zombies counting as alive."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "TIMEOUT",
    "alive",
    "wait_until",
    "wait_until_gone",
]


#: Seconds to wait for any event: generous, for a loaded 2-core machine; never a pass condition.
TIMEOUT = 120.0
_POLL_S = 0.01


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, process group) of a process, None if there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return ("?", -1)
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[2])


def alive(pid: int) -> bool:
    """Whether `pid` runs. A zombie does not: it has ended and waits for its parent to reap it
    (orphans are reaped by init, which can take seconds)."""
    if not Path("/proc/self/stat").exists():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def group_members(pgid: int) -> list[int]:
    """The live processes of process group `pgid`."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        return [pgid]
    members = []
    for entry in proc.iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and stat[1] == pgid and stat[0] not in ("Z", "X"):
                members.append(int(entry.name))
    return members


def wait_until(done: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """Poll `done` until it holds; an AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(_POLL_S)


def wait_until_gone(pids: list[int], groups: tuple[int, ...] = ()) -> None:
    """Wait until none of `pids` and no member of `groups` runs (a SIGKILLed process takes a
    moment to die); an AssertionError naming the survivors otherwise."""

    def survivors() -> list[int]:
        return [pid for pid in pids if alive(pid)] + [p for g in groups for p in group_members(g)]

    wait_until(lambda: not survivors(), "processes of the run to end")
