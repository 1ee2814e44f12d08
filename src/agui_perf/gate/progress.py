"""Progress lines: what the gate is doing, on stderr, every line starting with one prefix.

One prefix for every stage (timing, memory, extension, warnings) lets a reader, a CI log
filter or a test tell progress apart from the result on stdout and from the one error line,
which starts with `agui-perf gate <command>: error:`.
"""

from __future__ import annotations

from typing import TextIO

__all__ = ["PREFIX", "say"]

PREFIX = "[perf]"


def say(progress: TextIO | None, line: str) -> None:
    """Print `line` with the prefix on `progress` (None: stay quiet), flushed at once."""
    if progress is not None:
        print(f"{PREFIX} {line}", file=progress, flush=True)
