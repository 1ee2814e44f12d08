from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import random
from typing import TYPE_CHECKING

import pytest

from agui_perf.gate.errors import GateError
from agui_perf.gate.store.baseline import (
    NOT_IN_BASELINE,
    DiffRow,
    baseline_path,
    baseline_to_json,
    diff_baselines,
    read_baseline,
    round_count,
    round_timing,
    write_baseline,
)
from agui_perf.gate.store.results import AllocationSite, CountResult, Counts, Results
from tests._support.results import make_env, make_memory, make_results

if TYPE_CHECKING:
    from pathlib import Path

KEY = "linux-x86_64-cpython3.11"


COUNTS = Counts(
    benchmarks={"test_encode": CountResult("test_encode", instructions=4_397_621, calls=20)},
    tool="valgrind-3.19.0",
    missing=None,
)


def sample_results() -> Results:
    results = make_results(
        {"test_encode": [1.0, 1.2, 1.1], "test_app": [0.002, 0.0021]},
        [make_memory("stream", 2_000_000, 9000, [AllocationSite("a.py:1", "f", 100, 2)])],
        extra_info={"test_app": {"latency_p95_ms": 12.5, "events_per_s": 900}},
    )
    return dataclasses.replace(results, counts=COUNTS)


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / f"{KEY}.json"
    results = sample_results()
    written = write_baseline(path, results)
    read = read_baseline(path, expected_key=KEY)
    assert read == written
    assert read.results.benchmarks["test_encode"].median == 1.1
    assert read.results.benchmarks["test_encode"].samples == (1.0, 1.2, 1.1)
    assert read.results.memory == results.memory
    # Stored to COUNT_DIGITS significant digits: 4_397_621 -> 4_398_000.
    assert read.results.counts.benchmarks["test_encode"].instructions == 4_398_000
    for name, bench in read.results.benchmarks.items():
        # No per-round times; the summary to TIMING_DIGITS significant digits.
        assert bench.rounds == ()
        want = results.benchmarks[name]
        assert bench.summary.rounds == want.summary.rounds
        for figure in ("median", "iqr", "mean", "min", "max", "stddev"):
            assert getattr(bench.summary, figure) == pytest.approx(
                getattr(want.summary, figure), rel=5e-3
            )


def test_file_is_compact_sorted_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    write_baseline(path, sample_results())
    text = path.read_text()
    assert text.endswith("}\n")
    obj = json.loads(text)
    # Keys sorted everywhere, as a pretty-printed dump would have them.
    assert json.dumps(obj, sort_keys=True) == json.dumps(json.loads(text))
    lines = text.splitlines()
    # Every list or object of plain values is one line; the rest one entry per line.
    assert '      "samples": [1.0, 1.2, 1.1],' in lines
    assert '      "extra_info": {},' in lines
    assert '      "extra_info": {"events_per_s": 900, "latency_p95_ms": 12.5},' in lines
    summary = [line for line in lines if line.lstrip().startswith('"summary": {"iqr": ')]
    assert len(summary) == 2
    assert '      "peak_bytes": 2000000,' in lines
    assert '      "total_allocations": 9000' in lines
    assert (
        '        {"allocations": 2, "bytes": 100, "function": "f", "location": "a.py:1"}' in lines
    )
    assert '      "test_encode": {"calls": 20, "instructions": 4398000}' in lines
    assert obj["schema_version"] == 2
    assert obj["environment_key"] == KEY
    assert obj["benchmarks"]["test_encode"]["median"] == 1.1
    assert "rounds" not in obj["benchmarks"]["test_encode"]
    assert obj["counts"] == {
        "tool": "valgrind-3.19.0",
        "missing": None,
        "benchmarks": {"test_encode": {"instructions": 4_398_000, "calls": 20}},
    }
    write_baseline(path, read_baseline(path, expected_key=KEY).results)
    assert path.read_text() == text


