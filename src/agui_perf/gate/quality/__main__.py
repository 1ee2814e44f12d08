"""`python -m agui_perf.gate.quality`: see `agui_perf.gate.quality.cli`."""

from __future__ import annotations

from agui_perf.gate.quality.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    raise SystemExit(main())
