"""The driver of `nox -s load`: serve, run Locust, stop everything, judge the budgets.

`python -m tests.load.run [options]` from the project root (`nox -s load -- [options]`):

1. reads the budgets first, so a broken pyproject stops it before anything starts;
2. starts `agui-perf serve --workers N` on a free 127.0.0.1 port, waits (bounded) for /healthz;
3. runs Locust headless for `--duration` s with `--users` users; `--workers N` runs Locust
   distributed on this machine, one master and N workers (the master/worker flags for several
   machines are in the docstring of `tests/load/locustfile.py`); a hard timeout bounds it;
4. stops every process it started, also on failure and Ctrl-C;
5. writes Locust's HTML and CSV reports, the verdict (`verdict.md`, `verdict.json`) and the
   latency chart (`latency.svg`) to `.perf/load/` and prints the verdict.

Exit code: 0 every budget met, 1 a budget breached, 2 unusable input or a usage error (one line
on stderr). It does not import Locust (that runs in subprocesses), so `nox -s tests` can test the
option parser.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import math
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, NoReturn

import orjson

from agui_perf.gate.errors import GateError
from agui_perf.gate.load import check_load, load_budgets, read_locust_stats, write_verdict
from agui_perf.stream.workflows import WorkflowParams

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

__all__ = ["LoadOptions", "locust_commands", "main", "parse_load_args", "run_load"]

HOST: Final = "127.0.0.1"
LOCUSTFILE: Final = "tests/load/locustfile.py"
CSV_PREFIX: Final = "locust"
USER_CLASSES: Final = ("AccountAnalysisUser", "BurstTrafficUser")
DEFAULT_PARAMS: Final = '{"token_delay": 0.02}'

MAX_USERS: Final = 5_000
MAX_DURATION_S: Final = 600
MAX_WORKERS: Final = 16
HEALTH_TIMEOUT_S: Final = 30.0
#: Seconds Locust may take beyond --duration: start-up, worker hand-shake, writing reports.
LOCUST_GRACE_S: Final = 90.0
STOP_TIMEOUT_S: Final = 10.0


@dataclass(frozen=True)
class LoadOptions:
    users: int = 50
    spawn_rate: float = 25.0
    duration: int = 30
    workers: int = 0  # Locust workers; 0 = one local Locust process
    server_workers: int = 1
    user_classes: tuple[str, ...] = USER_CLASSES
    workflow: str = "account_analysis"
    params: str = DEFAULT_PARAMS
    think: tuple[float, float] = (1.0, 3.0)
    out_dir: Path = Path(".perf/load")
    pyproject: Path = Path("pyproject.toml")
    steady_state: bool = False  # Locust's --reset-stats: judge only after spawning completes
    check_only: bool = False


# --- options --------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse would print the usage and the error on two lines; the gate promises one.
        raise GateError(f"nox -s load: {message} — see nox -s load -- --help")


def _bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low}..{high}")
        return value

    return parse


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and 0 < value <= 10_000):
        raise argparse.ArgumentTypeError(f"{text!r} must be a number in (0, 10000]")
    return value


def _think(text: str) -> tuple[float, float]:
    low_text, _, high_text = text.partition(",")
    try:
        low, high = float(low_text), float(high_text or low_text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not MIN,MAX in seconds") from None
    if not (math.isfinite(low) and math.isfinite(high) and 0 <= low <= high <= 600):
        raise argparse.ArgumentTypeError(f"{text!r} needs 0 <= MIN <= MAX <= 600")
    return low, high


def _params(text: str) -> str:
    try:
        params = orjson.loads(text)
    except orjson.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not JSON ({err})") from None
    if not isinstance(params, dict):
        raise argparse.ArgumentTypeError(f"{text!r} is not a JSON object")
    if "stamp" in params:
        raise argparse.ArgumentTypeError("'stamp' is set by the load test itself")
    try:
        # The server would reject the same params on every run; say so before starting it.
        WorkflowParams.from_mapping(params)
    except (ValueError, TypeError) as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="nox -s load --",
        description="Load-test a local agui-perf server with Locust and check the load budgets.",
    )
    add = parser.add_argument
    add("--users", type=_bounded_int(1, MAX_USERS), default=50, help="peak users (default 50)")
    add("--spawn-rate", type=_positive_float, default=25.0, help="users started per second")
    add("--duration", type=_bounded_int(1, MAX_DURATION_S), default=30, help="seconds (30)")
    add("--workers", type=_bounded_int(0, MAX_WORKERS), default=0, help="Locust workers (0)")
    add("--server-workers", type=_bounded_int(1, MAX_WORKERS), default=1, help="server's (1)")
    add(
        "--user-class",
        dest="user_classes",
        action="append",
        choices=USER_CLASSES,
        help="user class to run (repeatable; default: both)",
    )
    add(
        "--workflow",
        choices=("account_analysis", "paced"),
        default="account_analysis",
        help="AccountAnalysisUser's workflow",
    )
    add("--params", type=_params, default=DEFAULT_PARAMS, help="its JSON workflow params")
    add("--think", type=_think, default=(1.0, 3.0), help="its think time MIN,MAX seconds")
    add("--out", dest="out_dir", type=Path, default=Path(".perf/load"), help="report directory")
    add("--pyproject", type=Path, default=Path("pyproject.toml"), help="where the budgets are")
    add(
        "--steady-state",
        action="store_true",
        help="reset the stats once every user has started (judge the plateau, not the ramp)",
    )
    add("--check-only", action="store_true", help="only judge the CSV of the last run")
    return parser


def parse_load_args(argv: Sequence[str]) -> LoadOptions:
    """Options from `nox -s load -- …`; any mistake is one GateError line (exit 2)."""
    args = _build_parser().parse_args(list(argv))
    options = vars(args)
    options["user_classes"] = tuple(dict.fromkeys(args.user_classes or USER_CLASSES))
    return LoadOptions(**options)


def locust_commands(options: LoadOptions, port: int, master_port: int) -> list[list[str]]:
    """The Locust command (the master's, in distributed mode) first, then one per worker."""
    locust = [sys.executable, "-m", "locust", "-f", LOCUSTFILE]
    out, (low, high) = options.out_dir, options.think
    head = [
        *locust,
        *("--headless", "--only-summary", "--host", f"http://{HOST}:{port}"),
        *("--users", str(options.users), "--spawn-rate", str(options.spawn_rate)),
        *("--run-time", f"{options.duration}s"),
        *("--csv", str(out / CSV_PREFIX), "--html", str(out / "report.html")),
        # Every row's stats each second, so a latency spike can be placed in time (spawning?).
        "--csv-full-history",
        # The verdict judges failures against error_rate_max; Locust would exit 1 on any one.
        *("--exit-code-on-error", "0"),
        *("--agui-workflow", options.workflow, "--agui-params", options.params),
        *("--agui-think-min", str(low), "--agui-think-max", str(high)),
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


class _Interrupted(BaseException):
    """SIGTERM, which nox sends its command shortly after Ctrl-C: unwind so cleanup runs."""


def _raise_interrupted(_signum: int, _frame: object) -> None:
    raise _Interrupted


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

    def start(self, command: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as handle:  # the child keeps its own descriptor
            proc = subprocess.Popen(
                command, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
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


def _serve_and_load(options: LoadOptions) -> None:
    out = options.out_dir
    port, master_port = _free_port(), _free_port()
    server_log, locust_log = out / "server.log", out / "locust.log"
    serve = [sys.executable, "-m", "agui_perf", "serve", "--host", HOST, "--port", str(port)]
    with _sigterm_unwinds(), _Processes() as processes:
        server = processes.start([*serve, "--workers", str(options.server_workers)], server_log)
        _wait_healthy(server, port, server_log)
        master, *workers = locust_commands(options, port, master_port)
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
        if server.poll() is not None:
            raise GateError(
                f"the server died during the run (exit code {server.returncode}) — see {server_log}"
            )
    if code != 0:
        raise GateError(f"Locust exited with code {code} — see {locust_log}")


def _clear(out: Path) -> None:
    """Remove the last run's reports, so that a run that fails early is never judged on them."""
    out.mkdir(parents=True, exist_ok=True)
    for path in out.iterdir():
        if path.is_file() and (
            path.name.startswith(CSV_PREFIX)
            or path.name
            in {"report.html", "server.log", "verdict.md", "verdict.json", "latency.svg"}
        ):
            path.unlink()


def _context(options: LoadOptions) -> dict[str, object]:
    return {
        "users": options.users,
        "spawn rate (users/s)": options.spawn_rate,
        "duration (s)": options.duration,
        "Locust workers": options.workers or "none (one local process)",
        "server workers": options.server_workers,
        "user classes": ", ".join(options.user_classes),
        "AccountAnalysisUser workflow": f"{options.workflow} {options.params}",
        "think time (s)": f"{options.think[0]:g} to {options.think[1]:g}",
        "stats": "after spawning completed" if options.steady_state else "whole run, ramp included",
    }


def run_load(options: LoadOptions) -> int:
    """The whole session; returns the exit code (a GateError means exit 2)."""
    budgets = load_budgets(options.pyproject)
    context: dict[str, object] = {}
    if not options.check_only:
        _clear(options.out_dir)
        _serve_and_load(options)
        context = _context(options)
    verdict = check_load(read_locust_stats(options.out_dir / CSV_PREFIX), budgets, context)
    print(write_verdict(verdict, options.out_dir), end="")
    print(
        f"reports: {options.out_dir}/ (report.html, {CSV_PREFIX}_stats.csv, verdict.md, "
        "latency.svg)"
    )
    return verdict.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return run_load(parse_load_args(sys.argv[1:] if argv is None else argv))
    except GateError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, _Interrupted):
        print("error: interrupted — every process this run started was stopped", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
