"""The child of a started target: `python -m agui_perf.suite._serve MODULE:ATTR HOST FD [LIFESPAN]`.

Imports the target, calls it if it is a zero-argument factory, binds HOST port 0 and runs
uvicorn on that socket (uvicorn's `lifespan` setting LIFESPAN: auto, on or off; default auto);
once uvicorn has started it writes `agui-suite-ready <port>` to the inherited file descriptor
FD and closes it. A target that cannot be loaded is one line on stderr and exit status 2.
"""

from __future__ import annotations

import inspect
import os
import socket
import sys
from typing import Any, Final, Literal

import uvicorn
from uvicorn.importer import ImportFromStringError, import_from_string

from agui_perf.suite.target import READY_PREFIX

__all__ = ["is_factory", "load", "main"]

#: uvicorn's `lifespan` settings, typed for its Config.
_LIFESPAN: Final[dict[str, Literal["auto", "on", "off"]]] = {
    "auto": "auto",
    "on": "on",
    "off": "off",
}


def is_factory(obj: Any) -> bool:
    """Whether `obj` can be called with no arguments (an ASGI app takes three)."""
    if not callable(obj):
        return False
    try:
        inspect.signature(obj).bind()
    except TypeError:
        return False
    except ValueError:  # no signature to read (some builtins): not a factory we can tell
        return False
    return True


def load(spec: str) -> Any:
    """The ASGI app `spec` names, built by calling it when it is a factory."""
    obj = import_from_string(spec)
    if is_factory(obj):
        obj = obj()
    if not callable(obj):
        raise ImportFromStringError(f"{spec} is a {type(obj).__name__}, not an ASGI app")
    return obj


class _AnnouncingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, ready_fd: int) -> None:
        super().__init__(config)
        self.ready_fd = ready_fd

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and sockets:
            port = sockets[0].getsockname()[1]
            with os.fdopen(self.ready_fd, "wb", buffering=0) as ready:
                ready.write(f"{READY_PREFIX} {port}\n".encode())


def main(argv: list[str]) -> int:
    lifespan_arg = argv[3] if len(argv) == 4 else "auto"
    if len(argv) not in (3, 4) or not argv[2].isdigit() or lifespan_arg not in _LIFESPAN:
        print(
            "usage: python -m agui_perf.suite._serve MODULE:ATTR HOST FD [auto|on|off]",
            file=sys.stderr,
        )
        return 2
    spec, host, fd = argv[:3]
    try:
        app = load(spec)
    except ImportFromStringError as exc:
        print(f"cannot load {spec}: {exc}", file=sys.stderr)
        return 2
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan=_LIFESPAN[lifespan_arg],
        timeout_graceful_shutdown=5,
    )
    _AnnouncingServer(config, int(fd)).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
