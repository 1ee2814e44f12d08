"""How long a serving process's event loop stood still: garbage-collector pauses and loop lag.

A stream's events are only as timely as the loop that sends them: while the cyclic collector
runs, or one callback hogs the loop, every open stream waits. Two measurements, taken inside
the server process itself (so the load generator's own stalls never count):

- every collection, timed through `gc.callbacks`: wall time and the process's CPU time
  between its "start" and "stop" calls, by generation. CPU time is the collector's own
  cost; wall time also holds any time the process was not scheduled, which on a shared
  machine can be most of it;
- loop lag: a task sleeps `interval` seconds again and again and records how late it woke.
  That is the longest any ready callback waited, whatever held the loop (a collection, a
  slow handler, the process being descheduled).

`agui-perf serve` runs a monitor in each worker when `STALLS_DIR_ENV` names a folder
(`app.app_from_env`), and the monitor rewrites `<folder>/stalls-<pid>.json` every second and
once more at shutdown, so a worker that is killed still leaves what it measured. The load
test (`nox -s load`) sets it and reports the figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

__all__ = ["STALLS_DIR_ENV", "StallMonitor", "Stalls", "read_stalls"]

#: Environment variable: the folder each serving process writes its `stalls-<pid>.json` to.
STALLS_DIR_ENV: Final = "AGUI_PERF_STALLS_DIR"
_FILE_PREFIX: Final = "stalls-"
#: Seconds between two wake-ups of the lag probe: fine enough to see a 20 ms stall, cheap
#: enough (100 wake-ups a second) not to be one.
DEFAULT_INTERVAL_S: Final = 0.01
_WRITE_EVERY_S: Final = 1.0
#: The lags are counted in buckets of this width (seconds) up to `_BUCKETS` of them (the last
#: holds everything longer): recording is O(1) and the p99 a walk over the buckets, so the
#: probe costs the loop nothing that grows with the run (sorting every sample once a second
#: would be a stall of its own after a few minutes).
_BUCKET_S: Final = 0.0005
_BUCKETS: Final = 4000  # 2 s


@dataclass
class Stalls:
    """One process's figures so far (seconds)."""

    pid: int
    seconds: float = 0.0  # how long it was measured
    collections: list[int] = field(default_factory=lambda: [0, 0, 0])  # by generation
    gc_wall_max: float = 0.0
    gc_cpu_max: float = 0.0
    gc_max_generation: int = -1  # the generation of the longest (wall) pause
    gc_wall_total: float = 0.0
    gc_cpu_total: float = 0.0
    lag_max: float = 0.0
    lag_p99: float = 0.0
    lag_samples: int = 0


class StallMonitor:
    """Times the collector and probes the loop; `summary()` at any moment."""

    def __init__(self, interval: float = DEFAULT_INTERVAL_S) -> None:
        if not (interval > 0 and math.isfinite(interval)):
            raise ValueError(f"interval must be a positive number of seconds, got {interval!r}")
        self.interval = interval
        self._stalls = Stalls(pid=os.getpid())
        self._started = time.monotonic()
        self._gc_start: tuple[float, float] | None = None
        self._lag_counts = [0] * _BUCKETS

    # --- the collector --------------------------------------------------------------------

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_start = (time.perf_counter(), time.process_time())
            return
        if self._gc_start is None:  # installed between a start and its stop
            return
        wall = time.perf_counter() - self._gc_start[0]
        cpu = time.process_time() - self._gc_start[1]
        self._gc_start = None
        stalls, generation = self._stalls, int(info.get("generation", 0))
        if 0 <= generation < len(stalls.collections):
            stalls.collections[generation] += 1
        stalls.gc_wall_total += wall
        stalls.gc_cpu_total += cpu
        stalls.gc_cpu_max = max(stalls.gc_cpu_max, cpu)
        if wall > stalls.gc_wall_max:
            stalls.gc_wall_max, stalls.gc_max_generation = wall, generation

    def install(self) -> None:
        if self._on_gc not in gc.callbacks:
            gc.callbacks.append(self._on_gc)

    def uninstall(self) -> None:
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self._on_gc)

    # --- the loop ------------------------------------------------------------------------

    def record_lag(self, lag: float) -> None:
        self._lag_counts[min(int(max(0.0, lag) / _BUCKET_S), _BUCKETS - 1)] += 1
        self._stalls.lag_max = max(self._stalls.lag_max, lag)

    async def probe(self, path: Path | None = None) -> None:
        """Sleep `interval` again and again, recording how late each wake-up was; write the
        summary to `path` every second. Runs until cancelled."""
        # perf_counter, not loop.time(): uvloop's clock counts whole milliseconds.
        written = time.perf_counter()
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(self.interval)
            now = time.perf_counter()
            self.record_lag(now - asked - self.interval)
            if path is not None and now - written >= _WRITE_EVERY_S:
                written = now
                self.write(path)

    def summary(self) -> Stalls:
        stalls = self._stalls
        stalls.seconds = time.monotonic() - self._started
        stalls.lag_samples = total = sum(self._lag_counts)
        if total:
            rank, seen = math.ceil(0.99 * total), 0
            for bucket, count in enumerate(self._lag_counts):
                seen += count
                if seen >= rank:
                    # The bucket's upper edge, but never above the longest lag seen.
                    stalls.lag_p99 = min((bucket + 1) * _BUCKET_S, stalls.lag_max)
                    break
        return Stalls(**{**asdict(stalls), "collections": list(stalls.collections)})

    def write(self, path: Path) -> None:
        """The summary as JSON, replaced whole (a reader never sees half a file)."""
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(asdict(self.summary())), encoding="utf-8")
        tmp.replace(path)

    @contextlib.asynccontextmanager
    async def running(self, folder: Path) -> AsyncIterator[None]:
        """Installed and probing while the body runs (a server's lifespan); the file is
        written a last time on the way out."""
        path = folder / f"{_FILE_PREFIX}{os.getpid()}.json"
        self.install()
        task = asyncio.create_task(self.probe(path))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self.uninstall()
            self.write(path)


def read_stalls(folder: Path) -> list[Stalls]:
    """Every process's figures in `folder` (a file that cannot be read is left out)."""
    found: list[Stalls] = []
    for path in sorted(folder.glob(f"{_FILE_PREFIX}*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            found.append(Stalls(**data))
        except (OSError, ValueError, TypeError):
            continue
    return found
