"""What a server process spent: its CPU time per benchmark round, and client/server pinning.

Why: the service benchmarks time wall-clock rounds of a client in this process talking to a
server in a child process, on cores they share with each other and with whatever else runs.
Their wall time spread 15-70 % between fresh gate processes here, far more than the slowdowns
worth catching. The CPU time the *server* spent on a round is its own work and hardly moves
with the load: for the 20,000-event burst stream it spread 1.3-2.9 % between fresh processes
with the machine's two cores loaded 3-10 deep by other jobs.

How:

- `process_cpu_ns(pid)` reads the process's CPU clock (the clock id glibc's
  `clock_getcpuclockid` makes): the kernel's sum of the run time, in ns, of every thread of
  the process, ended ones included. That is the sum over `/proc/<pid>/task/*/schedstat`
  (first field) plus the threads that have exited, in one system call. `/proc/<pid>/stat`
  and psutil count in clock ticks (10 ms here), too coarse for a round of a few ms.
- The kernel adds to a thread's run time when it stops running (or at a tick), so a reading
  taken while the server still runs misses its latest stretch. `ServerCpu` waits until no
  server thread is runnable before each reading (bounded: a server that never idles is read
  as it is), and reads before and after every round outside the timed code
  (`benchmark.pedantic`'s setup and teardown), so the wall time does not include it.
- With at least two cores this process's thread runs on one (`pinned_client`) and every
  thread of the server on another (`pin_server`, called by the code that starts the server).
  Unpinned, client and server sometimes share a core; the server then sends fewer, bigger
  writes while it waits and spends less CPU (about 5 % less on the burst), by an amount that
  depends on the scheduling. The price is wall time under load: a pinned process cannot move
  to the other core when its own is busy (the burst's wall round took 1.8x as long pinned with
  the cores loaded 5 deep). With one core nothing is pinned, and `extra_info` says so.

What a benchmark publishes (`ServerCpu.extra_info`): `server_cpu_s` (the CPU seconds of each
measured round, a list), their median `server_cpu_median_s`, `server_cpu_per_event_ns` (the
median over rounds of CPU time per event) and `pinning`. The gate turns `server_cpu_s` into a
compared row of its own (`agui_perf.gate.store.results`).

The figure measures the server's whole cost of a round, not only the per-event path, and a
short round's cost depends on what the other processes on the machine do. Measured here
(2 vCPUs shared with other jobs, fresh servers like the gate's):

- A cache-thrashing loop on the server's core made the workflow's round cost 17 % more server
  CPU, one on the client's core 20 % more (the server's sends wake the client across cores).
  The load of other jobs changes on a scale of seconds, longer than a benchmark's rounds, so
  it moves whole processes: two fresh servers measured in one process, their rounds
  interleaved, agreed within 2.2 % (workflow) and 3.9 % (latency), while processes a few
  seconds apart differed by 6-8 %. No calibration loop timed on the server's core tracked it
  (correlation 0.6 at best, none for the workflow), a fixed hash seed did not narrow it, and no
  garbage collection ran in these rounds.
- The paced stream of the latency benchmark (one event per 1 ms) costs the server about
  100-140 us per wake-up (fitted over rounds) against 15 us per event of the burst, and how
  many of its events need a wake-up of their own varies: asyncio waits in whole milliseconds,
  so the lateness of each wake-up adds up until an event is already due when the previous one
  is sent, and under load wake-ups come later still. 13 to 59 voluntary context switches per
  round of 84 events were seen; a busy server core *lowers* the row (19 % with the loop
  above). This row spread 7-19 % between the gate's processes here (three unchanged runs).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from pytest_benchmark.fixture import BenchmarkFixture

__all__ = [
    "CPU_ROUNDS_KEY",
    "Cores",
    "ServerCpu",
    "pin_process",
    "pin_server",
    "pinned_client",
    "pinning_label",
    "process_cpu_ns",
    "server_idle",
    "split_cores",
    "time_server_rounds",
]

#: The extra_info key of the per-round list (agui_perf.gate.store.results reads it by this name).
CPU_ROUNDS_KEY: Final = "server_cpu_s"
#: Which of a process's CPU clocks: the scheduler's run time in ns (not user/system ticks).
_CPUCLOCK_SCHED: Final = 2
#: How long to wait for the server to stop running before a reading: far longer than the few
#: microseconds it needs after a round; only a server that never idles reaches it.
_IDLE_TIMEOUT_S: Final = 1.0
#: Between two looks at the server's thread states: short, and a sleep so that on one core
#: the wait does not take the CPU the server needs to finish.
_IDLE_POLL_S: Final = 0.0002


@dataclass(frozen=True, slots=True)
class Cores:
    """The core this process's client runs on and the core the server runs on."""

    client: int
    server: int


