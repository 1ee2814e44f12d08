"""Factories of the gate's data: environments, benchmark results, memory results, and
pytest-benchmark's JSON as a benchmark process writes it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agui_perf.gate.store.environment import Environment
from agui_perf.gate.store.results import (
    AllocationSite,
    BenchmarkResult,
    MemoryResult,
    Results,
    Source,
    summarize,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "make_env",
    "make_memory",
    "make_results",
    "pb_doc",
    "pb_entry",
]


def make_env(**changes: object) -> Environment:
    fields: dict[str, object] = {
        "implementation": "CPython",
        "python_version": "3.11.7",
        "python_build": ("main", "May  9 2026 07:35:25"),
        "compiler": "GCC 12.2.0",
        "machine": "x86_64",
        "system": "Linux",
        "cpu_model": "AMD EPYC",
        "packages": {"orjson": "3.10.0", "starlette": "0.47.0"},
    }
    fields.update(changes)
    return Environment(**fields)  # type: ignore[arg-type]


def make_bench(
    name: str, samples: Sequence[float], extra_info: Mapping[str, float | int | str] | None = None
) -> BenchmarkResult:
    rounds = tuple((s * 0.99, s, s * 1.01) for s in samples)
    return BenchmarkResult(
        name=name,
        samples=tuple(samples),
        rounds=rounds,
        summary=summarize([t for r in rounds for t in r]),
        extra_info=dict(extra_info or {}),
    )


def make_memory(
    scenario: str,
    peak_bytes: int = 1_000_000,
    total_allocations: int = 10_000,
    sites: Sequence[AllocationSite] = (),
) -> MemoryResult:
    return MemoryResult(
        scenario=scenario,
        peak_bytes=peak_bytes,
        total_allocations=total_allocations,
        leaked_bytes=0,
        top_sites=tuple(sites),
    )


def make_results(
    benchmarks: Mapping[str, Sequence[float]],
    memory: Sequence[MemoryResult] = (),
    *,
    env: Environment | None = None,
    extra_info: Mapping[str, Mapping[str, float | int | str]] | None = None,
    commit: str = "a" * 40,
) -> Results:
    extra = extra_info or {}
    return Results(
        source=Source(commit=commit, tree_hash="b" * 40, dirty=False),
        environment=env or make_env(),
        benchmarks={n: make_bench(n, s, extra.get(n)) for n, s in benchmarks.items()},
        memory={m.scenario: m for m in memory},
    )


def pb_entry(
    name: str, data: Sequence[object], extra_info: Mapping[str, object] | None = None
) -> dict[str, object]:
    """One benchmark as pytest-benchmark 5 writes it with --benchmark-json."""
    return {
        "group": None,
        "name": name,
        "fullname": f"tests/benchmarks/test_x.py::{name}",
        "params": None,
        "param": None,
        "extra_info": dict(extra_info or {}),
        "options": {"disable_gc": False, "timer": "perf_counter", "min_rounds": 5},
        "stats": {"min": 0.0, "max": 0.0, "mean": 0.0, "rounds": len(data), "data": list(data)},
    }


def pb_doc(*entries: dict[str, object]) -> dict[str, object]:
    return {"machine_info": {}, "commit_info": {}, "benchmarks": list(entries), "version": "5.3.1"}
