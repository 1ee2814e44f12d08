"""Real HTTP servers on loopback for tests and benchmarks.

- `running_server(app)`: the ASGI app under uvicorn in a background thread of this process
  (breakpoints and in-process flags work; the app shares this process's CPU and GIL).
- `running_server_process(target, factory=False)`: `python -m uvicorn target` in a child
  process (what benchmarks want: the client does not compete with the server for the GIL).
- `running_command(args, port)`: any `python <args>` child that listens on `port`
  (e.g. `["-m", "agui_perf", "serve", "--port", str(port)]`).
- `server_process(target)` and `command_process(args, port)`: the same two, yielding a
  `ServerProcess` (URL and pid), for a caller that pins the child or reads its CPU time.

Each yields the base URL (`http://127.0.0.1:<port>`) once the server accepts connections,
and stops the server on exit: uvicorn's graceful shutdown first, then force.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final

import uvicorn

import agui_perf

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from starlette.types import ASGIApp

__all__ = [
    "HOST",
    "ServerProcess",
    "free_port",
    "running_command",
    "running_server",
    "running_server_process",
    "server_process",
    "subprocess_env",
]

HOST: Final = "127.0.0.1"
#: Generous: a loaded CI machine can take a while to import and bind.
STARTUP_TIMEOUT: Final = 60.0
_STOP_TIMEOUT: Final = 30.0
_POLL_S: Final = 0.02

#: Roots a child process needs on sys.path: the package (installed or not) and this repo,
#: so `tests.benchmarks.reference_server` is importable too.
_PATHS: Final = (
    str(Path(agui_perf.__file__).absolute().parents[1]),
    str(Path(__file__).resolve().parents[2]),
)


def free_port() -> int:
    """A TCP port that was free a moment ago (for children that must be told a port number)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def subprocess_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment plus PYTHONPATH for the package and the repo, plus `extra`."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*_PATHS, *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONUNBUFFERED"] = "1"
    if extra:
        env.update(extra)
    return env


@contextlib.contextmanager
def running_server(app: ASGIApp) -> Iterator[str]:
    """Serve `app` with uvicorn in a background thread on a free loopback port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((HOST, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=5
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{port}", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"uvicorn on port {port} exited during startup")
            if time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn on port {port} not started after {STARTUP_TIMEOUT}s")
            time.sleep(_POLL_S)
        yield f"http://{HOST}:{port}"
    finally:
        server.should_exit = True
        thread.join(_STOP_TIMEOUT)
        if thread.is_alive():
            server.force_exit = True
            thread.join(_STOP_TIMEOUT)
        sock.close()


@dataclass(frozen=True, slots=True)
class ServerProcess:
    """A server child process: its base URL and its process id."""

    url: str
    pid: int


@contextlib.contextmanager
def running_command(
    args: Sequence[str], port: int, *, env: Mapping[str, str] | None = None
) -> Iterator[str]:
    """Run `python <args>` (a server listening on `port`) until the block exits."""
    with command_process(args, port, env=env) as server:
        yield server.url


@contextlib.contextmanager
def command_process(
    args: Sequence[str], port: int, *, env: Mapping[str, str] | None = None
) -> Iterator[ServerProcess]:
    """`running_command`, yielding the child's URL and pid."""
    with tempfile.TemporaryFile() as output:
        proc = subprocess.Popen(
            [sys.executable, *args],
            env=subprocess_env(env),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_listening(proc, port, output)
            yield ServerProcess(f"http://{HOST}:{port}", proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(_STOP_TIMEOUT)


@contextlib.contextmanager
def running_server_process(
    target: str, *, factory: bool = False, env: Mapping[str, str] | None = None
) -> Iterator[str]:
    """Serve the import string `target` (`module:attr`) with uvicorn in a child process."""
    with server_process(target, factory=factory, env=env) as server:
        yield server.url


@contextlib.contextmanager
def server_process(
    target: str, *, factory: bool = False, env: Mapping[str, str] | None = None
) -> Iterator[ServerProcess]:
    """`running_server_process`, yielding the child's URL and pid."""
    port = free_port()
    args = ["-m", "uvicorn", target, "--host", HOST, "--port", str(port)]
    args += ["--log-level", "warning", "--no-access-log", "--lifespan", "off"]
    if factory:
        args.append("--factory")
    with command_process(args, port, env=env) as server:
        yield server


def _wait_until_listening(proc: subprocess.Popen[bytes], port: int, output: IO[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if proc.poll() is not None:
            output.seek(0)
            log = output.read().decode(errors="replace")
            raise RuntimeError(f"server exited with {proc.returncode} before listening:\n{log}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing listening on {HOST}:{port} after {STARTUP_TIMEOUT}s")
        time.sleep(_POLL_S)
