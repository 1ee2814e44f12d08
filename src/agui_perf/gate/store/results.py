"""One normalized, schema-versioned Results format per side (accepted code, current code).

Inputs are pytest-benchmark `--benchmark-json` files (one per fresh process), the memray
scenario objects written by `gate/measure/memory.py` and the instruction counts of
`gate/measure/counts.py`.
Everything that comes in is validated here, once; every defect is a `GateError` that names
the file and the problem.

How a crash shows up, and what this module does about it:

- The benchmarked function raised: pytest-benchmark marks it `has_error` and leaves it *out* of
  the JSON. `merge_processes` rejects a benchmark present in some processes but not in all, and
  one listed in `expected` (the collected names) but present in none.
- Every benchmark crashed, or none was collected: pytest-benchmark writes *no* JSON file at all
  ("Not saving anything"), so the file is missing (or holds `"benchmarks": []`): rejected.
- An entry without `stats` (or `stats: null`, or no `stats.data`): rejected; the gate compares
  per-process medians of the raw round times and has nothing to compare without them.
- `stats.rounds` of 0, an empty or inconsistent `stats.data`, NaN/Infinity (Python's json writes
  them), negative times, or a median of 0 (the timer could not resolve it): rejected.

Derived figure, the server's CPU time: a benchmark that talks to a server process publishes
`extra_info["server_cpu_s"]`, the CPU seconds the server spent on each timed round (read from
the server process itself, client and server pinned to different cores; see
agui_perf/suite/server_cpu.py). Wall time of such a benchmark spreads 20-50 % between fresh
processes on a shared machine because client and server share the cores; the server's CPU
time hardly moves with the load. So `load_pytest_benchmark` turns that list into a benchmark
of its own, `"<name> · server CPU"` (`SERVER_CPU_SUFFIX`), whose rounds are those CPU times:
from here on it is an ordinary row (one figure per process, rank test, effect, extension;
the figure is the lower quartile of the rounds rather than their median, `server_cpu_figure`),
and the wall-clock row stays as it was. The derived row keeps only the `server_cpu_*` and
`pinning` entries of `extra_info`, so budgets and charts read each figure once; the list
itself is not kept in `extra_info` (only numbers and strings are).

Results JSON (`results_to_json` / `results_from_json`), schema_version 2 (version 1, written
before instruction counts, is still read: its counts are "not in the file")::

    {
      "schema_version": 2,
      "source": {"commit": str, "tree_hash": str, "dirty": bool},
      "environment": {see agui_perf.gate.store.environment.environment_to_json},
      "benchmarks": {
        "<name>": {
          "samples": [float > 0, ...],          # seconds: one median per process
          "rounds": [[float >= 0, ...], ...],   # seconds: stats.data of each process, or []
          "summary": {"median", "iqr", "mean", "min", "max", "stddev": float >= 0,
                      "rounds": int >= 1},      # over all rounds of all processes
          "extra_info": {str: int | float | str}  # median over processes (errors: worst)
        }, ...
      },
      "memory": {
        "<scenario>": {"peak_bytes": int, "total_allocations": int, "leaked_bytes": int,
                       "top_sites": [{"location": "file.py:12", "function": str,
                                      "bytes": int, "allocations": int}, ...]}, ...
      },
      "counts": {                               # callgrind instruction counts (version 2)
        "tool": "valgrind-3.19.0",              # "" when not counted
        "missing": str | null,                  # why not counted ("valgrind not found")
        "benchmarks": {"<name>": {"instructions": int >= 1, "calls": int >= 1}, ...}
      }
    }

Benchmarks are keyed by pytest-benchmark's `name` (test name with parameters); two benchmarks
with one name in one run are rejected rather than silently merged.
"""

from __future__ import annotations

import math
import os
import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agui_perf.gate._codec import from_json, to_json
from agui_perf.gate._io import Reader, load_json_file
from agui_perf.gate.errors import GateError
from agui_perf.gate.store.environment import Environment, environment_from_json

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

