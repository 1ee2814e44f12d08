"""The benchmarks' server CPU sampler and pinning (`agui_perf/suite/server_cpu.py`).

`nox -s tests` leaves tests/benchmarks out, so the sampler is tested here against real child
processes that report their own CPU time: what we read from outside must agree with it.
Nothing is timed; each child waits on its stdin between steps, so every reading is taken
while it sleeps.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from typing import IO, TYPE_CHECKING, Final

import pytest

from agui_perf.suite.server_cpu import (
    CPU_ROUNDS_KEY,
    Cores,
    ServerCpu,
    pin_process,
    pinned_client,
    pinning_label,
    process_cpu_ns,
    server_idle,
    split_cores,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

#: Work a child does per step: about 50 ms of CPU here, far above the clock's resolution.
_SPINS: Final = 2_000_000
_TIMEOUT_S: Final = 120

#: On each line `N keep|exit` from stdin: spin in N threads at once, then print the CPU time
#: each of them ran (thread_time_ns) and the process's own total (process_time_ns), and wait
#: for the next line. `keep` threads then block for good (they stay alive), `exit` ones end.
_WORKER: Final = textwrap.dedent(
    """
    import sys, threading, time

    forever = threading.Event()

    def spin(out, i, spun, keep):
        start = time.thread_time_ns()
        for _ in range(SPINS):
            pass
        out[i] = time.thread_time_ns() - start
        spun.release()
        if keep:
            forever.wait()

    for line in sys.stdin:
        count, mode = line.split()
        threads, keep = int(count), mode == "keep"
        out = [0] * threads
        spun = threading.Semaphore(0)
        workers = [
            threading.Thread(target=spin, args=(out, i, spun, keep), daemon=True)
            for i in range(threads)
        ]
        for worker in workers:
            worker.start()
        for _ in workers:
            spun.acquire()
        if not keep:
            for worker in workers:
                worker.join()
        print(*out, time.process_time_ns(), flush=True)
    """
).replace("SPINS", str(_SPINS))


class Worker:
    """A child that spins on request and reports the CPU time it spent."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.pid = proc.pid

    def work(self, threads: int = 1, *, keep: bool = True) -> tuple[list[int], int]:
        """Spin in `threads` threads; (each thread's CPU ns, the process's total CPU ns)."""
        stdin, stdout = self._pipes()
        stdin.write(f"{threads} {'keep' if keep else 'exit'}\n")
        stdin.flush()
        *each, total = (int(field) for field in stdout.readline().split())
        return each, total

    def _pipes(self) -> tuple[IO[str], IO[str]]:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        return self.proc.stdin, self.proc.stdout


