"""Slow clients (slowloris) against a real `agui-perf serve` on loopback, over raw sockets.

The server runs with 0.5 s deadlines for the request head and the body, so each test is
quick; nothing here asserts a duration. A test waits on the socket (with a generous timeout
that only a broken server reaches) and asserts that the server closed it, and what it sent
first: nothing for an unfinished head, a 408 for an unfinished body.
"""

from __future__ import annotations

import select
import socket
from typing import TYPE_CHECKING, Final

import httpx
import orjson
import pytest
from httpx_sse import EventSource

from agui_perf.stream.head_timeout import (
    DEFAULT_HEADER_TIMEOUT,
    HEADER_TIMEOUT_ENV,
    header_timeout_from_env,
)
from tests._support.server import HOST, free_port, running_command

if TYPE_CHECKING:
    from collections.abc import Iterator

#: Generous: only reached when the server does not close a connection.
TIMEOUT: Final = 30.0
#: The deadlines the server under test runs with (both the head's and the body's).
DEADLINE_S: Final = 0.5
#: Pause between trickled bytes: well under the deadline, so an idle timeout would never fire.
TRICKLE_S: Final = DEADLINE_S / 10
#: Bytes a trickle may send before the test gives up: 20 s at TRICKLE_S, 40 deadlines.
TRICKLE_LIMIT: Final = 400

RUN_INPUT: Final = b'{"threadId": "t", "runId": "r", "messages": []}'
#: The head of a `POST /agent` whose body is 1000 bytes long (it never all arrives).
SLOW_HEAD: Final = (
    b"POST /agent HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
    b"Content-Length: 1000\r\n\r\n"
)


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    port = free_port()
    args = ["-m", "agui_perf", "serve", "--port", str(port)]
    args += ["--header-timeout", str(DEADLINE_S), "--body-timeout", str(DEADLINE_S)]
    with running_command(args, port):
        yield port