__all__ = [
    "SCHEMA_VERSION",
    "SERVER_CPU_SUFFIX",
    "AllocationSite",
    "BenchmarkResult",
    "CountResult",
    "Counts",
    "MemoryResult",
    "ProcessBenchmark",
    "ProcessRun",
    "Results",
    "Scalar",
    "Source",
    "Summary",
    "benchmark_extra_info",
    "check_complete",
    "check_schema_version",
    "counts_from_json",
    "counts_to_json",
    "load_memory",
    "load_pytest_benchmark",
    "measured_name",
    "memory_from_json",
    "memory_to_json",
    "merge_processes",
    "results_from_json",
    "results_to_json",
    "samples_from_json",
    "server_cpu_figure",
    "source_from_json",
    "summarize",
    "summary_from_json",
]

SCHEMA_VERSION = 2
#: Versions this gate reads: 1 has no instruction counts (read as "not in the file").
READABLE_SCHEMA_VERSIONS = (1, 2)
#: The first version with instruction counts.
COUNTS_SCHEMA_VERSION = 2
RESULTS_HINT = "re-run the measurement (nox -s perf)"
#: extra_info key of a server benchmark: the server's CPU seconds of each timed round.
SERVER_CPU_KEY = "server_cpu_s"
#: Appended to a benchmark's name to name its derived server-CPU row.
SERVER_CPU_SUFFIX = " · server CPU"
#: extra_info entries the derived row carries over (the rest stay with the wall-clock row).
_SERVER_CPU_INFO = ("server_cpu_", "pinning")

Scalar = int | float | str


@dataclass(frozen=True)
class Source:
    commit: str  # full hash, or "" when not in a git checkout
    tree_hash: str  # git tree hash of src/ (what the timings depend on)
    dirty: bool  # uncommitted changes under src/ at measurement time


@dataclass(frozen=True)
class Summary:
    """pytest-benchmark's summary statistics, in seconds."""

    median: float
    iqr: float
    mean: float
    min: float
    max: float
    stddev: float
    rounds: int


@dataclass(frozen=True)
class ProcessBenchmark:
    """One benchmark as measured by one fresh process."""

    name: str
    #: What this process contributes to the rank test: the median of its rounds, or for a
    #: server-CPU row their lower quartile (`server_cpu_figure` says why).
    figure: float
    data: tuple[float, ...]  # stats.data: the time of each round, seconds
    extra_info: Mapping[str, Scalar] = field(default_factory=dict)


@dataclass(frozen=True)
class ProcessRun:
    """Everything one process measured; `origin` quotes its file for error messages."""

    origin: str
    benchmarks: Mapping[str, ProcessBenchmark]


@dataclass(frozen=True)
class BenchmarkResult:
    name: str
    samples: tuple[float, ...]  # one median per process: what the rank test compares
    rounds: tuple[tuple[float, ...], ...]  # per process stats.data; () when read from a baseline
    summary: Summary  # over every round of every process
    extra_info: Mapping[str, Scalar] = field(default_factory=dict)

    @property
    def median(self) -> float:
        """Median of the per-process medians: the figure the ratio compares."""
        return statistics.median(self.samples)


@dataclass(frozen=True)
class AllocationSite:
    location: str  # "path/file.py:123"
    function: str
    bytes: int
    allocations: int


@dataclass(frozen=True)
class MemoryResult:
    scenario: str
    peak_bytes: int
    total_allocations: int
    leaked_bytes: int
    top_sites: tuple[AllocationSite, ...] = ()


#: `Counts.missing` of a side nobody counted (e.g. Results built by hand).
NOT_COUNTED = "not measured"


@dataclass(frozen=True)
class CountResult:
    """One benchmark's callgrind instruction count (Ir) over `calls` calls of its target."""

    benchmark: str
    instructions: int
    calls: int

    @property
    def per_call(self) -> float:
        return self.instructions / self.calls


@dataclass(frozen=True)
class Counts:
    """One side's instruction counts, or why it has none (`missing`, e.g. "valgrind not found").

    `tool` names the counter ("valgrind-3.19.0"): counts from two versions are not comparable.
    """

    benchmarks: Mapping[str, CountResult] = field(default_factory=dict)
    tool: str = ""
    missing: str | None = NOT_COUNTED


@dataclass(frozen=True)
class Results:
    source: Source
    environment: Environment
    benchmarks: Mapping[str, BenchmarkResult]
    memory: Mapping[str, MemoryResult] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION
    counts: Counts = field(default_factory=Counts)


