"""Command line: `agui-perf serve | gate … | load` (argparse → small task functions → exit code).

Each subcommand is added by its own `add_*_parser(subparsers)` function and names the
function that runs it (`handler`), so the gate's subcommands plug in beside `serve`.
"""

from __future__ import annotations

import argparse
import math
import os
from typing import TYPE_CHECKING, Final

from agui_perf.gate.cli import add_gate_parser
from agui_perf.load.cli import add_load_parser

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = [
    "KEEP_ALIVE_S",
    "build_parser",
    "main",
    "run_serve",
]

#: The app factory uvicorn imports in each worker process (workers > 1 needs an import
#: string, and one code path for any worker count keeps `serve` simple).
SERVE_APP: Final = "agui_perf.stream.app:app_from_env"
#: The HTTP protocol: uvicorn's h11 one plus a deadline for the request head, which uvicorn
#: itself does not bound in time (see the module's docstring).
SERVE_HTTP: Final = "agui_perf.stream.head_timeout:HeadTimeoutH11Protocol"

#: Seconds uvicorn waits for open streams on shutdown before cancelling them: an SSE stream
#: can be endless, and Ctrl-C / SIGTERM must still stop the server.
_GRACEFUL_SHUTDOWN_S: Final = 5
#: Seconds uvicorn keeps an idle kept-alive connection (its own default is 5). A server that
#: closes an idle connection races the client's next request on it: the request goes out on a
#: socket the server is closing and the client sees "connection closed" before any response, a
#: lost run (`nox -s load` at 1,000 users: 17 of 15,137 runs lost with 5 s, all from users whose
#: pause between two runs came close to 5 s; 0 with this value). Clients that pool connections
#: drop their idle ones sooner, so with a longer timeout it is the client that closes.
KEEP_ALIVE_S: Final = 75.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agui-perf",
        description="A fast AG-UI streaming server, its performance gate and its load test.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_serve_parser(subparsers)
    add_gate_parser(subparsers)
    add_load_parser(subparsers)
    return parser


def add_serve_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "serve",
        help="serve the AG-UI app (POST /agent, GET /healthz) under uvicorn",
        description="Serve the AG-UI app (POST /agent, GET /healthz) under uvicorn.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument("--port", type=_port, default=8000, help="TCP port (default: %(default)s)")
    parser.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        metavar="N",
        help="worker processes (default: %(default)s)",
    )
    parser.add_argument(
        "--heartbeat",
        type=_positive_seconds,
        default=15.0,
        metavar="S",
        help="seconds of silence before a `: ping` keep-alive comment (default: %(default)s)",
    )
    parser.add_argument(
        "--header-timeout",
        type=_positive_seconds,
        default=10.0,
        metavar="S",
        help="seconds a connection has to send a complete request head, else it is closed "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--body-timeout",
        type=_positive_seconds,
        default=10.0,
        metavar="S",
        help="seconds a request has to send its whole body, else it gets 408 and the "
        "connection is closed (default: %(default)s)",
    )
    parser.add_argument(
        "--keep-alive",
        type=_positive_seconds,
        default=KEEP_ALIVE_S,
        metavar="S",
        help="seconds an idle kept-alive connection stays open (default: %(default)s; longer "
        "than the clients' own idle time, so that the client closes it first)",
    )
    parser.set_defaults(handler=run_serve)
    return parser


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from agui_perf.stream.app import BODY_TIMEOUT_ENV, HEARTBEAT_ENV
    from agui_perf.stream.head_timeout import HEADER_TIMEOUT_ENV

    # Worker processes build the app from SERVE_APP (and the protocol from SERVE_HTTP), so
    # settings travel by environment.
    os.environ[HEARTBEAT_ENV] = repr(args.heartbeat)
    os.environ[BODY_TIMEOUT_ENV] = repr(args.body_timeout)
    os.environ[HEADER_TIMEOUT_ENV] = repr(args.header_timeout)
    uvicorn.run(
        SERVE_APP,
        factory=True,
        http=SERVE_HTTP,
        host=args.host,
        port=args.port,
        workers=args.workers,
        timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_S,
        timeout_keep_alive=args.keep_alive,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 1 to 65535, got {text!r}")
    return int(text)


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return int(text)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value
