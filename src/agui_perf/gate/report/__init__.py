"""The gate's report: Markdown verdict, charts, HTML, and the GitHub Actions plumbing.

Submodules are imported by name (`agui_perf.gate.report.github`, `...comment`); this package
re-exports nothing so that the comment workflow can import `comment` without the chart stack.
"""

from __future__ import annotations

__all__: list[str] = []
