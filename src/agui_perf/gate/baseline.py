"""The committed baseline file (README "Accepting an intended change").

One JSON file per environment key (`baselines/linux-x86_64-cpython3.11.json`), pretty-printed
with sorted keys so that its diff is what a reviewer reads when a change is accepted::

    {
      "schema_version": 2,
      "environment_key": "linux-x86_64-cpython3.11",
      "source": {"commit": str, "tree_hash": str, "dirty": bool},
      "environment": {fingerprint, see gate.environment},
      "benchmarks": {
        "<name>": {"median": float,        # median of the per-process medians, seconds
                   "samples": [float, ...],  # the per-process medians
                   "summary": {"median", "iqr", "mean", "min", "max", "stddev", "rounds"},
                   "extra_info": {...}}
      },
      "memory": {"<scenario>": {"peak_bytes", "total_allocations", "leaked_bytes", "top_sites"}},
      "counts": {"tool": "valgrind-3.19.0", "missing": null,
                 "benchmarks": {"<name>": {"instructions": int, "calls": int}}}
    }

Version 1 files (written before instruction counts) are still read; their counts are "not in
the baseline", which the verdict reports as such instead of refusing the file.

Per-round times are left out: they would make every update a wall of changed numbers. The
file is written atomically and only from a complete, valid Results; a failure leaves the old
file as it was.
"""

from __future__ import annotations

import math
import os
import statistics
from dataclasses import dataclass, replace
from pathlib import Path

from agui_perf.gate._io import Reader, atomic_write_text, dump_json, load_json_file
from agui_perf.gate.environment import (
    environment_from_json,
    environment_key,
    environment_to_json,
)
from agui_perf.gate.results import (
    SCHEMA_VERSION,
    BenchmarkResult,
    Results,
    benchmark_extra_info,
    check_complete,
    check_schema_version,
    counts_from_json,
    counts_to_json,
    memory_from_json,
    memory_to_json,
    samples_from_json,
    source_from_json,
    source_to_json,
    summary_from_json,
    summary_to_json,
)

__all__ = [
    "BASELINE_HINT",
    "NOT_IN_BASELINE",
    "Baseline",
    "DiffRow",
    "baseline_from_json",
    "baseline_path",
    "baseline_to_json",
    "diff_baselines",
    "read_baseline",
    "write_baseline",
]

BASELINE_HINT = "run nox -s update-baseline"
#: Why a version-1 baseline has no instruction counts (the verdict quotes it).
NOT_IN_BASELINE = "not in the baseline"


@dataclass(frozen=True)
class Baseline:
    path: str
    environment_key: str
    results: Results  # benchmarks carry samples and summary; `rounds` is () for each


def baseline_path(directory: str | os.PathLike[str], key: str | None = None) -> Path:
    """`<directory>/<environment key>.json`; the key defaults to this machine's."""
    return Path(directory) / f"{key or environment_key()}.json"


def baseline_to_json(results: Results) -> dict[str, object]:
    return {
        "schema_version": SCHEMA_VERSION,
        "environment_key": environment_key(results.environment),
        "source": source_to_json(results.source),
        "environment": environment_to_json(results.environment),
        "benchmarks": {
            name: {
                "median": bench.median,
                "samples": list(bench.samples),
                "summary": summary_to_json(bench.summary),
                "extra_info": dict(sorted(bench.extra_info.items())),
            }
            for name, bench in sorted(results.benchmarks.items())
        },
        "memory": {name: memory_to_json(mem) for name, mem in sorted(results.memory.items())},
        "counts": counts_to_json(results.counts),
    }


def _benchmark(reader: Reader, name: str, obj: object) -> BenchmarkResult:
    where = f"benchmark {name!r}"
    data = reader.mapping(obj, where)
    samples = samples_from_json(reader, data, where)
    median = reader.number(data, "median", where, positive=True)
    # The median is stored for the reader of the diff; a hand edit that changes only it (or only
    # the samples) would make the file say two different things.
    if not math.isclose(median, statistics.median(samples), rel_tol=1e-9):
        raise reader.error(
            where,
            f"has median {median!r} but its samples have median {statistics.median(samples)!r}",
        )
    return BenchmarkResult(
        name=name,
        samples=samples,
        rounds=(),
        summary=summary_from_json(reader, reader.field(data, "summary", where), where),
        extra_info=benchmark_extra_info(reader, data.get("extra_info") or {}, where),
    )


