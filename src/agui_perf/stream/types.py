"""Types shared across the streaming core."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, TypeAlias

__all__ = ["Agent", "Event"]

#: One AG-UI event: a plain JSON object whose keys are in the official SDK's order,
#: with absent optional fields left out (never ``null``).
Event: TypeAlias = dict[str, Any]

#: An agent is anything that yields events asynchronously.
Agent: TypeAlias = AsyncIterator[Event]