def summarize(values: Sequence[float]) -> Summary:
    """Summary statistics of round times (needs at least one value)."""
    data = sorted(values)
    if len(data) >= 2:
        q1, _, q3 = statistics.quantiles(data, n=4, method="inclusive")
        iqr, stddev = q3 - q1, statistics.stdev(data)
    else:
        iqr, stddev = 0.0, 0.0
    return Summary(
        median=statistics.median(data),
        iqr=iqr,
        mean=statistics.fmean(data),
        min=data[0],
        max=data[-1],
        stddev=stddev,
        rounds=len(data),
    )


# --- pytest-benchmark input -------------------------------------------------------------------


def _origin_of(source: object, kind: str, origin: str | None) -> str:
    if origin is not None:
        return origin
    if isinstance(source, str | os.PathLike):
        return f"{kind} '{os.fspath(source)}'"
    return kind


def load_pytest_benchmark(
    source: str | os.PathLike[str] | Mapping[str, object], *, origin: str | None = None
) -> ProcessRun:
    """Read one process's `--benchmark-json` output (a path or the parsed object)."""
    where_from = _origin_of(source, "benchmark results", origin)
    reader = Reader(where_from, RESULTS_HINT)
    obj: object = source
    if isinstance(source, str | os.PathLike):
        obj = load_json_file(source, origin=where_from, hint=RESULTS_HINT)
    top = reader.mapping(obj, "")
    entries = reader.array(top, "benchmarks", "")
    if not entries:
        raise reader.error("", "holds no benchmarks: every benchmark crashed or none was collected")
    found: dict[str, ProcessBenchmark] = {}
    for index, entry in enumerate(entries):
        for bench in _process_benchmarks(reader, entry, index):
            if bench.name in found:
                raise reader.error(
                    "", f"has two benchmarks named {bench.name!r}; give each test a distinct name"
                )
            found[bench.name] = bench
    return ProcessRun(origin=where_from, benchmarks=found)


def measured_name(name: str) -> str:
    """The benchmark that measures `name`: itself, or the one a derived row comes from."""
    return name.removesuffix(SERVER_CPU_SUFFIX)


def _process_benchmarks(reader: Reader, entry: object, index: int) -> list[ProcessBenchmark]:
    """The benchmark of one entry, then its server-CPU row if it published one."""
    bench = _process_benchmark(reader, entry, index)
    data = reader.mapping(entry, f"benchmark #{index}")
    raw = reader.mapping(data.get("extra_info") or {}, f"benchmark {bench.name!r} extra_info")
    if SERVER_CPU_KEY not in raw:
        return [bench]
    return [bench, _server_cpu_benchmark(reader, bench, raw[SERVER_CPU_KEY])]


def server_cpu_figure(times: Sequence[float]) -> float:
    """The CPU time one process reports for a server-CPU row: the lower quartile of its rounds.

    Why not the median, as for every other row: on a shared host the server's CPU time per
    round goes up in phases lasting from a fraction of a second to several seconds. Measured
    on this project's 2-vCPU KVM machine with fresh servers and the 20,000-event burst: in 5
    of 40 processes a stretch of rounds cost 1.3-1.6x the server CPU of the others, with the
    same number of reads and context switches (the same work), while a calibration loop timed
    on the server's core just before and after each round moved 0-15 %, so it cannot cancel
    the phase (and this guest has no hardware counters to count instructions instead). A
    phase over half of a process's rounds moves its median; a code change moves every round,
    and the lower quartile keeps that while dropping most of what a phase added. Recomputed
    from the rounds of the gate's own runs here (groups of 8 processes, median spread over the
    groups; stream, concurrency, latency, workflow): quiet hours (30 groups) 1.8/1.9/8.8/4.5 %
    with the median, 1.4/1.9/5.4/3.0 % with the lower quartile; busier ones (30 groups)
    2.9/3.1/14/7.7 % against 2.8/2.9/12/6.8 %; a noisy hour (12 groups) 4.4/3.5/19/11 % against
    3.1/2.7/13/5.3 %. No help when phases cover whole processes: in the noisiest hour measured
    (30 groups) 19/13/17/18 % against 18/12/16/21 %. Linear interpolation between order
    statistics (numpy's default): with 3 rounds it is the mean of the two lowest, never the
    single luckiest round.
    """
    ordered = sorted(times)
    position = (len(ordered) - 1) / 4
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _server_cpu_benchmark(reader: Reader, bench: ProcessBenchmark, raw: object) -> ProcessBenchmark:
    where = f"benchmark {bench.name!r} extra_info {SERVER_CPU_KEY!r}"
    if not isinstance(raw, list) or not raw:
        raise reader.error(where, "should be a non-empty list of CPU seconds, one per round")
    times = tuple(reader.check_number(value, f"{where}[{i}]") for i, value in enumerate(raw))
    figure = server_cpu_figure(times)
    if figure <= 0:
        raise reader.error(where, "has a CPU time of 0 s: the server's CPU clock did not advance")
    return ProcessBenchmark(
        name=bench.name + SERVER_CPU_SUFFIX,
        figure=figure,
        data=times,
        extra_info={k: v for k, v in bench.extra_info.items() if k.startswith(_SERVER_CPU_INFO)},
    )


