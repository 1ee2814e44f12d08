"""What the suite measures: an app started here (`module:attr`) or a server's URL.

`parse_target` checks the text alone (no import, nothing started) and raises `TargetError`
with one line that says what is wrong and what to write instead. `started` serves an app
target with uvicorn in a child process of its own (its own process group, so a failure can
kill everything it started) on a free port of 127.0.0.1, waits until it accepts connections
and stops it on exit; a URL target is used as it is.

The child binds port 0 itself and says which port it got once uvicorn has started, so there
is no window in which another process can take a port picked in advance.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Final, Literal
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

__all__ = [
    "DEFAULT_TARGET",
    "HOST",
    "READY_PREFIX",
    "StartedTarget",
    "Target",
    "TargetError",
    "parse_target",
    "started",
]

#: Our core: `create_app` is a factory, called once in the child.
DEFAULT_TARGET: Final = "agui_perf.stream.app:create_app"
HOST: Final = "127.0.0.1"
#: The line the child writes on its ready pipe once uvicorn has started: `READY_PREFIX <port>`.
READY_PREFIX: Final = "agui-suite-ready"
#: Generous: a loaded CI machine can take a while to import an app and bind.
STARTUP_TIMEOUT_S: Final = 60.0
_STOP_TIMEOUT_S: Final = 15.0
_IDENTIFIER: Final = re.compile(r"[A-Za-z_]\w*")
_USAGE: Final = "use module:attr (an ASGI app or a zero-argument factory) or http://host:port"


class TargetError(ValueError):
    """A target that cannot be used: the message is one line naming the problem and the fix."""


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed target: an import string to serve (`kind="app"`) or a base URL (`"url"`)."""

    kind: Literal["app", "url"]
    #: `module:attr` for an app; the URL without a trailing slash for a server.
    value: str


@dataclass(frozen=True, slots=True)
class StartedTarget:
    """A target that accepts connections: its base URL and, for a started app, its pid.

    `pid` is the uvicorn child's process id (None for a URL target, which runs elsewhere): the
    hook for reading the server's CPU time or pinning it to a core.
    """

    target: Target
    url: str
    pid: int | None

    @property
    def host(self) -> str:
        host = urlsplit(self.url).hostname
        assert host is not None  # parse_target refused a URL without one
        return host

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (443 if parts.scheme == "https" else 80)


def parse_target(text: str) -> Target:
    """`module:attr` or `http(s)://host[:port]`; anything else raises TargetError."""
    text = text.strip()
    if not text:
        raise TargetError(f"the target is empty; {_USAGE}")
    if "://" in text:
        return Target("url", _check_url(text))
    module, colon, attr = text.partition(":")
    if not colon:
        raise TargetError(f"target {text!r} has no ':' between module and attribute; {_USAGE}")
    bad_module = [part for part in module.split(".") if not _IDENTIFIER.fullmatch(part)]
    if not module or bad_module:
        raise TargetError(f"target {text!r}: {module!r} is not a module name; {_USAGE}")
    if not attr or not all(_IDENTIFIER.fullmatch(part) for part in attr.split(".")):
        raise TargetError(f"target {text!r}: {attr!r} is not an attribute name; {_USAGE}")
    return Target("app", text)


def _check_url(text: str) -> str:
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise TargetError(f"target URL {text!r} is not valid ({exc}); {_USAGE}") from None
    if parts.scheme != "http":
        # The client speaks plain HTTP/1.1 over a socket: TLS would be a second thing timed.
        raise TargetError(
            f"target URL {text!r} has scheme {parts.scheme!r}; only http:// is supported "
            "(measure the server itself, not through TLS)"
        )
    if not parts.hostname:
        raise TargetError(f"target URL {text!r} has no host; e.g. http://127.0.0.1:8000")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise TargetError(
            f"target URL {text!r} has a path or query; give the server's base URL and the "
            "endpoint with --agui-path (or path= in the marker)"
        )
    del port  # read only so that a bad port fails here
    return f"http://{parts.netloc}"


