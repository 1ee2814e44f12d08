"""Progress lines: what the gate is doing, on stderr, every line starting with one prefix.

One prefix for every stage (timing, memory, extension, warnings) lets a reader, a CI log
filter or a test tell progress apart from the result on stdout and from the one error line,
which starts with `agui-perf gate <command>: error:`.

The lines go through the standard `logging` module: each module logs to its own child of
the `agui_perf.gate` logger (`logging.getLogger(__name__)`) at INFO, and the command line
installs the one handler that prints them (`to_stderr`). Every line is INFO, below logging's
default level, so without that handler a library caller or a test sees nothing unless it asks
(pytest's `caplog`), and no stream has to be passed down the chain.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["LOGGER", "PREFIX", "to_stderr"]

PREFIX = "[perf]"
LOGGER = "agui_perf.gate"


@contextlib.contextmanager
def to_stderr(name: str = LOGGER, prefix: str = PREFIX) -> Iterator[None]:
    """While inside, print every INFO record of logger `name` as `<prefix> <message>`.

    On stderr as it is now (a test's capture included), flushed after every line: a CI log or
    a harness waiting for a line sees it at once. Removed again on exit, so a second command
    in the same process starts clean.
    """
    logger = logging.getLogger(name)
    handler = logging.StreamHandler(sys.stderr)  # flushes after every record
    handler.setFormatter(logging.Formatter(f"{prefix} %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
