"""One run's figures built by hand, as the service suite would measure a clean run."""

from __future__ import annotations

from typing import Any

from agui_perf.suite.figures import RunFigures

__all__ = ["run_figures"]


def run_figures(**changes: Any) -> RunFigures:
    """A clean, verified, LF-framed run of 10 events; `changes` replace any field."""
    fields: dict[str, Any] = {
        "url": "http://127.0.0.1:1",
        "path": "/agent",
        "status": 200,
        "error": None,
        "ttfe_s": 0.001,
        "ttfc_s": 0.002,
        "gap_p50_s": 0.0001,
        "gap_p95_s": 0.0002,
        "gap_p99_s": 0.0003,
        "gap_max_s": 0.0004,
        "duration_s": 0.010,
        "events": 10,
        "bytes": 1_000,
        "events_per_s": 1_000.0,
        "heartbeats": 0,
        "silence_max_s": 0.001,
        "heartbeat_s": None,
        "heartbeat_kept": None,
        "verified": True,
        "verifier_error": None,
        "framing_ok": True,
        "framing_problem": None,
        "line_ends": ("LF",),
    }
    return RunFigures(**{**fields, **changes})
