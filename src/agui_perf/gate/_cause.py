"""The one line of a failed child's output that says why it failed.

A child's last line is often not its cause: Python prints warnings at shutdown after the
traceback ("RuntimeWarning: coroutine … was never awaited"), pytest ends with its summary, and
an exception raised while handling another one ends the output with the consequence, not the
origin. Quoting such a last line sends the user after the wrong problem, so the gate picks:

1. a usage error line (`ERROR: …`, how pytest reports a bad command line);
2. the exception a traceback ends with: the first one of an implicit chain ("During handling
   of the above exception, another exception occurred" — the rest followed from it), else the
   last one (`raise … from …` puts the most specific message last); pytest's own exception
   lines (`E   Error: …`) and `INTERNALERROR>` tracebacks count too;
3. else the last line that is not a warning; else the last line.
"""

from __future__ import annotations

import re

__all__ = ["cause_line"]

_TRACEBACK = "Traceback (most recent call last):"
_DURING = "During handling of the above exception, another exception occurred:"
# "name.py:12: DeprecationWarning: …", "sys:1: RuntimeWarning: …", "RuntimeWarning: Enable …",
# and the indented source line Python prints under a warning.
_WARNING = re.compile(r"^(?:\S+:\d+: )?\w*Warning: ")
_PYTEST_EXCEPTION = re.compile(r"^E {3}(\w[\w.]*(?:Error|Exception|Exit|Interrupt)\b.*)$")
_INTERNAL = "INTERNALERROR> "


def _exceptions(lines: list[str]) -> list[tuple[str, bool]]:
    """(exception line, whether an implicit "During handling" chain follows it), in order."""
    found: list[tuple[str, bool]] = []
    in_traceback = False
    for line in lines:
        if line.strip() == _TRACEBACK:
            in_traceback = True
            continue
        if line.strip() == _DURING and found:
            found[-1] = (found[-1][0], True)
            continue
        if in_traceback and line and not line[0].isspace():
            # The first unindented line after the frames is the exception and its message.
            found.append((line.strip(), False))
            in_traceback = False
    return found


def _strip_internal(line: str) -> str:
    return line[len(_INTERNAL) :] if line.startswith(_INTERNAL) else line


def _last_plain(raw: list[str]) -> str | None:
    """The last line that is neither a warning nor the source line printed under one; if the
    output is nothing but warnings, the last warning."""
    plain: str | None = None
    warning: str | None = None
    after_warning = False
    for line in raw:
        if not line.strip():
            continue
        if _WARNING.match(line.strip()):
            warning, after_warning = line.strip(), True
            continue
        if after_warning and line[0].isspace():
            continue
        after_warning = False
        plain = line.strip()
    return plain or warning


def cause_line(text: str) -> str | None:
    """The line of `text` that names the cause of the failure; None for empty output."""
    raw = [_strip_internal(line) for line in text.splitlines()]
    lines = [line.strip() for line in raw if line.strip()]
    if not lines:
        return None
    for line in lines:
        if line.startswith("ERROR: "):
            return line
    exceptions = _exceptions(raw)
    if exceptions:
        for line, followed in exceptions:
            if followed:
                return line
        return exceptions[-1][0]
    for line in lines:
        match = _PYTEST_EXCEPTION.match(line)
        if match:
            return match.group(1)
    return _last_plain(raw) or lines[-1]