def test_timings_are_stored_to_three_significant_digits(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    results = make_results(
        {"test_x": [1.23456e-6, 1.23549e-6, 9.87654e-3, 2.0e-6]},
        extra_info={"test_x": {"latency_p95_ms": 0.63000845, "events": 12_345, "pin": "cpu 1"}},
    )
    write_baseline(path, results)
    stored = json.loads(path.read_text())["benchmarks"]["test_x"]
    assert stored["samples"] == [1.23e-6, 1.24e-6, 9.88e-3, 2.0e-6]
    # The median of the rounded samples, rounded again: (1.24e-6 + 2.0e-6) / 2.
    assert stored["median"] == 1.62e-6
    # Floats are timings and latencies; integers are counts and stay exact, strings as they are.
    assert stored["extra_info"] == {"events": 12_345, "latency_p95_ms": 0.63, "pin": "cpu 1"}
    assert all(f"{value:.3g}" == repr(value) for value in stored["summary"].values())
    assert read_baseline(path, expected_key=None).results.benchmarks["test_x"].median == (
        (1.24e-6 + 2.0e-6) / 2
    )


def test_round_timing_and_count() -> None:
    assert round_timing(7.791560345401996e-07) == 7.79e-07
    assert round_timing(0.09054482750025272) == 0.0905
    assert round_timing(1309352.0) == 1310000.0
    assert round_count(22_059_698) == 22_060_000
    assert round_count(168_301) == 168_300
    assert round_count(4_875) == 4_875
    assert round_count(1) == 1


def test_a_baseline_in_the_earlier_layout_is_still_read(tmp_path: Path) -> None:
    # One number per line and full precision: how every baseline was written before.
    path = tmp_path / "b.json"
    obj = baseline_to_json(sample_results())
    bench = obj["benchmarks"]["test_app"]  # type: ignore[index]
    bench["samples"] = [0.0020001234567, 0.0021007654321]
    bench["median"] = (0.0020001234567 + 0.0021007654321) / 2
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    read = read_baseline(path, expected_key=KEY)
    assert read.results.benchmarks["test_app"].samples == (0.0020001234567, 0.0021007654321)
    # Rewritten, it takes the compact layout, rounded.
    write_baseline(path, read.results)
    assert '      "samples": [0.002, 0.0021],' in path.read_text().splitlines()


def _remeasured(results: Results, noise: float, seed: int) -> Results:
    """`results` measured again on unchanged code: every timing moved by up to ±noise."""
    rng = random.Random(seed)

    def jitter(value: float) -> float:
        return value * (1 + rng.uniform(-noise, noise))

    benchmarks = {}
    for name, bench in results.benchmarks.items():
        summary = dataclasses.replace(
            bench.summary,
            median=jitter(bench.summary.median),
            iqr=jitter(bench.summary.iqr),
            mean=jitter(bench.summary.mean),
            min=jitter(bench.summary.min),
            max=jitter(bench.summary.max),
            stddev=jitter(bench.summary.stddev),
        )
        extra = {
            key: jitter(value) if isinstance(value, float) else value
            for key, value in bench.extra_info.items()
        }
        benchmarks[name] = dataclasses.replace(
            bench,
            samples=tuple(jitter(s) for s in bench.samples),
            summary=summary,
            extra_info=extra,
        )
    return dataclasses.replace(results, benchmarks=benchmarks)


def _changed_lines(before: str, after: str) -> int:
    matcher = difflib.SequenceMatcher(a=before.splitlines(), b=after.splitlines(), autojunk=False)
    return sum(
        max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"
    )


def test_an_unchanged_re_measure_changes_at_most_four_lines_per_benchmark(tmp_path: Path) -> None:
    names = [f"test_{i}" for i in range(12)]
    results = make_results(
        {name: [1e-6 * (i + 1) * (1 + k / 100) for k in range(8)] for i, name in enumerate(names)},
        [make_memory("stream", 2_000_000, 9000)],
        extra_info={name: {"latency_p95_ms": 0.5, "events": 75} for name in names},
    )
    path = tmp_path / "b.json"
    write_baseline(path, results)
    before = path.read_text()
    write_baseline(path, _remeasured(results, noise=0.05, seed=1))
    after = path.read_text()
    changed = _changed_lines(before, after)
    # Median, samples, summary and extra_info of each benchmark, at most; memory and the
    # rest of the file untouched. The old layout changed 8 + 7 + 1 + 1 lines per benchmark.
    assert 0 < changed <= 4 * len(names)
    assert before.count("\n") == after.count("\n")
    rest = '\n  "counts": {'
    assert before[before.index(rest) :] == after[after.index(rest) :]


def test_baseline_path() -> None:
    assert str(baseline_path("baselines", KEY)) == f"baselines/{KEY}.json"
    assert baseline_path("baselines").name.endswith(".json")


def test_invalid_results_leave_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    write_baseline(path, sample_results())
    before = path.read_bytes()
    results = sample_results()
    broken = dataclasses.replace(results.benchmarks["test_encode"], samples=(math.nan, 1.0))
    bad = dataclasses.replace(results, benchmarks={**results.benchmarks, "test_encode": broken})
    with pytest.raises(
        GateError, match=r"the run to store in baseline '.*b\.json'.*sample 0 is nan"
    ):
        write_baseline(path, bad)
    with pytest.raises(GateError, match="holds no benchmarks"):
        write_baseline(path, dataclasses.replace(results, benchmarks={}))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["b.json"]


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_failure_mid_write_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    path = tmp_path / "b.json"
    write_baseline(path, sample_results())
    before = path.read_bytes()

    def boom(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, failing, boom)
    changed = make_results({"test_encode": [9.0]})
    with pytest.raises(OSError, match="disk full"):
        write_baseline(path, changed)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["b.json"]


def test_write_creates_the_directory(tmp_path: Path) -> None:
    path = tmp_path / "baselines" / "x.json"
    write_baseline(path, sample_results())
    assert read_baseline(path, expected_key=None).environment_key == KEY


# --- reading: every malformed input is one line naming the file and the fix --------------------


def _write(tmp_path: Path, obj: object) -> Path:
    path = tmp_path / "b.json"
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return path


def _doc(**changes: object) -> dict[str, object]:
    doc = baseline_to_json(sample_results())
    doc.update(changes)
    return doc


def _bench_doc(**changes: object) -> dict[str, object]:
    doc = baseline_to_json(sample_results())
    benchmarks = doc["benchmarks"]
    assert isinstance(benchmarks, dict)
    benchmarks["test_encode"].update(changes)
    return doc


def _counts_doc(drop: str = "", **changes: object) -> dict[str, object]:
    doc = baseline_to_json(sample_results())
    counts = doc["counts"]
    assert isinstance(counts, dict)
    entry = counts["benchmarks"]["test_encode"]
    entry.update(changes)
    if drop:
        del entry[drop]
    return doc


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ("{not json", "is not valid JSON"),
        ('{"schema_version": NaN}', "holds a non-finite number NaN"),
        ("[1, 2]", "should be a JSON object, found an array"),
        (_doc(schema_version=3), "has schema version 3; this gate reads version 1 or 2"),
        (_doc(schema_version="1"), "field 'schema_version' should be an integer"),
        ({"schema_version": 1}, "has no field 'environment_key'"),
        (_doc(benchmarks=[]), "field 'benchmarks' should be a JSON object"),
        (_doc(environment_key="linux-aarch64-cpython3.11"), "its fingerprint is"),
        (_bench_doc(samples=[1.0, -1.0]), "sample 1 is -1.0; it must be positive"),
        (_bench_doc(samples=[]), "has no samples"),
        (_bench_doc(median=2.0), "has median 2.0 but its samples have median 1.1"),
        (_bench_doc(summary={"median": 1.0}), "summary has no field 'iqr'"),
        (_doc(counts=[]), "field 'counts' should be a JSON object"),
        (_counts_doc(instructions=0), "instruction count 'test_encode' field 'instructions'"),
        (_counts_doc(calls=None), "instruction count 'test_encode' field 'calls'"),
        (_counts_doc(drop="calls"), "instruction count 'test_encode' has no field 'calls'"),
        (_doc(counts={"tool": "v", "missing": 3, "benchmarks": {}}), "field 'missing' is 3"),
        (_doc(counts={"missing": None, "benchmarks": {}}), "counts has no field 'tool'"),
    ],
)
def test_malformed_baselines(tmp_path: Path, content: object, message: str) -> None:
    path = _write(tmp_path, content)
    with pytest.raises(GateError, match=message) as err:
        read_baseline(path, expected_key=KEY)
    text = str(err.value)
    assert text.startswith(f"baseline '{path}'")
    assert text.endswith("— run nox -s update-baseline")
    assert "\n" not in text