@contextlib.contextmanager
def started(
    target: Target,
    *,
    env: Mapping[str, str] | None = None,
    startup_timeout: float = STARTUP_TIMEOUT_S,
    lifespan: Literal["auto", "on", "off"] = "auto",
) -> Iterator[StartedTarget]:
    """The target accepting connections until the block exits.

    An app is served by `python -m agui_perf.suite._serve` with this process's sys.path (so
    that whatever the tests import, the child imports too) plus `env`, and uvicorn's
    `lifespan` setting (`off` serves an app exactly as `uvicorn --lifespan off` does). A child
    that exits or stays silent during start-up raises TargetError quoting the last line it wrote.
    """
    if target.kind == "url":
        _probe(target)
        yield StartedTarget(target, target.value, None)
        return
    # The child says "ready" on a pipe of its own: its stdout and stderr go to a file, so
    # an app that prints can never fill a pipe nobody reads and stall.
    ready_read, ready_write = os.pipe()
    with tempfile.TemporaryFile() as log, os.fdopen(ready_read, "rb", buffering=0) as ready:
        try:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "agui_perf.suite._serve",
                    target.value,
                    HOST,
                    str(ready_write),
                    lifespan,
                ],
                env=_child_env(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(ready_write,),
                # A process group of its own: stopping it stops whatever the app started, and
                # a Ctrl-C in the terminal does not reach it before this process decides.
                start_new_session=True,
            )
        finally:
            os.close(ready_write)  # the child holds its copy: EOF here means it is gone
        try:
            port = _wait_ready(proc, ready, log, target, startup_timeout)
            _wait_accepting(port, startup_timeout)
            yield StartedTarget(target, f"http://{HOST}:{port}", proc.pid)
        finally:
            _stop(proc)


def _child_env(extra: Mapping[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    paths = [os.getcwd(), *(p for p in sys.path if p)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env["PYTHONUNBUFFERED"] = "1"
    if extra:
        env.update(extra)
    return env


def _wait_ready(
    proc: subprocess.Popen[bytes], ready: IO[bytes], log: IO[bytes], target: Target, timeout: float
) -> int:
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TargetError(
                f"target {target.value!r} did not start within {timeout:g}s{_last_words(log)}"
            )
        readable, _, _ = select.select([ready], [], [], min(left, 0.5))
        if readable:
            chunk = ready.read(256)
            if not chunk:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(_STOP_TIMEOUT_S)
                status = "?" if proc.returncode is None else proc.returncode
                raise TargetError(
                    f"target {target.value!r} exited with status {status} during "
                    f"start-up{_last_words(log)}"
                )
            line += chunk
    prefix, _, port = line.decode(errors="replace").strip().partition(" ")
    if prefix != READY_PREFIX or not port.isdigit():
        raise TargetError(f"target {target.value!r}: unexpected start-up line {line[:80]!r}")
    return int(port)


def _wait_accepting(port: int, timeout: float) -> None:
    """uvicorn has started; still, the first run must not be the one that finds out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TargetError(f"nothing accepts on {HOST}:{port} after {timeout:g}s") from None
            time.sleep(0.02)


def _probe(target: Target) -> None:
    """A URL target must already accept connections: say so at once rather than per run."""
    parts = urlsplit(target.value)
    try:
        with socket.create_connection((parts.hostname, parts.port or 80), timeout=5):
            return
    except OSError as exc:
        raise TargetError(
            f"nothing accepts connections at {target.value} ({exc.strerror or exc}); start "
            "the server first, or give module:attr to have it started"
        ) from None


def _last_words(log: IO[bytes]) -> str:
    """`: <the child's last stderr line>`, or nothing if it wrote none."""
    log.seek(0)
    lines = [line.strip() for line in log.read().decode(errors="replace").splitlines()]
    lines = [line for line in lines if line]
    return f": {lines[-1][:300]}" if lines else ""


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (uvicorn's graceful shutdown), then SIGKILL to the whole process group."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(_STOP_TIMEOUT_S)
    # Whatever is left of the group (the child itself after a timeout, or processes the
    # app started) goes too; the group id is the child's pid (start_new_session).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