def _process_benchmark(reader: Reader, entry: object, index: int) -> ProcessBenchmark:
    data = reader.mapping(entry, f"benchmark #{index}")
    name = reader.string(data, "name", f"benchmark #{index}")
    where = f"benchmark {name!r}"
    stats_obj = data.get("stats")
    if stats_obj is None:
        raise reader.error(where, "has no stats: it crashed or never called the fixture")
    stats = reader.mapping(stats_obj, f"{where} stats")
    if "data" not in stats:
        raise reader.error(
            where, "has no per-round times (stats.data); write it with pytest --benchmark-json"
        )
    rounds = reader.integer(stats, "rounds", f"{where} stats", minimum=0)
    if rounds == 0:
        raise reader.error(where, "ran zero rounds")
    raw = reader.array(stats, "data", f"{where} stats")
    times = tuple(reader.check_number(value, f"{where} round {i}") for i, value in enumerate(raw))
    if len(times) != rounds:
        raise reader.error(
            where, f"has {len(times)} round times in stats.data but stats.rounds is {rounds}"
        )
    median = statistics.median(times)
    if median <= 0:
        raise reader.error(
            where, "has a median time of 0 s: the timer cannot resolve it; make it do more work"
        )
    raw_extra = reader.mapping(data.get("extra_info") or {}, f"{where} extra_info")
    # The per-round list becomes a row of its own (_server_cpu_benchmark), not a figure here.
    kept = {key: value for key, value in raw_extra.items() if key != SERVER_CPU_KEY}
    extra = benchmark_extra_info(reader, kept, where)
    return ProcessBenchmark(name=name, figure=median, data=times, extra_info=extra)


def benchmark_extra_info(reader: Reader, obj: object, where: str) -> dict[str, Scalar]:
    data = reader.mapping(obj, f"{where} extra_info")
    extra: dict[str, Scalar] = {}
    for key, value in data.items():
        if isinstance(value, str):
            extra[key] = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise reader.error(where, f"extra_info {key!r} is {value!r}; expected a number")
            extra[key] = value
        else:
            raise reader.error(
                where, f"extra_info {key!r} is {value!r}; only numbers and strings are kept"
            )
    return extra


def merge_processes(
    runs: Sequence[ProcessRun], *, expected: Iterable[str] | None = None
) -> dict[str, BenchmarkResult]:
    """Combine the processes of one side: one sample (that process's median) per process.

    A benchmark must be present in every process; `expected` (the collected benchmark names,
    when the caller knows them) catches one that crashed in every process.
    """
    if not runs:
        raise GateError(f"no benchmark results to merge — {RESULTS_HINT}")
    names = sorted({name for run in runs for name in run.benchmarks})
    for name in sorted(set(expected or ()) - set(names)):
        raise GateError(
            f"benchmark {name!r} is missing from every process: it crashed or was skipped "
            f"— fix it and {RESULTS_HINT}"
        )
    merged: dict[str, BenchmarkResult] = {}
    for name in names:
        missing = [run.origin for run in runs if name not in run.benchmarks]
        if missing:
            raise GateError(
                f"{missing[0]}: benchmark {name!r} is missing (present in "
                f"{len(runs) - len(missing)} of {len(runs)} processes): it crashed in that "
                f"process — fix it and {RESULTS_HINT}"
            )
        per_process = [run.benchmarks[name] for run in runs]
        rounds = tuple(bench.data for bench in per_process)
        merged[name] = BenchmarkResult(
            name=name,
            samples=tuple(bench.figure for bench in per_process),
            rounds=rounds,
            summary=summarize([t for process in rounds for t in process]),
            extra_info=_merge_extra([bench.extra_info for bench in per_process]),
        )
    return merged


