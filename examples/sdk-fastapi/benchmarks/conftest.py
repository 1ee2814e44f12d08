"""The app under uvicorn in a child process on loopback, for the benchmarks.

A child process so that the HTTP client (this process) and the server do not share one GIL.
The child imports `app` from this tree's own `src/` (first on its PYTHONPATH): the gate runs
this file once from the working tree and once from the accepted commit's worktree, and each
must serve its own code.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Final

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

HOST: Final = "127.0.0.1"
SRC: Final = Path(__file__).resolve().parents[1] / "src"
#: Generous: a loaded machine can take seconds to import FastAPI and bind.
STARTUP_TIMEOUT_S: Final = 60.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1.0):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def server() -> Iterator[str]:
    """The base URL of the app, served by `uvicorn app:app` in a child process."""
    port = _free_port()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    child = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app:app", "--host", HOST, "--port", str(port)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not _accepts(port):
            if child.poll() is not None:
                error = child.stderr.read().decode(errors="replace") if child.stderr else ""
                pytest.fail(f"uvicorn exited with {child.returncode}: {error[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"uvicorn did not listen on {HOST}:{port} within {STARTUP_TIMEOUT_S} s")
            time.sleep(0.05)
        yield f"http://{HOST}:{port}"
    finally:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
