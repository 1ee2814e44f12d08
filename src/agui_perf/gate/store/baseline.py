"""The committed baseline file (README "Accepting an intended change").

One JSON file per environment key (`baselines/linux-x86_64-cpython3.11.json`), key-sorted,
so that its diff is what a reviewer reads when a change is accepted::

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

Re-measuring unchanged code must change few lines, or the diff a reviewer reads is timing
noise. So the file is written with three choices, none of which changes what a field means:

- every list or object of plain values is one line (`dump_json_compact`): a benchmark's
  samples, its summary and its extra_info are a line each, a memory scenario's figures a line
  each; per-round times are left out altogether;
- timings (samples, median, summary, the floats of extra_info) are rounded to
  `TIMING_DIGITS` significant digits: a step of at most 0.5 %, a tenth of the half minimum
  effect the gate's bounds must clear and below the 2-5 % that fresh processes spread;
- instruction counts are rounded to `COUNT_DIGITS` significant digits (at most 0.05 %):
  unchanged code counts within 0.02 %, and the gate calls a count changed from 1 % on.
  Memory figures are exact: memray's are deterministic.

A file written before these choices (one number per line, full precision) reads the same.
The median must agree with the samples' median to `TIMING_DIGITS` digits. The file is written
atomically and only from a complete, valid Results; a failure leaves the old file as it was.
"""

from __future__ import annotations

import math
import os
import statistics
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from agui_perf.gate._codec import to_json
from agui_perf.gate._io import Reader, atomic_write_text, dump_json_compact, load_json_file
from agui_perf.gate.store.environment import environment_from_json, environment_key
from agui_perf.gate.store.results import (
    SCHEMA_VERSION,
    BenchmarkResult,
    Counts,
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
    summary_from_json,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "BASELINE_HINT",
    "COUNT_DIGITS",
    "NOT_IN_BASELINE",
    "TIMING_DIGITS",
    "Baseline",
    "DiffRow",
    "baseline_from_json",
    "baseline_path",
    "baseline_to_json",
    "diff_baselines",
    "read_baseline",
    "round_count",
    "round_timing",
    "write_baseline",
]

BASELINE_HINT = "run nox -s update-baseline"
#: Why a version-1 baseline has no instruction counts (the verdict quotes it).
NOT_IN_BASELINE = "not in the baseline"
#: Significant digits of the stored timings (module docstring: why this many).
TIMING_DIGITS = 3
#: Significant digits of the stored instruction counts.
COUNT_DIGITS = 4
#: The DiffRow metric of a timing: measured on one machine at one time, never comparable with
#: a timing stored from another (the others, memory and counts, are deterministic).
TIMING_METRIC = "median s"


@dataclass(frozen=True)
class Baseline:
    path: str
    environment_key: str
    results: Results  # benchmarks carry samples and summary; `rounds` is () for each


def baseline_path(directory: str | os.PathLike[str], key: str | None = None) -> Path:
    """`<directory>/<environment key>.json`; the key defaults to this machine's."""
    return Path(directory) / f"{key or environment_key()}.json"


def round_timing(value: float) -> float:
    """`value` to `TIMING_DIGITS` significant digits (as the baseline stores timings)."""
    return float(f"{value:.{TIMING_DIGITS}g}") if math.isfinite(value) else value


def round_count(value: int) -> int:
    """`value` to `COUNT_DIGITS` significant digits, still an integer (1_234_567 -> 1_235_000)."""
    digits = len(str(abs(value)))
    return round(value, COUNT_DIGITS - digits) if digits > COUNT_DIGITS else value


def _rounded(values: Mapping[str, object]) -> dict[str, object]:
    """Floats rounded like timings; integers (counts, rounds, events) and strings as they are."""
    return {
        key: round_timing(value) if isinstance(value, float) else value
        for key, value in sorted(values.items())
    }


def _counts_json(counts: Counts) -> dict[str, object]:
    return counts_to_json(
        replace(
            counts,
            benchmarks={
                name: replace(count, instructions=round_count(count.instructions))
                for name, count in counts.benchmarks.items()
            },
        )
    )


def baseline_to_json(results: Results) -> dict[str, object]:
    benchmarks: dict[str, object] = {}
    for name, bench in sorted(results.benchmarks.items()):
        samples = [round_timing(sample) for sample in bench.samples]
        benchmarks[name] = {
            "median": round_timing(statistics.median(samples)),
            "samples": samples,
            "summary": _rounded(to_json(bench.summary)),
            "extra_info": _rounded(bench.extra_info),
        }
    return to_json(
        results,
        schema_version=SCHEMA_VERSION,
        environment_key=environment_key(results.environment),
        benchmarks=benchmarks,
        memory={name: memory_to_json(mem) for name, mem in sorted(results.memory.items())},
        counts=_counts_json(results.counts),
    )


def _benchmark(reader: Reader, name: str, obj: object) -> BenchmarkResult:
    where = f"benchmark {name!r}"
    data = reader.mapping(obj, where)
    samples = samples_from_json(reader, data, where)
    median = reader.number(data, "median", where, positive=True)
    # The median is stored for the reader of the diff; a hand edit that changes only it (or only
    # the samples) would make the file say two different things. It is stored rounded like the
    # samples, so it must agree to that precision (a file written before the rounding agrees
    # exactly).
    expected = statistics.median(samples)
    if round_timing(median) != round_timing(expected):
        raise reader.error(where, f"has median {median!r} but its samples have median {expected!r}")
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
    changes nothing under baselines/). Returns the baseline as a later read will see it
    (rounded, without per-round times).
    """
    name = os.fspath(path)
    check_complete(results, origin=f"the run to store in baseline '{name}'")
    obj = baseline_to_json(results)
    stored = baseline_from_json(obj, origin=f"the run to store in baseline '{name}'", path=name)
    text = dump_json_compact(obj)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)
    return stored


@dataclass(frozen=True)
class DiffRow:
    """One line of the update-baseline printout."""

    name: str  # benchmark name, or memory scenario
    metric: str  # "median s", "peak bytes", "allocations", "instructions/call"
    old: float | None  # None: new
    new: float | None  # None: removed
    pct: float | None  # (new - old) / old * 100; None when either side is absent

    @property
    def comparable(self) -> bool:
        """Whether old and new can be compared wherever each was measured: memory and counts
        are deterministic; a timing is only comparable with one taken beside it."""
        return self.metric != TIMING_METRIC


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
        rows.append(_row(name, TIMING_METRIC, o.median if o else None, n.median if n else None))
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