def baseline_from_json(
    obj: object, *, origin: str, path: str = "", expected_key: str | None = None
) -> Baseline:
    reader = Reader(origin, BASELINE_HINT)
    data = reader.mapping(obj, "")
    version = check_schema_version(reader, data)
    key = reader.string(data, "environment_key", "")
    environment = environment_from_json(reader.field(data, "environment", ""), reader)
    if environment_key(environment) != key:
        raise reader.error(
            "",
            f"says environment key {key!r} but its fingerprint is {environment_key(environment)!r}",
        )
    if expected_key is not None and key != expected_key:
        raise reader.error(
            "",
            f"was measured on {key}, not on this machine ({expected_key})",
        )
    benchmarks = reader.sub(data, "benchmarks", "")
    memory = reader.sub(data, "memory", "")
    results = Results(
        source=source_from_json(reader, reader.field(data, "source", "")),
        environment=environment,
        benchmarks={
            name: _benchmark(reader, name, value) for name, value in sorted(benchmarks.items())
        },
        memory={
            name: memory_from_json(name, value, reader) for name, value in sorted(memory.items())
        },
        counts=counts_from_json(reader, data, version, absent=NOT_IN_BASELINE),
    )
    return Baseline(path=path, environment_key=key, results=results)


def read_baseline(path: str | os.PathLike[str], *, expected_key: str | None) -> Baseline:
    """Read and validate a baseline file.

    `expected_key` is this machine's environment key (`environment_key()`); a file measured
    elsewhere is refused. Pass None only to inspect a file without that check.
    """
    name = os.fspath(path)
    origin = f"baseline '{name}'"
    obj = load_json_file(path, origin=origin, hint=BASELINE_HINT)
    return baseline_from_json(obj, origin=origin, path=name, expected_key=expected_key)


def write_baseline(path: str | os.PathLike[str], results: Results) -> Baseline:
    """Validate `results` as complete, then replace `path` atomically.

    Validation runs first and the write goes through a temporary file, so an incomplete run
    or a failure mid-write leaves the old baseline untouched (the gate's promise: exit 2
    changes nothing under baselines/).
    """
    name = os.fspath(path)
    check_complete(results, origin=f"the run to store in baseline '{name}'")
    text = dump_json(baseline_to_json(results))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)
    stored = replace(
        results,
        benchmarks={n: replace(b, rounds=()) for n, b in sorted(results.benchmarks.items())},
    )
    return Baseline(path=name, environment_key=environment_key(results.environment), results=stored)


@dataclass(frozen=True)
class DiffRow:
    """One line of the update-baseline printout."""

    name: str  # benchmark name, or memory scenario
    metric: str  # "median s", "peak bytes", "allocations", "instructions/call"
    old: float | None  # None: new
    new: float | None  # None: removed
    pct: float | None  # (new - old) / old * 100; None when either side is absent


def _row(name: str, metric: str, old: float | None, new: float | None) -> DiffRow:
    pct = None if old is None or new is None or old == 0 else (new - old) / old * 100.0
    return DiffRow(name=name, metric=metric, old=old, new=new, pct=pct)


def diff_baselines(old: Baseline | Results | None, new: Baseline | Results) -> list[DiffRow]:
    """Per benchmark, memory scenario and instruction count: old value, new value, change in %."""
    before = old.results if isinstance(old, Baseline) else old
    after = new.results if isinstance(new, Baseline) else new
    rows: list[DiffRow] = []
    old_benchmarks = before.benchmarks if before else {}
    for name in sorted(set(old_benchmarks) | set(after.benchmarks)):
        o, n = old_benchmarks.get(name), after.benchmarks.get(name)
        rows.append(_row(name, "median s", o.median if o else None, n.median if n else None))
    old_memory = before.memory if before else {}
    for name in sorted(set(old_memory) | set(after.memory)):
        om, nm = old_memory.get(name), after.memory.get(name)
        rows.append(
            _row(name, "peak bytes", om.peak_bytes if om else None, nm.peak_bytes if nm else None)
        )
        rows.append(
            _row(
                name,
                "allocations",
                om.total_allocations if om else None,
                nm.total_allocations if nm else None,
            )
        )
    old_counts = before.counts.benchmarks if before else {}
    for name in sorted(set(old_counts) | set(after.counts.benchmarks)):
        oc, nc = old_counts.get(name), after.counts.benchmarks.get(name)
        rows.append(
            _row(
                name,
                "instructions/call",
                oc.per_call if oc else None,
                nc.per_call if nc else None,
            )
        )
    return rows