def connect(port: int) -> socket.socket:
    return socket.create_connection((HOST, port), timeout=TIMEOUT)


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (fails after TIMEOUT)."""
    received = bytearray()
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        pytest.fail(f"the server kept the connection open for {TIMEOUT} s; got {received!r}")
    except ConnectionResetError:
        # Closed with a byte of ours unread (a trickle): a reset rather than a FIN.
        pass
    return bytes(received)


def trickle_until_closed(sock: socket.socket) -> bytes:
    """Send one byte every TRICKLE_S until the server answers or closes; what it sent."""
    for _ in range(TRICKLE_LIMIT):
        readable, _, _ = select.select([sock], [], [], TRICKLE_S)
        if readable:
            return read_until_closed(sock)
        try:
            sock.sendall(b"x")
        except OSError:  # Already closed (EPIPE or ECONNRESET).
            return read_until_closed(sock)
    pytest.fail(f"the server still read the trickle after {TRICKLE_LIMIT} bytes")


def parse_response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines)
    return int(status_line.split()[1]), headers, body


def assert_408(raw: bytes) -> dict[str, str]:
    status, headers, body = parse_response(raw)
    assert status == 408
    assert headers["connection"] == "close"
    assert headers["content-type"] == "application/json"
    error: dict[str, str] = orjson.loads(body)
    assert error["error"] == "body_timeout"
    assert error["detail"].startswith(f"the request body was not complete after {DEADLINE_S:g} s")
    return error


def event_types(response: httpx.Response) -> list[str]:
    return [orjson.loads(sse.data)["type"] for sse in EventSource(response).iter_sse()]


def assert_serves_normally(port: int) -> None:
    with httpx.Client(base_url=f"http://{HOST}:{port}", timeout=TIMEOUT) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        response = client.post("/agent", content=RUN_INPUT)
        assert response.status_code == 200
        assert event_types(response)[-1] == "RUN_FINISHED"


# --- the body --------------------------------------------------------------------------


def test_a_body_that_stops_arriving_gets_408_and_the_connection_is_closed(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(SLOW_HEAD + b"0123456789")
        error = assert_408(read_until_closed(sock))
    assert "(10 bytes arrived)" in error["detail"]


def test_a_trickling_body_is_cut_off_by_the_total_deadline(port: int) -> None:
    """Bytes arrive every TRICKLE_S, ten times faster than the deadline: still cut off."""
    with connect(port) as sock:
        sock.sendall(SLOW_HEAD)
        answer = trickle_until_closed(sock)
    assert_408(answer)


def test_a_body_over_the_limit_closes_the_connection(port: int) -> None:
    """413 by Content-Length: the client may not keep the socket by sending the body slowly."""
    with connect(port) as sock:
        sock.sendall(SLOW_HEAD.replace(b"Content-Length: 1000", b"Content-Length: 2000000"))
        status, headers, body = parse_response(read_until_closed(sock))
    assert (status, headers["connection"]) == (413, "close")
    assert orjson.loads(body)["error"] == "body_too_large"


# --- the head --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sent",
    [
        pytest.param(b"", id="nothing"),
        pytest.param(b"POST /age", id="half-a-request-line"),
        pytest.param(b"POST /agent HTTP/1.1\r\nHost: test\r\nContent-Le", id="half-the-headers"),
    ],
)
def test_a_head_that_never_completes_is_closed(port: int, sent: bytes) -> None:
    with connect(port) as sock:
        sock.sendall(sent)
        assert read_until_closed(sock) == b""


def test_a_trickling_head_is_cut_off_by_the_total_deadline(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(b"POST /agent HTTP/1.1\r\nHost: test\r\nX-Slow: ")
        # At most TRICKLE_LIMIT bytes, far below h11's 16 KiB head limit: the deadline ends it.
        assert trickle_until_closed(sock) == b""


def test_a_kept_alive_connection_gets_the_deadline_for_its_next_head(port: int) -> None:
    request = b"POST /agent HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n%s" % (
        len(RUN_INPUT),
        RUN_INPUT,
    )
    with connect(port) as sock:
        sock.sendall(request)
        received = b""
        while not received.endswith(b"\r\n0\r\n\r\n"):  # The end of the chunked response.
            chunk = sock.recv(65536)
            assert chunk, f"closed before the first response was complete: {received!r}"
            received += chunk
        assert received.startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"POST /agent HTTP/1.1\r\nHo")
        assert read_until_closed(sock) == b""


# --- everyone else ---------------------------------------------------------------------


def test_slow_clients_do_not_stop_normal_requests_and_are_all_released(port: int) -> None:
    slow = [connect(port) for _ in range(20)]
    try:
        for i, sock in enumerate(slow):
            sock.sendall([b"", b"POST /agent HTTP/1.1\r\nHo", SLOW_HEAD + b"{"][i % 3])
        assert_serves_normally(port)  # Started while the slow connections are open.
        answers = [read_until_closed(sock) for sock in slow]
    finally:
        for sock in slow:
            sock.close()
    assert answers[0::3] == answers[1::3] == [b""] * 7
    for answer in answers[2::3]:
        assert_408(answer)
    assert_serves_normally(port)


def test_a_stream_that_outlasts_both_deadlines_is_not_cut(port: int) -> None:
    """The deadlines bound reading the request, never the response (here about 1 s long)."""
    params = {"text_chunks": 3, "rate_per_s": 2}
    body = orjson.dumps(
        {
            "threadId": "t",
            "runId": "r",
            "messages": [],
            "forwardedProps": {"workflow": "paced", "params": params},
        }
    )
    with httpx.Client(base_url=f"http://{HOST}:{port}", timeout=TIMEOUT) as client:
        for _ in range(2):  # The second run reuses the kept-alive connection.
            response = client.post("/agent", content=body)
            assert response.status_code == 200
            types = event_types(response)
            assert types.count("TEXT_MESSAGE_CONTENT") == 3
            assert types[-1] == "RUN_FINISHED"


# --- the setting -----------------------------------------------------------------------


def test_header_timeout_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(HEADER_TIMEOUT_ENV, raising=False)
    assert header_timeout_from_env() == DEFAULT_HEADER_TIMEOUT
    monkeypatch.setenv(HEADER_TIMEOUT_ENV, "2.5")
    assert header_timeout_from_env() == 2.5


@pytest.mark.parametrize("raw", ["soon", "0", "-1", "inf", "nan"])
def test_header_timeout_from_env_refuses_a_bad_value(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv(HEADER_TIMEOUT_ENV, raw)
    with pytest.raises(
        ValueError, match=f"^{HEADER_TIMEOUT_ENV}='{raw}' is not a positive number of seconds$"
    ):
        header_timeout_from_env()
