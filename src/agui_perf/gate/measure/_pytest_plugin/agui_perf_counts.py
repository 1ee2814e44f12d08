"""pytest plugin for instruction counts: a `benchmark` fixture that counts instead of timing.

The gate runs each side's `cpu_bound` benchmarks once under valgrind's callgrind
(`gate.counts`), with instrumentation off from the start (`--instr-atstart=no`). This plugin
replaces pytest-benchmark's `benchmark` fixture (the gate blocks pytest-benchmark in that
process) with one whose `__call__` and `pedantic` run the benchmarked callable a few untracked
times, then `calls` times between callgrind's START and STOP client requests, and end with a
DUMP_STATS_AT request: one dump per benchmark, holding only the instructions of those calls.
Start-up, imports, collection, fixtures and the benchmark's own checks are never counted.

The client requests are pytest-codspeed's (its instrument-hooks module, MIT): the same
START/STOP around the benchmarked call, and its "executed benchmark" call, which issues
DUMP_STATS_AT when the process runs under callgrind. Outside valgrind they do nothing, so the
plugin also runs (and counts nothing) in a plain process, which is how it is tested quickly.

Each counted benchmark is listed, in order, in the JSON manifest `--agui-counts-out`: its
name (pytest-benchmark's: the test name with parameters), the dump's label and the number of
counted calls. Labels are ASCII (`agui-perf-count-<n>`) whatever the benchmark's name, since
callgrind writes them into its dump files.

Like the calibration plugin, the module lives outside the `agui_perf` package, so both sides
are counted by the current gate's copy.
"""

from __future__ import annotations

import gc
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "WARMUP_CALLS",
    "CountRecorder",
    "CountingBenchmark",
]

MARKER: Final = "cpu_bound"
LABEL_PREFIX: Final = "agui-perf-count-"
OUT_OPTION: Final = "--agui-counts-out"
CALLS_OPTION: Final = "--agui-counts-calls"
#: Untracked calls before counting. CPython quickens a function's bytecode after a few calls
#: (8 in 3.11) and then specializes it; counted before that, the first calls cost more than the
#: rest. Measured here: going from 3 to 10 warm-up calls lowered the counts by up to 3.8 % (the
#: first one-event benchmark of its test function), from 10 to 30 by at most 0.13 %.
WARMUP_CALLS: Final = 10
_DEFAULT_CALLS: Final = 20


def _nothing() -> None:
    return None


class _Hooks:
    """pytest-codspeed's client requests, or no-ops where its module cannot be loaded."""

    def __init__(self) -> None:
        try:
            from pytest_codspeed.instruments.hooks import (  # type: ignore[attr-defined]
                dist_instrument_hooks as native,
            )
        except ImportError:
            native = None
        self._native: Any = native
        self._instance: Any = None
        # The C functions themselves, as pytest-codspeed binds them: a Python wrapper's frame
        # would be counted (its return after START, its call before STOP) in every window.
        self.start: Callable[[], object] = _nothing
        self.stop: Callable[[], object] = _nothing
        if native is not None:
            self._instance = native.instrument_hooks_init()
            # Its benchmark markers off: the plugin issues START and STOP itself, right around
            # the calls, and uses the library only for them and for the dump.
            native.instrument_hooks_set_feature(native.FEATURE_DISABLE_CALLGRIND_MARKERS, True)
            self.start = native.callgrind_start_instrumentation
            self.stop = native.callgrind_stop_instrumentation

    @property
    def available(self) -> bool:
        return self._native is not None and self._instance is not None

    def dump(self, label: str) -> None:
        if self.available:
            # Under callgrind this is CALLGRIND_DUMP_STATS_AT(label): write the counts since
            # the previous dump to a file of their own and zero them.
            self._native.instrument_hooks_set_executed_benchmark(
                self._instance, os.getpid(), label.encode("ascii")
            )


class CountRecorder:
    """The manifest: which dump belongs to which benchmark, written after every benchmark."""

    def __init__(self, out: Path | None, calls: int, hooks: _Hooks) -> None:
        self.out = out
        self.calls = calls
        self.hooks = hooks
        self.entries: list[dict[str, object]] = []

    def record(self, name: str, calls: int) -> str:
        label = f"{LABEL_PREFIX}{len(self.entries) + 1}"
        self.hooks.dump(label)
        self.entries.append({"name": name, "label": label, "calls": calls})
        if self.out is not None:
            # Rewritten whole each time, so a crash later in the run leaves a valid file.
            tmp = self.out.with_name(self.out.name + ".tmp")
            tmp.write_text(json.dumps({"benchmarks": self.entries}, indent=2), encoding="utf-8")
            tmp.replace(self.out)
        return label


