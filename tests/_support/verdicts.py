"""Sample results and verdicts with every state the reports show (and hostile names)."""

from __future__ import annotations

from agui_perf.gate.decide.budgets import check_budgets
from agui_perf.gate.decide.compare import compare
from agui_perf.gate.decide.verdict import AcceptedState, Verdict, decide
from agui_perf.gate.store.config import Settings
from agui_perf.gate.store.results import AllocationSite, Results
from tests._support.results import make_memory, make_results

__all__ = [
    "EVIL",
    "FOUND",
    "LOST",
    "SETTINGS",
    "passing_verdict",
    "sample_results",
    "sample_verdict",
    "spread",
]


EVIL = "<script>alert(1)</script>"
BASELINE_PATH = "baselines/linux-x86_64-cpython3.11.json"
SETTINGS = Settings(
    budgets={"latency_mean_ms": 200.0, "latency_p95_ms": 300.0, "error_rate_max": 0.05}
)
FOUND = AcceptedState(
    found=True,
    baseline_path=BASELINE_PATH,
    commit="0123456789abcdef" * 2 + "01234567",
    date="2026-05-02T10:11:12+00:00",
    subject="stream: coalesce <b>ready</b> events | faster",
)
LOST = AcceptedState(
    found=False,
    baseline_path=BASELINE_PATH,
    reason="shallow clone: no commit touches the baseline file",
)


def spread(centre: float, n: int = 8, step: float = 0.004) -> list[float]:
    """Eight tightly spread per-process medians around `centre` (no ties)."""
    return [centre * (1 + step * (i - n / 2)) for i in range(n)]


def sample_results() -> tuple[Results, Results]:
    """Accepted and current Results with every state the report shows."""
    noisy = (1.45, 0.95, 1.4, 1.0, 1.35, 0.98, 1.3, 1.02)
    base = make_results(
        {
            "encode_many": spread(2.1e-3),
            "encode_one": spread(850e-9),
            "stream_paced": spread(1.02),
            "verify_many": spread(310e-6),
            EVIL: spread(5e-6),
            "old_bench": spread(1e-3),
        },
        [
            make_memory(
                "account_analysis",
                12_500_000,
                48_000,
                [AllocationSite("src/agui_perf/stream/encoder.py:41", "encode", 400_000, 1200)],
            ),
            make_memory("burst_1000", 30_000_000, 120_000),
        ],
    )
    current = make_results(
        {
            "encode_many": spread(2.1e-3 * 1.182),
            "encode_one": spread(850e-9 * 0.8),
            "stream_paced": [1.02 * x for x in noisy],
            "verify_many": spread(310e-6 * 0.99),
            EVIL: spread(5e-6),
            "new_bench": spread(4e-6),
        },
        [
            make_memory(
                "account_analysis",
                13_100_000,
                51_000,
                [
                    AllocationSite("src/agui_perf/stream/encoder.py:41", "encode", 950_000, 2400),
                    AllocationSite("src/agui_perf/stream/response.py:88", "_drain", 50_000, 300),
                ],
            ),
            make_memory("burst_1000", 30_000_000, 120_000),
        ],
        extra_info={
            "stream_paced": {
                "latency_mean_ms": 180.0,
                "latency_median_ms": 150.0,
                "latency_p95_ms": 320.0,
                "latency_p99_ms": 410.0,
            },
            EVIL: {"latency_mean_ms": 12.5, "latency_p95_ms": 31.0},
        },
    )
    return base, current


def sample_verdict(accepted: AcceptedState = FOUND) -> Verdict:
    """A failing verdict: timing regression, memory regression, budget breach, not measured."""
    base, current = sample_results()
    comparison = compare(base, current, SETTINGS, accepted_found=accepted.found)
    return decide(comparison, check_budgets(current, SETTINGS.budgets), accepted, SETTINGS)


def passing_verdict() -> Verdict:
    base = make_results({"a": spread(1.0), "b": spread(2.0)})
    current = make_results({"a": spread(1.0), "b": spread(2.0)})
    comparison = compare(base, current, Settings(), accepted_found=True)
    return decide(comparison, check_budgets(current, {}), FOUND, Settings())
