"""One load run: start the target, run Locust, stop everything, judge the budgets.

`run_load(options)` (what `agui-perf load` calls):

1. reads the budgets first, so a broken pyproject stops it before anything starts;
2. starts the target: our core with `agui-perf serve --workers N` on a free 127.0.0.1 port
   (so its keep-alive and timeouts are the ones it ships with), waiting (bounded) for
   /healthz, each worker measuring its own collector pauses and loop lag
   (`agui_perf.stream.stalls`: the verdict's "server stalls" line); another `module:attr`
   with the service suite (`agui_perf.suite.target`, one
   uvicorn process on loopback); a URL is probed and used as it is;
3. runs Locust headless for `--duration` s with `--users` users; `--workers N` runs Locust
   distributed on this machine, one master and N workers (the flags for several machines
   are in the docstring of `agui_perf.load.locustfile`); a hard timeout bounds it;
4. stops every process it started, also on failure and Ctrl-C;
5. writes Locust's HTML and CSV reports, the verdict (`verdict.md`, `verdict.json`) and the
   latency chart (`latency.svg`) to `--out` and prints the verdict.

Exit code: 0 every budget met, 1 a budget breached; unusable input is a GateError (exit 2).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from agui_perf.gate.errors import GateError
from agui_perf.load import LOCUSTFILE
from agui_perf.load.verdict import check_load, load_budgets, read_locust_stats, write_verdict
from agui_perf.stream.stalls import STALLS_DIR_ENV, Stalls, read_stalls
from agui_perf.suite.target import HOST, TargetError, started

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from pathlib import Path

    from agui_perf.load.cli import LoadOptions

__all__ = ["CSV_PREFIX", "Interrupted", "locust_commands", "run_load"]

CSV_PREFIX: Final = "locust"
HEALTH_TIMEOUT_S: Final = 30.0
#: Seconds Locust may take beyond --duration: start-up, worker hand-shake, writing reports.
LOCUST_GRACE_S: Final = 90.0
STOP_TIMEOUT_S: Final = 10.0
#: Below the report folder: where our core's workers write what they measured of their stalls.
STALLS_DIR: Final = "server-stalls"


def locust_commands(
    options: LoadOptions, url: str, master_port: int, run_budgets: Mapping[str, float]
) -> list[list[str]]:
    """The Locust command (the master's, in distributed mode) first, then one per worker."""
    locust = [sys.executable, "-m", "locust", "-f", LOCUSTFILE]
    out, (low, high) = options.out_dir, options.think
    body = "" if options.input_body is None else json.dumps(options.input_body)
    head = [
        *locust,
        *("--headless", "--only-summary", "--host", url),
        *("--users", str(options.users), "--spawn-rate", str(options.spawn_rate)),
        *("--run-time", f"{options.duration}s"),
        *("--csv", str(out / CSV_PREFIX), "--html", str(out / "report.html")),
        # Every row's stats each second, so a latency spike can be placed in time (spawning?).
        "--csv-full-history",
        # The verdict judges failures against error_rate_max; Locust would exit 1 on any one.
        *("--exit-code-on-error", "0"),
        *("--agui-workflow", options.workflow, "--agui-params", options.params),
        *("--agui-think-min", str(low), "--agui-think-max", str(high)),
        *("--agui-path", options.path, "--agui-input", body),
        *("--agui-run-budgets", json.dumps(dict(run_budgets))),
    ]
    # Locust wants --reset-stats on the master and on every worker.
    reset = ["--reset-stats"] if options.steady_state else []
    if not options.workers:
        return [[*head, *reset, *options.user_classes]]
    master = [
        *head,
        *("--master", "--master-bind-host", HOST, "--master-bind-port", str(master_port)),
        *("--expect-workers", str(options.workers), "--expect-workers-max-wait", "30"),
        *reset,
        *options.user_classes,
    ]
    worker = [*locust, "--worker", "--master-host", HOST, "--master-port", str(master_port), *reset]
    return [master] + [worker] * options.workers


# --- processes ------------------------------------------------------------------------------


class Interrupted(BaseException):
    """SIGTERM, which nox sends its command shortly after Ctrl-C: unwind so cleanup runs."""


def _raise_interrupted(_signum: int, _frame: object) -> None:
    raise Interrupted


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    previous = signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Processes:
    """Starts processes in process groups of their own and stops all of them on exit.

    A group per process, because `agui-perf serve --workers N` and Locust fork children that
    must stop with their parent. Stopping signals every group first (quick, so that a second
    Ctrl-C cannot leave one running), then waits, then kills what is left.
    """

    def __init__(self) -> None:
        self._started: list[subprocess.Popen[bytes]] = []

    def start(
        self, command: Sequence[str], log: Path, env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        with log.open("wb") as handle:  # the child keeps its own descriptor
            proc = subprocess.Popen(
                command,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=None if env is None else {**os.environ, **env},
            )
        self._started.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self._started:
            if proc.poll() is None:
                _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for proc in self._started:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait(timeout=STOP_TIMEOUT_S)

    def __enter__(self) -> _Processes:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    # The group id is the child's pid (start_new_session), so this reaches only our processes.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _healthy(port: int) -> bool:
    connection = http.client.HTTPConnection(HOST, port, timeout=1.0)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def _wait_healthy(server: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise GateError(
                f"the server exited with code {server.returncode} before /healthz answered "
                f"— see {log}"
            )
        if _healthy(port):
            return
        time.sleep(0.1)
    raise GateError(f"the server did not answer /healthz in {HEALTH_TIMEOUT_S:.0f} s — see {log}")


#: A started target: its base URL, and a check that raises if it died (a no-op where we
#: cannot tell: a server we did not start).
Served = tuple[str, Callable[[], None]]


@contextlib.contextmanager
def _our_core(options: LoadOptions) -> Iterator[Served]:
    """`agui-perf serve` on a free loopback port: our core as it ships (keep-alive, workers)."""
    port = _free_port()
    log = options.out_dir / "server.log"
    serve = [sys.executable, "-m", "agui_perf", "serve", "--host", HOST, "--port", str(port)]
    stalls = options.out_dir / STALLS_DIR
    stalls.mkdir(exist_ok=True)
    with _Processes() as processes:
        server = processes.start(
            [*serve, "--workers", str(options.server_workers)],
            log,
            # Each worker measures its collector pauses and loop lag (`stream.stalls`).
            env={STALLS_DIR_ENV: str(stalls)},
        )
        _wait_healthy(server, port, log)

        def alive() -> None:
            if server.poll() is not None:
                raise GateError(
                    f"the server died during the run (exit code {server.returncode}) — see {log}"
                )

        yield f"http://{HOST}:{port}", alive


@contextlib.contextmanager
def _target(options: LoadOptions) -> Iterator[Served]:
    if options.serves_our_core:
        with _our_core(options) as served:
            yield served
        return
    with contextlib.ExitStack() as stack:
        try:
            target = stack.enter_context(started(options.target))
        except TargetError as err:
            raise GateError(str(err)) from None
        yield target.url, lambda: None


@dataclass(frozen=True)
class CpuUse:
    """CPU seconds the run's processes used, read from the kernel as each group was reaped."""

    load_generator: float  # Locust's master and workers
    server: float | None  # None: a server this run did not start
    wall: float  # seconds from the first start to the last stop
    cores: int

    def line(self) -> str:
        available = self.wall * self.cores

        def share(seconds: float) -> str:
            return (
                f"{seconds:.1f} s ({seconds / available:.0%})"
                if available > 0
                else f"{seconds:.1f} s"
            )

        server = "not ours" if self.server is None else share(self.server)
        return (
            f"load generator {share(self.load_generator)}, server {server}, of "
            f"{available:.0f} s ({self.cores} cores × {self.wall:.0f} s)"
        )


def _children_cpu() -> float:
    # Every child reaped so far, and the children they reaped (Locust's and uvicorn's workers).
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _serve_and_load(options: LoadOptions, run_budgets: Mapping[str, float]) -> CpuUse:
    out = options.out_dir
    locust_log = out / "locust.log"
    started, before = time.monotonic(), _children_cpu()
    with _sigterm_unwinds(), _target(options) as (url, alive):
        with _Processes() as processes:
            master, *workers = locust_commands(options, url, _free_port(), run_budgets)
            locust = processes.start(master, locust_log)
            for index, command in enumerate(workers, start=1):
                processes.start(command, out / f"locust-worker-{index}.log")
            limit = options.duration + LOCUST_GRACE_S
            try:
                code = locust.wait(timeout=limit)
            except subprocess.TimeoutExpired:
                raise GateError(
                    f"Locust did not stop within {limit:.0f} s — see {locust_log}"
                ) from None
            alive()
        # Locust's processes are reaped (the server is not yet): what they used is theirs.
        generator = _children_cpu()
    if code != 0:
        raise GateError(f"Locust exited with code {code} — see {locust_log}")
    server = _children_cpu() - generator
    return CpuUse(
        load_generator=generator - before,
        server=server if options.target.kind != "url" else None,
        wall=time.monotonic() - started,
        cores=os.cpu_count() or 1,
    )


def _clear(out: Path) -> None:
    """Remove the last run's reports, so that a run that fails early is never judged on them."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out / STALLS_DIR, ignore_errors=True)
    for path in out.iterdir():
        if path.is_file() and (
            path.name.startswith(CSV_PREFIX)
            or path.name
            in {"report.html", "server.log", "verdict.md", "verdict.json", "latency.svg"}
        ):
            path.unlink()


def _context(options: LoadOptions) -> dict[str, object]:
    workflow = (
        f"{options.workflow} {options.params}"
        if options.input_body is None
        else "the --input RunAgentInput"
    )
    return {
        "target": options.target.value,
        "endpoint": options.path,
        "users": options.users,
        "spawn rate (users/s)": options.spawn_rate,
        "duration (s)": options.duration,
        "Locust workers": options.workers or "none (one local process)",
        "server workers": options.server_workers if options.serves_our_core else "not ours",
        "user classes": ", ".join(options.user_classes),
        "AccountAnalysisUser workflow": workflow,
        "think time (s)": f"{options.think[0]:g} to {options.think[1]:g}",
        "stats": "after spawning completed" if options.steady_state else "whole run, ramp included",
    }


def stalls_line(found: Sequence[Stalls]) -> str:
    """What the server's processes measured of their own stalls, in one line (worst worker)."""
    if not found:
        return "not measured (no worker wrote its figures)"
    lag = max(found, key=lambda s: s.lag_max)
    pause = max(found, key=lambda s: s.gc_wall_max)
    young, middle, full = (sum(s.collections[g] for s in found) for g in range(3))
    workers = f"{len(found)} worker{'' if len(found) == 1 else 's'}"
    collection = (
        f"longest collection {pause.gc_wall_max * 1e3:.1f} ms wall "
        f"({max(s.gc_cpu_max for s in found) * 1e3:.1f} ms CPU, generation "
        f"{pause.gc_max_generation})"
        if pause.gc_max_generation >= 0
        else "no collection"
    )
    return (
        f"event loop late by at most {lag.lag_max * 1e3:.1f} ms "
        f"(p99 {max(s.lag_p99 for s in found) * 1e3:.1f} ms) · "
        f"{collection} · collections {young}/{middle}/{full} (young/middle/full) · {workers}"
    )


def run_load(options: LoadOptions) -> int:
    """The whole run; returns the exit code (a GateError means exit 2)."""
    budgets = load_budgets(options.pyproject)
    context: dict[str, object] = {}
    if not options.check_only:
        _clear(options.out_dir)
        cpu = _serve_and_load(options, budgets.per_run)
        context = _context(options)
        context["CPU used"] = cpu.line()
        if options.serves_our_core:
            context["server stalls"] = stalls_line(read_stalls(options.out_dir / STALLS_DIR))
    verdict = check_load(read_locust_stats(options.out_dir / CSV_PREFIX), budgets, context)
    print(write_verdict(verdict, options.out_dir), end="")
    print(
        f"reports: {options.out_dir}/ (report.html, {CSV_PREFIX}_stats.csv, verdict.md, "
        "verdict.json, latency.svg)"
    )
    return verdict.exit_code
