"""A timed HTTP/1.1 client: POST a RunAgentInput, record when each piece of the body arrived.

The client must not be what is measured, so a read does as little as it can: `recv`, take
`time.monotonic_ns()`, hand the bytes to h11 (which only splits off the HTTP framing), keep
the body bytes with that time. SSE and JSON are read afterwards (`frames`, `figures`).

Every exchange is one connection (`Connection: close`) driven by a selector, so `exchange`
(one stream) and `exchanges` (many at once, `concurrency`) are the same code, and many
streams never need a thread each. A failed exchange never raises: what went wrong is in
`Exchange.error`, so that one broken stream is counted rather than losing the others.
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import time
from dataclasses import dataclass, field
from time import monotonic_ns
from typing import TYPE_CHECKING, Final

import h11

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["Exchange", "Request", "exchange", "exchanges"]

_READ_SIZE: Final = 65536


@dataclass(frozen=True, slots=True)
class Request:
    """A POST of `body` (JSON) to `path` on `host:port`."""

    host: str
    port: int
    path: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()

    def h11_request(self) -> h11.Request:
        headers = [
            ("Host", f"{self.host}:{self.port}"),
            ("Content-Type", "application/json"),
            ("Accept", "text/event-stream"),
            ("Content-Length", str(len(self.body))),
            ("Connection", "close"),
            *self.headers,
        ]
        return h11.Request(method="POST", target=self.path, headers=headers)


@dataclass(slots=True)
class Exchange:
    """One request and its response as they happened (CLOCK_MONOTONIC, nanoseconds)."""

    request: Request
    #: When the request's last byte was handed to the kernel.
    sent_ns: int = 0
    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    #: When the read that completed the response head returned.
    head_ns: int | None = None
    #: The body as it arrived, HTTP framing removed: (time of the read, bytes).
    body: list[tuple[int, bytes]] = field(default_factory=list)
    #: When the response ended (its last chunk), or None if it did not.
    ended_ns: int | None = None
    #: Bytes read off the socket, HTTP head and chunk framing included.
    wire_bytes: int = 0
    #: Why the exchange did not end with a complete response, or None.
    error: str | None = None

    def header(self, name: bytes) -> bytes | None:
        """A response header's value (h11 lower-cases names), or None."""
        for key, value in self.headers:
            if key == name:
                return value
        return None

    @property
    def body_bytes(self) -> int:
        return sum(len(data) for _, data in self.body)


class _Stream:
    """The state of one exchange on a non-blocking socket."""

    __slots__ = ("conn", "ex", "outgoing", "sock")

    def __init__(self, request: Request) -> None:
        self.ex = Exchange(request)
        self.conn = h11.Connection(our_role=h11.CLIENT)
        self.outgoing = self.conn.send(request.h11_request()) + self.conn.send(
            h11.Data(data=request.body)
        )
        self.outgoing += self.conn.send(h11.EndOfMessage())
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connect(self) -> bool:
        """Start connecting; False (and `error` set) if that failed at once."""
        code = self.sock.connect_ex((self.ex.request.host, self.ex.request.port))
        if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            self.fail(f"connection failed: {_strerror(code)}")
            return False
        return True

    def write(self) -> bool:
        """Send what is left of the request; True once it is all sent."""
        code = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            self.fail(f"connection failed: {_strerror(code)}")
            return True
        try:
            sent = self.sock.send(self.outgoing)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as exc:
            self.fail(f"sending the request failed: {exc}")
            return True
        self.outgoing = self.outgoing[sent:]
        if not self.outgoing:
            self.ex.sent_ns = monotonic_ns()
            return True
        return False

    def read(self) -> bool:
        """Read once; True when the exchange is over (ended, failed or closed)."""
        try:
            data = self.sock.recv(_READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as exc:
            self.fail(f"connection lost: {exc}")
            return True
        now = monotonic_ns()
        self.ex.wire_bytes += len(data)
        try:
            self.conn.receive_data(data)
            while True:
                event = self.conn.next_event()
                if event is h11.NEED_DATA:
                    return False
                if event is h11.PAUSED:
                    # Only after a complete response (h11 waits for us to start another).
                    return True
                if isinstance(event, h11.Response):
                    self.ex.status = event.status_code
                    self.ex.headers = list(event.headers)
                    self.ex.head_ns = now
                elif isinstance(event, h11.Data):
                    self.ex.body.append((now, bytes(event.data)))
                elif isinstance(event, h11.EndOfMessage):
                    self.ex.ended_ns = now
                    return True
                elif isinstance(event, h11.ConnectionClosed):
                    if self.ex.ended_ns is None:
                        self.fail("the server closed the connection before the response ended")
                    return True
        except h11.RemoteProtocolError as exc:
            # Also how h11 reports a connection closed in the middle of a response.
            self.fail(f"the response is not valid HTTP/1.1: {exc}")
            return True

    def fail(self, reason: str) -> None:
        if self.ex.error is None:
            self.ex.error = reason

    def close(self) -> None:
        self.sock.close()


def _strerror(code: int) -> str:
    return f"{os.strerror(code)} (errno {code})"


def exchange(request: Request, *, timeout: float) -> Exchange:
    """One request on a new connection, read until the response ends or `timeout` seconds."""
    return exchanges([request], timeout=timeout)[0]


def exchanges(requests: Sequence[Request], *, timeout: float) -> list[Exchange]:
    """All `requests` at once, each on its own connection; results in the same order.

    `timeout` bounds the whole batch: a stream still open then gets an error saying so.
    """
    streams = [_Stream(request) for request in requests]
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        try:
            for stream in streams:
                if stream.connect():
                    selector.register(stream.sock, selectors.EVENT_WRITE, stream)
            while selector.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                for key, mask in selector.select(min(left, 1.0)):
                    stream = key.data
                    if mask & selectors.EVENT_WRITE:
                        if stream.write():
                            if stream.ex.error is None:
                                selector.modify(stream.sock, selectors.EVENT_READ, stream)
                            else:
                                selector.unregister(stream.sock)
                    elif stream.read():
                        selector.unregister(stream.sock)
            for key in list(selector.get_map().values()):
                key.data.fail(f"no end of response after {timeout:g}s")
        finally:
            for stream in streams:
                stream.close()
    return [stream.ex for stream in streams]
