"""stream.stalls: the collector timed through gc.callbacks, the loop's lag probed, the files
a serving process writes, and `agui-perf serve` writing them for real."""

from __future__ import annotations

import asyncio
import gc
import json
import time
from typing import TYPE_CHECKING

import httpx
import pytest

from agui_perf.stream.stalls import STALLS_DIR_ENV, StallMonitor, Stalls, read_stalls
from tests._support.server import command_process, free_port

if TYPE_CHECKING:
    from pathlib import Path


def make_cycles(n: int) -> None:
    for _ in range(n):
        a: list[object] = []
        a.append(a)


def test_each_collection_is_timed_by_generation_while_installed() -> None:
    monitor = StallMonitor()
    monitor.install()
    try:
        make_cycles(20_000)
        gc.collect()  # a full one: generation 2
        gc.collect(0)
    finally:
        monitor.uninstall()
    stalls = monitor.summary()
    assert stalls.collections[2] >= 1
    assert stalls.collections[0] >= 1
    assert stalls.gc_wall_max > 0
    assert stalls.gc_wall_total >= stalls.gc_wall_max
    assert 0 <= stalls.gc_cpu_max <= stalls.gc_cpu_total
    assert stalls.gc_max_generation in (0, 1, 2)
    before = list(stalls.collections)
    gc.collect()  # uninstalled: not counted
    assert monitor.summary().collections == before


def test_a_blocked_loop_shows_as_lag() -> None:
    # A callback that holds the loop 100 ms: the probe, asleep for 5 ms, wakes at least
    # 95 ms late, however busy the machine is (a lower bound, never a timing limit).
    monitor = StallMonitor(interval=0.005)

    async def scenario() -> None:
        probe = asyncio.create_task(monitor.probe())
        await asyncio.sleep(0.05)
        time.sleep(0.1)
        await asyncio.sleep(0.05)
        probe.cancel()
        with pytest.raises(asyncio.CancelledError):
            await probe

    asyncio.run(scenario())
    stalls = monitor.summary()
    assert stalls.lag_max >= 0.095
    assert stalls.lag_samples >= 3
    assert 0 <= stalls.lag_p99 <= stalls.lag_max


def test_a_bad_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="interval must be a positive number of seconds"):
        StallMonitor(interval=0)


def test_running_writes_the_file_and_read_stalls_reads_every_one(tmp_path: Path) -> None:
    monitor = StallMonitor()

    async def serve() -> None:
        async with monitor.running(tmp_path):
            await asyncio.sleep(0.05)
            gc.collect()

    asyncio.run(serve())
    (tmp_path / "stalls-1.json").write_text("{not json")  # a damaged file is left out
    (tmp_path / "stalls-2.json").write_text(json.dumps({"pid": 2, "unknown": 1}))
    found = read_stalls(tmp_path)
    assert len(found) == 1
    assert isinstance(found[0], Stalls)
    assert found[0].collections[2] >= 1
    assert found[0].lag_samples >= 1
    assert not list(tmp_path.glob("*.tmp"))
    assert gc.callbacks.count(monitor._on_gc) == 0  # uninstalled on the way out


def test_serve_writes_each_workers_stalls_when_asked(tmp_path: Path) -> None:
    port = free_port()
    args = ["-m", "agui_perf", "serve", "--port", str(port)]
    env = {STALLS_DIR_ENV: str(tmp_path)}
    with command_process(args, port, env=env) as server, httpx.Client(timeout=60) as client:
        response = client.post(
            f"{server.url}/agent", json={"threadId": "t", "runId": "r", "messages": []}
        )
        assert response.status_code == 200
        pid = server.pid
    found = read_stalls(tmp_path)
    assert [s.pid for s in found] == [pid]
    assert found[0].lag_samples > 0
    assert found[0].seconds > 0


def test_the_p99_lag_comes_from_buckets_of_half_a_millisecond() -> None:
    monitor = StallMonitor()
    for _ in range(990):
        monitor.record_lag(0.001)
    for _ in range(10):
        monitor.record_lag(0.050)
    stalls = monitor.summary()
    assert stalls.lag_samples == 1000
    assert stalls.lag_p99 == pytest.approx(0.0015)  # the upper edge of 1.0-1.5 ms
    assert stalls.lag_max == pytest.approx(0.050)
    monitor.record_lag(5.0)  # beyond the last bucket: counted there, p99 capped by the max
    assert monitor.summary().lag_max == pytest.approx(5.0)