#: Figures merged by their worst value across processes instead of the median.
_WORST_CASE: Mapping[str, Callable[[Sequence[int | float]], int | float]] = {
    "errors": max,
    "error_rate": max,
    "concurrent_streams": min,
}


def _merge_extra(infos: Sequence[Mapping[str, Scalar]]) -> dict[str, Scalar]:
    merged: dict[str, Scalar] = {}
    for key in sorted({key for info in infos for key in info}):
        values = [info[key] for info in infos if key in info]
        numbers = [v for v in values if not isinstance(v, str)]
        if len(numbers) == len(values):
            worst = _WORST_CASE.get(key)
            if worst is not None:
                # Errors are never averaged away: one process that dropped streams is a finding.
                merged[key] = worst(numbers)
            # The median, like the timings: one slow process should not decide a budget alone.
            elif all(isinstance(v, int) for v in numbers):
                merged[key] = statistics.median_low(numbers)
            else:
                merged[key] = statistics.median(float(v) for v in numbers)
        else:
            merged[key] = "; ".join(sorted({str(v) for v in values}))
    return merged


# --- memory input -----------------------------------------------------------------------------


def load_memory(
    source: str | os.PathLike[str] | Mapping[str, object], *, origin: str | None = None
) -> MemoryResult:
    """Read one memray scenario object (the contract's JSON) from a path or a parsed object."""
    where_from = _origin_of(source, "memory results", origin)
    obj: object = source
    if isinstance(source, str | os.PathLike):
        obj = load_json_file(source, origin=where_from, hint=RESULTS_HINT)
    reader = Reader(where_from, RESULTS_HINT)
    data = reader.mapping(obj, "")
    scenario = reader.string(data, "scenario", "")
    return memory_from_json(scenario, data, reader)


def memory_from_json(scenario: str, obj: object, reader: Reader) -> MemoryResult:
    where = f"memory scenario {scenario!r}"
    data = reader.mapping(obj, where)
    sites: list[AllocationSite] = []
    for index, raw in enumerate(reader.array(data, "top_sites", where)):
        at = f"{where} top_sites[{index}]"
        sites.append(from_json(AllocationSite, reader, reader.mapping(raw, at), at))
    # A peak of 0 bytes means memray tracked nothing: a broken run, not a small one.
    least = {"peak_bytes": 1, "total_allocations": 1}
    return from_json(
        MemoryResult, reader, data, where, minimum=least, scenario=scenario, top_sites=tuple(sites)
    )


def memory_to_json(result: MemoryResult) -> dict[str, object]:
    return to_json(result, skip={"scenario"})


# --- instruction counts -----------------------------------------------------------------------


def counts_to_json(counts: Counts) -> dict[str, object]:
    benchmarks = sorted(counts.benchmarks.items())
    return to_json(counts, benchmarks={n: to_json(c, skip={"benchmark"}) for n, c in benchmarks})


def counts_from_json(
    reader: Reader, data: Mapping[str, object], version: int, *, absent: str
) -> Counts:
    """The "counts" of a document of schema `version`; before version 2 they are `absent`."""
    if version < COUNTS_SCHEMA_VERSION:
        return Counts(missing=absent)
    counts = reader.sub(data, "counts", "")
    missing = counts.get("missing")
    if missing is not None and not isinstance(missing, str):
        raise reader.error("counts", f"field 'missing' is {missing!r}; expected a string or null")
    benchmarks: dict[str, CountResult] = {}
    for name, raw in sorted(reader.sub(counts, "benchmarks", "counts").items()):
        where = f"instruction count {name!r}"
        entry = reader.mapping(raw, where)
        # Zero instructions means callgrind counted nothing: a broken run, not a fast one.
        least = {"instructions": 1, "calls": 1}
        benchmarks[name] = from_json(
            CountResult, reader, entry, where, minimum=least, benchmark=name
        )
    return Counts(
        benchmarks=benchmarks, tool=reader.string(counts, "tool", "counts"), missing=missing
    )


# --- Results JSON -----------------------------------------------------------------------------