def split_cores() -> Cores | None:
    """Two different cores this process may use (client first), or None with fewer than two.

    Chosen from this process's allowed set, so a run already confined (taskset, cgroups) is
    respected.
    """
    if not hasattr(os, "sched_getaffinity") or not hasattr(os, "sched_setaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        return None
    return Cores(client=allowed[0], server=allowed[1])


def pinning_label(cores: Cores | None) -> str:
    """How client and server were placed, for `extra_info["pinning"]`."""
    if cores is None:
        return "none (fewer than 2 cores, or no CPU affinity on this system)"
    return f"client cpu {cores.client}, server cpu {cores.server}"


def _threads(pid: int) -> list[str]:
    return os.listdir(f"/proc/{pid}/task")


def pin_process(pid: int, core: int) -> None:
    """Pin every thread of `pid` to `core`; threads it starts later inherit that."""
    for tid in _threads(pid):
        # A thread that ended since the listing has nothing left to pin.
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(int(tid), {core})


def pin_server(pid: int) -> Cores | None:
    """Give the server process `pid` a core of its own if there are two: the cores used."""
    cores = split_cores()
    if cores is not None:
        pin_process(pid, cores.server)
    return cores


@contextlib.contextmanager
def pinned_client(cores: Cores | None) -> Iterator[None]:
    """Run this thread on `cores.client` inside the block, then on the cores it had before."""
    if cores is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cores.client})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def process_cpu_ns(pid: int) -> int:
    """CPU time all threads of process `pid` have run so far (ended ones too), in ns.

    Raises OSError when the process does not exist or this is not Linux.
    """
    if not sys.platform.startswith("linux"):
        raise OSError(f"reading another process's CPU clock needs Linux, not {sys.platform}")
    # Linux's MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED): the bitwise complement of the pid,
    # shifted past the three bits that say which clock of that process.
    return time.clock_gettime_ns(((~pid) << 3) | _CPUCLOCK_SCHED)


def server_idle(pid: int) -> bool:
    """Whether no thread of `pid` is running or waiting to run (state R in its stat file)."""
    for tid in _threads(pid):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat", "rb") as file:
                stat = file.read()
        except FileNotFoundError:
            continue
        # The state follows the command name, which is in parentheses and may hold spaces.
        state = stat[stat.rindex(b")") + 2 :][:1]
        if state == b"R":
            return False
    return True


@dataclass(slots=True)
class ServerCpu:
    """A server process's CPU time around each round: `start` before, `stop` after.

    Made for `benchmark.pedantic(setup=cpu.start, teardown=cpu.stop)`: both run outside the
    timed call, and warm-up rounds are recorded too (`measured` keeps the last ones).
    `unavailable` says why nothing is recorded (no way to read the process's CPU clock).
    """

    pid: int
    cores: Cores | None = None
    rounds_ns: list[int] = field(default_factory=list, init=False)
    unavailable: str | None = field(default=None, init=False)
    _before: int | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        try:
            process_cpu_ns(self.pid)
        except OSError as err:
            self.unavailable = f"cannot read the server process's CPU clock ({err})"

    def _settled_ns(self) -> int:
        deadline = time.monotonic() + _IDLE_TIMEOUT_S
        while not server_idle(self.pid) and time.monotonic() < deadline:
            time.sleep(_IDLE_POLL_S)
        return process_cpu_ns(self.pid)

    def start(self) -> None:
        """Read the server's CPU time before a round (pedantic's `setup`)."""
        if self.unavailable is None:
            self._before = self._settled_ns()

    def stop(self, *_args: object, **_kwargs: object) -> None:
        """Read it after the round and record the difference (pedantic's `teardown`)."""
        if self.unavailable is None and self._before is not None:
            self.rounds_ns.append(self._settled_ns() - self._before)
            self._before = None

    def measured(self, rounds: int) -> list[int]:
        """The CPU time of the last `rounds` rounds (the timed ones, after the warm-up)."""
        return self.rounds_ns[-rounds:] if rounds > 0 else []

    def extra_info(self, rounds: int, events: int | Sequence[int]) -> dict[str, object]:
        """The figures to publish for the last `rounds` rounds, which held `events` events.

        `events`: the count of every round, or one count per round. Only the pinning and
        why when nothing was measured (no CPU clock; --benchmark-disable times no round).
        """
        info: dict[str, object] = {"pinning": pinning_label(self.cores)}
        cpu_ns = self.measured(rounds)
        if self.unavailable is not None or not cpu_ns or len(cpu_ns) < rounds:
            info["server_cpu"] = self.unavailable or "not measured (no timed rounds)"
            return info
        per_round = [events] * len(cpu_ns) if isinstance(events, int) else list(events)
        if len(per_round) != len(cpu_ns):
            raise ValueError(f"{len(per_round)} event counts for {len(cpu_ns)} rounds")
        info[CPU_ROUNDS_KEY] = [ns / 1e9 for ns in cpu_ns]
        info["server_cpu_median_s"] = statistics.median(cpu_ns) / 1e9
        info["server_cpu_per_event_ns"] = statistics.median(
            ns / max(count, 1) for ns, count in zip(cpu_ns, per_round, strict=True)
        )
        return info


def time_server_rounds(
    benchmark: BenchmarkFixture,
    one_round: Callable[[], object],
    rounds: int,
    cpu: ServerCpu,
    *,
    warmup: int = 1,
) -> None:
    """Time `rounds` calls of `one_round` after `warmup` untimed ones, reading `cpu` around each.

    One round is one call (`iterations=1`): a round is a whole HTTP exchange, and repeating
    it inside a round would only hide its spread. The client is pinned for the whole time.
    """
    with pinned_client(cpu.cores):
        # pytest-benchmark's pedantic() is unannotated.
        benchmark.pedantic(  # type: ignore[no-untyped-call]
            one_round,
            setup=cpu.start,
            teardown=cpu.stop,
            rounds=rounds,
            warmup_rounds=warmup,
            iterations=1,
        )