@pytest.fixture
def worker() -> Iterator[Worker]:
    with subprocess.Popen(
        [sys.executable, "-c", _WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as proc:
        try:
            yield Worker(proc)
        finally:
            proc.kill()


def test_the_cpu_time_read_from_outside_rises_with_the_childs_own(worker: Worker) -> None:
    before = process_cpu_ns(worker.pid)
    (spun,), own_total = worker.work()
    after = process_cpu_ns(worker.pid)
    assert spun > 0
    # The child's own figure was taken before it printed, ours after it went to sleep: ours
    # holds all of its spinning and its whole life, and more only by a print and a read.
    assert after - before >= spun
    assert after >= own_total
    assert after - own_total < spun


def _schedstat_sum_ns(pid: int) -> int:
    """The first field of every live thread's schedstat, summed: run time in ns."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as file:
            total += int(file.read().split()[0])
    return total


@pytest.mark.parametrize("keep", [True, False], ids=["threads-alive", "threads-ended"])
def test_every_thread_counts_alive_or_ended(worker: Worker, *, keep: bool) -> None:
    before = process_cpu_ns(worker.pid)
    threads, _ = worker.work(threads=3, keep=keep)
    after = process_cpu_ns(worker.pid)
    assert len(threads) == 3
    # Reading one thread (the main one only waits) would give far less than their sum.
    assert after - before >= sum(threads)
    if keep:
        # All threads alive and asleep: the clock is the sum of their schedstat run times.
        assert abs(_schedstat_sum_ns(worker.pid) - process_cpu_ns(worker.pid)) < min(threads)
    else:
        # Python's join returns a moment before the OS thread is gone: wait until it is.
        deadline = time.monotonic() + _TIMEOUT_S  # a guard against a hang, not a time limit
        while len(os.listdir(f"/proc/{worker.pid}/task")) > 1:
            assert time.monotonic() < deadline, "an ended thread is still listed"
            os.sched_yield()
        # Ended threads are gone from /proc/<pid>/task but not from the process's clock.
        assert process_cpu_ns(worker.pid) - _schedstat_sum_ns(worker.pid) >= sum(threads)


def test_a_sleeping_child_is_idle_and_a_spinning_one_is_not(worker: Worker) -> None:
    worker.work()  # it has answered and is about to wait on its stdin
    # Between its answer and the blocking read it may still be runnable, and on a busy machine
    # it can stay runnable (waiting for a core) for a while: it must become idle, not be so at once.
    deadline = time.monotonic() + _TIMEOUT_S  # a guard against a hang, not a time limit
    while not server_idle(worker.pid):
        assert time.monotonic() < deadline, "a child blocked on its stdin never showed as idle"
        time.sleep(0.01)
    spin = "print('spinning', flush=True)\nwhile True: pass"
    with subprocess.Popen([sys.executable, "-c", spin], stdout=subprocess.PIPE) as spinner:
        try:
            # Past its start-up (file reads may sleep), a spinning loop is running or waiting
            # for a core, never asleep: R whenever we look.
            assert spinner.stdout is not None
            assert spinner.stdout.readline() == b"spinning\n"
            assert not server_idle(spinner.pid)
        finally:
            spinner.kill()


def test_server_cpu_records_each_round_and_publishes_the_measured_ones(worker: Worker) -> None:
    cpu = ServerCpu(worker.pid)
    assert cpu.unavailable is None
    spun = []
    for _ in range(3):  # one warm-up round and two measured ones
        cpu.start()
        (ns,), _ = worker.work()
        cpu.stop("the target's", arguments="are ignored")
        spun.append(ns)
    assert len(cpu.rounds_ns) == 3
    for recorded, own in zip(cpu.rounds_ns, spun, strict=True):
        assert recorded >= own
    info = cpu.extra_info(2, [1000, 4000])
    assert info[CPU_ROUNDS_KEY] == [ns / 1e9 for ns in cpu.rounds_ns[1:]]
    assert info["server_cpu_median_s"] == pytest.approx(sum(cpu.rounds_ns[1:]) / 2 / 1e9)
    per_event = sorted([cpu.rounds_ns[1] / 1000, cpu.rounds_ns[2] / 4000])
    assert info["server_cpu_per_event_ns"] == pytest.approx(sum(per_event) / 2)
    assert info["pinning"] == pinning_label(None)
    with pytest.raises(ValueError, match="3 event counts for 2 rounds"):
        cpu.extra_info(2, [1, 2, 3])


def test_server_cpu_without_rounds_or_schedstat_says_why() -> None:
    cpu = ServerCpu(os.getpid())
    cpu.start()  # --benchmark-disable: setup, the target, no teardown
    assert cpu.extra_info(3, 10) == {
        "pinning": pinning_label(None),
        "server_cpu": "not measured (no timed rounds)",
    }
    with subprocess.Popen([sys.executable, "-c", ""]) as gone:
        gone.wait(_TIMEOUT_S)
    missing = ServerCpu(gone.pid)  # reaped: no such process any more
    assert missing.unavailable is not None
    assert "cannot read the server process's CPU clock" in missing.unavailable
    assert missing.extra_info(1, 10)["server_cpu"] == missing.unavailable


def test_pin_process_pins_every_thread_of_a_child(worker: Worker) -> None:
    core = min(os.sched_getaffinity(0))
    pin_process(worker.pid, core)
    worker.work(threads=2)  # threads started after the pinning inherit it
    tids = os.listdir(f"/proc/{worker.pid}/task")
    assert tids
    for tid in tids:
        assert os.sched_getaffinity(int(tid)) == {core}


def test_pinned_client_pins_this_thread_and_restores_it() -> None:
    allowed = os.sched_getaffinity(0)
    core = max(allowed)
    with pinned_client(Cores(client=core, server=core)):
        assert os.sched_getaffinity(0) == {core}
    assert os.sched_getaffinity(0) == allowed
    with pinned_client(None):
        assert os.sched_getaffinity(0) == allowed


def test_split_cores_gives_two_allowed_cores_or_none() -> None:
    allowed = os.sched_getaffinity(0)
    cores = split_cores()
    if len(allowed) < 2:
        assert cores is None
        return
    assert cores is not None
    assert cores.client != cores.server
    assert {cores.client, cores.server} <= allowed
    assert pinning_label(cores) == f"client cpu {cores.client}, server cpu {cores.server}"