class CountingBenchmark:
    """What a benchmark sees as `benchmark`: pytest-benchmark's calling conventions, counted.

    `rounds`, `iterations` and `warmup_rounds` are accepted and ignored: a count needs the same
    few calls on both sides, not a timed loop. `stats` is None, as under
    `--benchmark-disable`, so a benchmark that reads its own timings falls back the same way.
    """

    def __init__(self, name: str, recorder: CountRecorder) -> None:
        self.name = name
        self.group: str | None = None
        self.extra_info: dict[str, object] = {}
        self.stats: None = None
        self._recorder = recorder
        self._used = False

    def __call__(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self._count(lambda: (args, kwargs), function, None)

    def pedantic(
        self,
        target: Callable[..., Any],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        setup: Callable[[], Any] | None = None,
        teardown: Callable[..., Any] | None = None,
        rounds: int = 1,
        warmup_rounds: int = 0,
        iterations: int = 1,
    ) -> Any:
        del rounds, warmup_rounds, iterations  # see the class docstring

        def arguments() -> tuple[tuple[Any, ...], dict[str, Any]]:
            if setup is None:
                return args, dict(kwargs or {})
            made = setup()
            # pytest-benchmark's contract: setup returns None or (args, kwargs).
            return made if made is not None else (args, dict(kwargs or {}))

        fresh = setup is not None
        return self._count(arguments, target, teardown, fresh_arguments=fresh)

    def _count(
        self,
        arguments: Callable[[], tuple[tuple[Any, ...], dict[str, Any]]],
        target: Callable[..., Any],
        teardown: Callable[..., Any] | None,
        *,
        fresh_arguments: bool = False,
    ) -> Any:
        if self._used:
            raise RuntimeError(f"{self.name}: the benchmark fixture can only be used once")
        self._used = True
        start, stop = self._recorder.hooks.start, self._recorder.hooks.stop
        calls = range(self._recorder.calls)
        result: Any = None
        for _ in range(WARMUP_CALLS):
            call_args, call_kwargs = arguments()
            result = target(*call_args, **call_kwargs)
            if teardown is not None:
                teardown(*call_args, **call_kwargs)
        # A full collection first, then the survivors frozen out of the collector's way: a
        # collection inside the counted calls then depends on what those calls allocate,
        # not on how big the rest of the heap (other test modules, the other tree) is.
        gc.collect()
        gc.freeze()
        if fresh_arguments or teardown is not None:
            # setup/teardown run between the calls, outside the counted window.
            for _ in calls:
                call_args, call_kwargs = arguments()
                start()
                result = target(*call_args, **call_kwargs)
                stop()
                if teardown is not None:
                    teardown(*call_args, **call_kwargs)
        else:
            call_args, call_kwargs = arguments()
            start()
            for _ in calls:
                result = target(*call_args, **call_kwargs)
            stop()
        self._recorder.record(self.name, len(calls))
        return result


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("agui-perf-counts", "agui-perf instruction counts")
    group.addoption(OUT_OPTION, default=None, help="write the manifest of counted benchmarks here")
    group.addoption(
        CALLS_OPTION,
        type=int,
        default=_DEFAULT_CALLS,
        help=f"counted calls per benchmark (default {_DEFAULT_CALLS})",
    )


def pytest_configure(config: pytest.Config) -> None:
    # Registered here too, so an older tree whose pyproject lacks the markers still runs
    # under --strict-markers.
    config.addinivalue_line("markers", f"{MARKER}: CPU-bound benchmark; counted under callgrind")
    config.addinivalue_line("markers", "reference: a comparison implementation; not counted")
    # pytest-benchmark, blocked in this process, registers its own marker.
    config.addinivalue_line("markers", "benchmark: pytest-benchmark's options (unused here)")
    calls = config.getoption(CALLS_OPTION)
    if calls < 1:
        raise pytest.UsageError(f"{CALLS_OPTION} must be at least 1, got {calls}")
    out = config.getoption(OUT_OPTION)
    config.stash[_RECORDER] = CountRecorder(Path(out) if out else None, calls, _Hooks())


_RECORDER: Final = pytest.StashKey[CountRecorder]()


@pytest.fixture
def benchmark(request: pytest.FixtureRequest) -> CountingBenchmark:
    """The counting stand-in for pytest-benchmark's fixture of the same name."""
    return CountingBenchmark(request.node.name, request.config.stash[_RECORDER])
