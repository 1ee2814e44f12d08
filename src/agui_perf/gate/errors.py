"""The one exception of the gate: input it cannot use, or a usage mistake (exit code 2).

The message is a single line that quotes the offending value and says what to do, so the
command line can print it as-is without a traceback.
"""

from __future__ import annotations

__all__ = ["GateError"]


class GateError(Exception):
    """Unusable input or a usage error; `str(err)` is the one line shown to the user."""

    def __init__(self, message: str) -> None:
        # Multi-line messages would break the promise of one clear line on stderr (exit 2).
        super().__init__(" ".join(message.split()))

    @property
    def message(self) -> str:
        return str(self.args[0])
