"""One gate run per project at a time: an exclusive lock on `.perf/gate.lock`.

Two runs in one checkout would share `.perf/runs/` (each starts by emptying it), the accepted
commit's worktree under `.perf/worktrees/` (each removes it when done) and the report folder,
and both would produce nonsense. The lock is `fcntl.flock` on an open file: the operating
system releases it when the process ends, however it ends (SIGKILL, a crash, a power cut), so a
killed run never leaves a lock that someone has to delete by hand. The file's text (pid, start
time) is only there for the message the second run prints; it is never trusted as the lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from agui_perf.gate.errors import GateError

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "gate_lock",
]

#: Relative to the project root; `.perf/` is git-ignored.
LOCK_FILE = Path(".perf") / "gate.lock"


def _holder(fd: int) -> str:
    """The holder's "pid N, started …" from the lock file, as far as it can be read."""
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
        return f"pid {int(data['pid'])}, started {data['started']}"
    except (OSError, ValueError, KeyError, TypeError):
        # The holder has just taken the lock and not written its details yet.
        return "pid unknown"


@contextlib.contextmanager
def gate_lock(root: Path) -> Iterator[None]:
    """Hold the project's gate lock for the block; a GateError at once if another run has it."""
    path = root / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise GateError(
                f"another gate run ({_holder(fd)}) is using {LOCK_FILE.parent.as_posix()}/ "
                "— wait for it to finish"
            ) from None
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        details = json.dumps({"pid": os.getpid(), "started": started})
        os.ftruncate(fd, 0)
        os.pwrite(fd, details.encode("utf-8"), 0)
        try:
            yield
        finally:
            # Emptied before the lock goes, so that no later reader quotes a finished run.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing the last descriptor releases the lock
