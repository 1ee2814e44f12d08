"""uvicorn's h11 protocol with a deadline for the request head (what `agui-perf serve` runs).

uvicorn bounds the size of a request head (h11's 16 KiB `max_incomplete_event_size`) but not
the time it takes: its keep-alive timer only runs between a finished response and the first
byte of the next request, and is not armed at all on a new connection. A client that
connects and sends nothing, or half a request line and then silence, or one header byte
every few seconds, therefore holds its socket forever (a slowloris). This protocol gives
each request head a total deadline, counted from the moment the server starts waiting for
it (connection made, or first byte after a finished response), and closes the connection
when the head is not complete by then.

No 408 is sent: before a complete head there is no request to answer, and an unsolicited
response on an idle connection can be read by a client as the answer to the next request
it sends on it. The app bounds the body separately (`create_app(body_timeout=…)`).
"""

from __future__ import annotations

import functools
import math
import os
from typing import TYPE_CHECKING, Any, Final

from uvicorn.protocols.http.h11_impl import H11Protocol

if TYPE_CHECKING:
    import asyncio

    from uvicorn.config import Config
    from uvicorn.server import ServerState

__all__ = [
    "DEFAULT_HEADER_TIMEOUT",
    "HEADER_TIMEOUT_ENV",
    "HeadTimeoutH11Protocol",
    "header_timeout_from_env",
]

#: Environment variable read for each connection (how `agui-perf serve --header-timeout`
#: reaches uvicorn's worker processes, which import this class by name).
HEADER_TIMEOUT_ENV: Final = "AGUI_PERF_HEADER_TIMEOUT"
DEFAULT_HEADER_TIMEOUT: Final = 10.0


def header_timeout_from_env() -> float:
    """The head deadline in seconds: `HEADER_TIMEOUT_ENV`, or the default when unset."""
    return _parse_seconds(os.environ.get(HEADER_TIMEOUT_ENV))


@functools.cache
def _parse_seconds(raw: str | None) -> float:
    # Cached: this runs once per connection and the value never changes in a worker.
    if raw is None:
        return DEFAULT_HEADER_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{HEADER_TIMEOUT_ENV}={raw!r} is not a positive number of seconds")
    return value


class HeadTimeoutH11Protocol(H11Protocol):
    """`H11Protocol` that closes a connection whose request head is not complete in time."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.header_timeout = header_timeout_from_env()
        self._head_deadline: asyncio.TimerHandle | None = None

    def connection_made(  # type: ignore[override]  # uvicorn's own signature (a Transport)
        self, transport: asyncio.Transport
    ) -> None:
        super().connection_made(transport)
        self._arm_head_deadline()

    def data_received(self, data: bytes) -> None:
        if self._waiting_for_head():
            # First byte after a finished response: uvicorn's keep-alive timer stops here,
            # so the head's own deadline starts (a no-op when it is already running).
            self._arm_head_deadline()
        super().data_received(data)
        if not self._waiting_for_head():
            # The head is complete and the request is the app's now (it bounds the body).
            self._disarm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def _waiting_for_head(self) -> bool:
        if self.transport.get_protocol() is not self:
            # Upgraded (WebSocket): the connection is no longer HTTP/1.1 request heads.
            return False
        return self.cycle is None or self.cycle.response_complete

    def _arm_head_deadline(self) -> None:
        if self._head_deadline is None:
            self._head_deadline = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if self._waiting_for_head() and not self.transport.is_closing():
            self.transport.close()