def results_to_json(results: Results) -> dict[str, object]:
    benchmarks = sorted(results.benchmarks.items())
    return to_json(
        results,
        benchmarks={name: to_json(bench, skip={"name"}) for name, bench in benchmarks},
        memory={name: memory_to_json(mem) for name, mem in sorted(results.memory.items())},
        counts=counts_to_json(results.counts),
    )


def check_schema_version(reader: Reader, data: Mapping[str, object]) -> int:
    """The document's schema version, if this gate reads it (else a GateError naming both)."""
    version = reader.integer(data, "schema_version", "", minimum=0)
    if version not in READABLE_SCHEMA_VERSIONS:
        readable = " or ".join(str(v) for v in READABLE_SCHEMA_VERSIONS)
        raise reader.error("", f"has schema version {version}; this gate reads version {readable}")
    return version


def source_from_json(reader: Reader, obj: object) -> Source:
    return from_json(Source, reader, reader.mapping(obj, "source"), "source")


def summary_from_json(reader: Reader, obj: object, where: str) -> Summary:
    w = f"{where} summary"
    summary = from_json(Summary, reader, reader.mapping(obj, w), w)
    if summary.rounds == 0:
        raise reader.error(w, "has zero rounds")
    return summary


def samples_from_json(reader: Reader, obj: Mapping[str, object], where: str) -> tuple[float, ...]:
    raw = reader.array(obj, "samples", where)
    if not raw:
        raise reader.error(where, "has no samples (per-process medians)")
    return tuple(
        reader.check_number(value, f"{where} sample {i}", positive=True)
        for i, value in enumerate(raw)
    )


def _benchmark_from_json(reader: Reader, name: str, obj: object) -> BenchmarkResult:
    where = f"benchmark {name!r}"
    data = reader.mapping(obj, where)
    samples = samples_from_json(reader, data, where)
    rounds: list[tuple[float, ...]] = []
    for p, process in enumerate(reader.array(data, "rounds", where)):
        if not isinstance(process, list) or not process:
            raise reader.error(where, f"rounds of process {p} should be a non-empty array")
        rounds.append(
            tuple(
                reader.check_number(v, f"{where} process {p} round {i}")
                for i, v in enumerate(process)
            )
        )
    if rounds and len(rounds) != len(samples):
        raise reader.error(
            where, f"has round times of {len(rounds)} processes but {len(samples)} samples"
        )
    return BenchmarkResult(
        name=name,
        samples=samples,
        rounds=tuple(rounds),
        summary=summary_from_json(reader, reader.field(data, "summary", where), where),
        extra_info=benchmark_extra_info(reader, data.get("extra_info") or {}, where),
    )


def results_from_json(obj: object, *, origin: str = "results", hint: str = RESULTS_HINT) -> Results:
    reader = Reader(origin, hint)
    data = reader.mapping(obj, "")
    version = check_schema_version(reader, data)
    benchmarks = reader.sub(data, "benchmarks", "")
    memory = reader.sub(data, "memory", "")
    return Results(
        source=source_from_json(reader, reader.field(data, "source", "")),
        environment=environment_from_json(reader.field(data, "environment", ""), reader),
        benchmarks={
            name: _benchmark_from_json(reader, name, value)
            for name, value in sorted(benchmarks.items())
        },
        memory={
            name: memory_from_json(name, value, reader) for name, value in sorted(memory.items())
        },
        schema_version=SCHEMA_VERSION,
        counts=counts_from_json(
            reader, data, version, absent=f"not in the results file (schema version {version})"
        ),
    )


def check_complete(results: Results, *, origin: str = "results") -> None:
    """Raise GateError unless `results` is a complete, valid run (what a baseline needs).

    Validation goes through the JSON form so that exactly the rules readers apply are applied
    before anything is written.
    """
    if not results.benchmarks:
        raise GateError(f"{origin} holds no benchmarks — {RESULTS_HINT}")
    results_from_json(results_to_json(results), origin=origin)
    for name, bench in results.benchmarks.items():
        if name != bench.name:
            raise GateError(f"{origin}: benchmark {name!r} is stored under the name {bench.name!r}")
    for name, mem in results.memory.items():
        if name != mem.scenario:
            raise GateError(f"{origin}: memory scenario {name!r} is stored as {mem.scenario!r}")
    for name, count in results.counts.benchmarks.items():
        if name != count.benchmark:
            raise GateError(
                f"{origin}: instruction count {name!r} is stored as {count.benchmark!r}"
            )
