"""`nox -s perf` (the performance gate) and `nox -s update-baseline` (accept a change)."""

from __future__ import annotations

import nox

from agui_perf import nox as agui


@nox.session(default=False)
def perf(session: nox.Session) -> None:
    """Measure this code beside the accepted commit's; exit 0 pass, 1 regression, 2 unusable."""
    agui.install(session, "perf")
    agui.perf(session)


@nox.session(name="update-baseline", default=False)
def update_baseline(session: nox.Session) -> None:
    """Measure this code and rewrite baselines/<environment>.json; commit it with the code."""
    agui.install(session, "perf")
    agui.update_baseline(session)


@nox.session(default=False)
def comment(session: nox.Session) -> None:
    """Build the pull request comment from a downloaded report (the perf-comment workflow)."""
    agui.comment(session)