def test_schema_version_message_is_the_documented_one(tmp_path: Path) -> None:
    path = _write(tmp_path, _doc(schema_version=3))
    with pytest.raises(GateError) as err:
        read_baseline(path, expected_key=KEY)
    assert str(err.value) == (
        f"baseline '{path}' has schema version 3; this gate reads version 1 or 2 "
        "— run nox -s update-baseline"
    )


def test_missing_baseline(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    with pytest.raises(GateError, match=r"baseline '.*nope\.json' does not exist — run nox"):
        read_baseline(path, expected_key=KEY)


def test_baseline_from_another_environment(tmp_path: Path) -> None:
    results = make_results({"a": [1.0]}, env=make_env(machine="aarch64", python_version="3.12.1"))
    path = tmp_path / "b.json"
    write_baseline(path, results)
    with pytest.raises(GateError) as err:
        read_baseline(path, expected_key=KEY)
    assert str(err.value) == (
        f"baseline '{path}' was measured on linux-aarch64-cpython3.12, not on this machine "
        f"({KEY}) — run nox -s update-baseline"
    )
    assert read_baseline(path, expected_key=None).environment_key == "linux-aarch64-cpython3.12"


# --- diff for the update-baseline printout ------------------------------------------------------


def test_diff_baselines(tmp_path: Path) -> None:
    old = write_baseline(tmp_path / "b.json", sample_results())
    new = make_results(
        {"test_encode": [1.21], "test_new": [0.5]},
        [make_memory("stream", 2_100_000, 9000)],
    )
    rows = diff_baselines(old, new)
    assert rows == [
        DiffRow("test_app", "median s", pytest.approx(0.00205), None, None),  # type: ignore[arg-type]
        DiffRow("test_encode", "median s", 1.1, 1.21, pytest.approx(10.0)),  # type: ignore[arg-type]
        DiffRow("test_new", "median s", None, 0.5, None),
        DiffRow("stream", "peak bytes", 2_000_000, 2_100_000, pytest.approx(5.0)),  # type: ignore[arg-type]
        DiffRow("stream", "allocations", 9000, 9000, 0.0),
        # `new` was not counted: the stored count leaves the file.
        # The count as stored: 4_397_621 to four significant digits, over 20 calls.
        DiffRow("test_encode", "instructions/call", 219_900.0, None, None),
    ]


def test_diff_against_nothing() -> None:
    rows = diff_baselines(None, make_results({"a": [1.0]}))
    assert rows == [DiffRow("a", "median s", None, 1.0, None)]


# --- schema version 2: instruction counts ----------------------------------------------------


def test_a_version_1_baseline_is_read_with_its_counts_not_in_the_baseline(tmp_path: Path) -> None:
    """A file written before instruction counts existed: still read, counts reported missing."""
    doc = baseline_to_json(sample_results())
    del doc["counts"]
    doc["schema_version"] = 1
    path = _write(tmp_path, doc)
    read = read_baseline(path, expected_key=KEY)
    assert read.results.counts == Counts(missing=NOT_IN_BASELINE)
    assert read.results.counts.missing == "not in the baseline"
    # Everything else is as it was written (and as a version 2 file stores it).
    written = write_baseline(tmp_path / "v2.json", sample_results())
    assert read.results.benchmarks == written.results.benchmarks
    assert read.results.memory == sample_results().memory


def test_a_version_1_baseline_ignores_a_counts_field(tmp_path: Path) -> None:
    # Version 1 had no counts; whatever a hand edit put there is not trusted as version 2 data.
    doc = baseline_to_json(sample_results())
    doc["schema_version"] = 1
    read = read_baseline(_write(tmp_path, doc), expected_key=KEY)
    assert read.results.counts.missing == NOT_IN_BASELINE
    assert not read.results.counts.benchmarks


def test_counts_round_trip_including_why_they_are_missing(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    missing = dataclasses.replace(sample_results(), counts=Counts(missing="valgrind not found"))
    assert read_baseline(write_baseline(path, missing).path, expected_key=KEY).results.counts == (
        Counts(missing="valgrind not found")
    )
    written = write_baseline(path, sample_results())
    assert read_baseline(path, expected_key=KEY).results.counts == written.results.counts
    assert written.results.counts == dataclasses.replace(
        COUNTS, benchmarks={"test_encode": CountResult("test_encode", 4_398_000, 20)}
    )


def test_a_count_stored_under_another_name_is_refused(tmp_path: Path) -> None:
    renamed = Counts(
        benchmarks={"a": CountResult("b", instructions=10, calls=1)}, tool="v", missing=None
    )
    with pytest.raises(GateError, match="instruction count 'a' is stored as 'b'"):
        write_baseline(tmp_path / "b.json", dataclasses.replace(sample_results(), counts=renamed))
    assert not (tmp_path / "b.json").exists()


def test_diff_shows_instructions_per_call(tmp_path: Path) -> None:
    old = write_baseline(tmp_path / "b.json", sample_results())
    more = Counts(
        benchmarks={
            "test_encode": CountResult("test_encode", instructions=4_485_573, calls=20),
            "test_new": CountResult("test_new", instructions=900, calls=10),
        },
        tool="valgrind-3.19.0",
        missing=None,
    )
    rows = diff_baselines(old, dataclasses.replace(sample_results(), counts=more))
    counted = [row for row in rows if row.metric == "instructions/call"]
    # Against the count as stored (4_398_000 / 20): +1.99 %.
    two_percent: float = pytest.approx(1.99, abs=0.005)  # type: ignore[assignment]
    assert counted == [
        DiffRow("test_encode", "instructions/call", 219_900.0, 224_278.65, two_percent),
        DiffRow("test_new", "instructions/call", None, 90.0, None),
    ]
