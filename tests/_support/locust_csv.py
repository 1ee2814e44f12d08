"""Synthetic Locust CSV files (the header is Locust 2.x's, as `--csv` writes it) and a
pyproject with load budgets: what `agui_perf.load.verdict` reads, without running Locust."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agui_perf.load.verdict import LoadBudgets

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

__all__ = ["BUDGETS", "HEADER", "LOAD_BUDGETS", "row", "write_csv", "write_pyproject"]

HEADER = (
    "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,"
    "Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,"
    "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%"
)


def row(
    kind: str, name: str, count: int, failures: int, mean: float, per_s: float, p95: str
) -> str:
    return (
        f"{kind},{name},{count},{failures},{mean:.0f},{mean},0.5,{mean * 4},120.0,{per_s},0.0,"
        f"{mean:.0f},{mean:.0f},{mean:.0f},{mean:.0f},{mean:.0f},{p95},{p95},{p95},{p95},{p95},"
        f"{p95}"
    )


def write_csv(
    directory: Path,
    *,
    p95: str = "12",
    runs: int = 200,
    failed: int = 0,
    events_per_s: float = 2500.0,
    failures: Sequence[str] = (),
    good: int | None = None,
    over: Mapping[str, int] | None = None,
) -> Path:
    """`<directory>/locust_stats.csv` and `_failures.csv`; `good` defaults to every run that
    did not fail. Returns the prefix `read_locust_stats` takes."""
    good = runs - failed if good is None else good
    rows = [
        HEADER,
        row("POST", "/agent", runs, failed, 4.0, 6.6, "9"),
        row("SSE", "event_latency", 15_000, 0, 3.0, events_per_s, p95),
        row("SSE", "run account_analysis", runs - 50, failed, 1100.0, 5.0, "1200"),
        row("SSE", "run burst", 50, 0, 12.0, 1.6, "60"),
        row("SSE", "time_to_first_event", runs, 0, 5.0, 6.6, "40"),
        # Locust has no row for a name nothing was reported under.
        *([row("SSE", "good_run", good, 0, 900.0, 5.0, "1100")] if good else []),
        *(
            row("SSE", f"over_budget {name}", n, 0, 900.0, 0.1, "1100")
            for name, n in (over or {}).items()
        ),
        row("", "Aggregated", 15_400, failed, 3.5, 2520.0, "13"),
    ]
    (directory / "locust_stats.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    failure_rows = ["Method,Name,Error,Occurrences,First Seen,Last Seen", *failures]
    (directory / "locust_failures.csv").write_text("\n".join(failure_rows) + "\n", "utf-8")
    return directory / "locust"


BUDGETS = LoadBudgets(latency_p95_ms=300.0, error_rate_max=0.05, throughput_events_per_s_min=100.0)
LOAD_BUDGETS = "latency_p95_ms = 300\nerror_rate_max = 0.05\nthroughput_events_per_s_min = 100"


def write_pyproject(directory: Path, budgets: str) -> Path:
    path = directory / "pyproject.toml"
    path.write_text(f"[tool.agui_perf.budgets]\n{budgets}\n", encoding="utf-8")
    return path
