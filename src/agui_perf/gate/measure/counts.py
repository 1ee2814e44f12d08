"""Instruction counts: each side's `cpu_bound` benchmarks once under valgrind's callgrind.

Timing on a shared machine cannot resolve a few per cent; the number of instructions the
benchmarked call executes can. Under callgrind, in a fresh process with the hash seed fixed
and address randomization off, the same code executes the same instructions run after run
(measured: within 0.02 %, see `count_compare.REPEATABILITY`), so one run per side settles it,
like memory (`gate.memory`).

How a side is counted (`count_sides`):
- one `python -m pytest <the benchmark files that name cpu_bound> -m "cpu_bound and not
  reference"` process per side (`count_targets`), under `setarch -R valgrind
  --tool=callgrind --instr-atstart=no`: nothing is counted until the plugin asks for it;
- pytest-benchmark is blocked in that process and the plugin `agui_perf_counts` (beside the
  calibration plugin, so both sides use the current gate's copy) supplies the `benchmark`
  fixture: a few untracked calls, then `calls` counted calls between callgrind's START and
  STOP requests, then one DUMP_STATS_AT per benchmark (the plugin's docstring says more);
- the tree's code and tests are copied, without bytecode, to one fixed path, the same for
  every side and run (`_stage_tree` and `_stage_dir` say why), so that the accepted worktree
  and the current tree give the process the same heap;
- so the sides run one after the other (the counts do not depend on the machine's load), and
  `gate.pipeline` runs them beside the memory stage, which is deterministic too.

A side's result is `results.Counts`; when valgrind (or pytest-codspeed's hooks) is missing
the gate reports "not measured" with the reason instead of failing (`CountsUnavailable`).
A run that fails is a `CountsError`: one line naming the side and the cause, the full output
in `<out_dir>/<side>/counts.log`. The callgrind files stay beside it for `callgrind_annotate`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from agui_perf.gate._io import atomic_write_text, dump_json
from agui_perf.gate._process import stop_group
from agui_perf.gate.errors import GateError
from agui_perf.gate.measure.runner import (
    BENCHMARKS_DIR,
    EXIT_NO_TESTS,
    PLUGIN_DIR,
    REFERENCE_DESELECT,
    SCALE_ENV,
    RunOptions,
    Side,
)
from agui_perf.gate.store.layout import DEFAULT_BENCHMARKS, LAYOUT_TABLE, Layout, missing_in
from agui_perf.gate.store.results import CountResult, Counts, counts_to_json

if TYPE_CHECKING:
    import threading
    from collections.abc import Iterator, Mapping, Sequence

__all__ = [
    "COUNT_SELECT",
    "VALGRIND_NOT_FOUND",
    "CountRequest",
    "CountsError",
    "CountsUnavailable",
    "Tools",
    "count_command",
    "count_sides",
    "count_targets",
    "find_tools",
    "read_dumps",
]

_log = logging.getLogger(__name__)

#: The plugin module in runner.PLUGIN_DIR that replaces the `benchmark` fixture.
COUNTS_PLUGIN = "agui_perf_counts"
#: pytest -m expression: what is counted.
COUNT_SELECT = f"cpu_bound and ({REFERENCE_DESELECT})"
#: Counted calls per benchmark. Measured: 20 and 40 calls gave per-call counts within 0.3 %
#: (what is left of the START/STOP window's own cost, the same on both sides). The largest
#: benchmarks, the two in-process serves (5.0 M and 7.2 M instructions a call), take a few
#: seconds a side under callgrind with their 10 warm-up calls; the others, well under a second.
DEFAULT_CALLS = 20
#: Seconds one side may take (measured: 12 s a side on an idle 2-core machine and 40 s on a
#: badly overloaded one before the in-process serve benchmark, 16-23 s a side with it).
DEFAULT_COUNT_TIMEOUT = 300.0
VALGRIND_NOT_FOUND = "valgrind not found"
HOOKS_NOT_FOUND = "pytest-codspeed's instrument hooks not found (install agui-perf[gate])"

_MARKER = "cpu_bound"
_STAGE_PREFIX = "agui-perf-counts-"
_MANIFEST = "manifest.json"
_DUMP_PREFIX = "callgrind.out"
_LOG = "counts.log"
_TRIGGER = "desc: Trigger: Client Request: "
_STOP_GRACE_S = 10.0
_POLL_S = 0.2
# Loaded in every pytest process by entry points, not wanted in this one: pytest-benchmark
# (the plugin supplies `benchmark`), pytest-codspeed's own plugin (only its hooks are used)
# and hypothesis's, whose import alone took 4 of the 12 s a side took under valgrind.
_BLOCKED_PLUGINS = ("benchmark", "codspeed", "hypothesispytest", "cacheprovider")
# glibc's allocator serves CPython's larger objects (over 512 bytes); how many instructions a
# malloc takes depends on what its free lists hold, i.e. on everything the process did
# before the counted calls. Measured with two trees that differed only in an unrelated test
# module: the one-event benchmarks moved by 0.6-0.8 % with the defaults, by 0.05-0.17 % with
# a deep per-size cache (the same-size alloc/free pairs of a repeated call then always hit
# it) and the thresholds that glibc would otherwise adapt to the history of frees pinned.
_MALLOC_TUNABLES = (
    "glibc.malloc.tcache_count=64:"
    "glibc.malloc.trim_threshold=268435456:"
    "glibc.malloc.mmap_threshold=33554432"
)
# Passed through to the child; PYTHONPATH, PYTHONMALLOC, VALGRIND_OPTS and the like would
# change what is executed or counted.
_PASSTHROUGH_ENV = ("PATH", "TMPDIR", "SYSTEMROOT")


class CountsUnavailable(Exception):
    """Counting is not possible on this machine; `str(err)` is the reason the verdict shows."""


class CountsError(GateError):
    """A count run failed; one line naming the side and the cause (the log holds the rest)."""


@dataclass(frozen=True)
class Tools:
    """What counting needs: valgrind (and its version), and setarch to turn off ASLR."""

    valgrind: str
    version: str  # "valgrind-3.19.0": stored with the counts, which are per valgrind version
    setarch: str | None  # None: not installed or refused here; counted with ASLR on


@dataclass(frozen=True)
class CountRequest:
    """One count stage: the sides, how to run them, where to put the files."""

    sides: Sequence[Side]
    options: RunOptions
    out_dir: Path  # <out_dir>/<side label>/ gets the log, the manifest and the dumps
    cancel: threading.Event | None = None  # set: stop the runs (the caller is failing)
    calls: int = DEFAULT_CALLS
    timeout: float = DEFAULT_COUNT_TIMEOUT
    tools: Tools | None = field(default=None)  # None: `find_tools()`


def find_tools(python: str = sys.executable) -> Tools:
    """valgrind, its version and a working setarch, or CountsUnavailable saying what is missing."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise CountsUnavailable(VALGRIND_NOT_FOUND)
    try:
        done = subprocess.run(
            [valgrind, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise CountsUnavailable(f"valgrind does not run ({err})") from None
    version = done.stdout.strip()
    if done.returncode != 0 or not version:
        raise CountsUnavailable(
            f"valgrind does not run (`valgrind --version` exit {done.returncode})"
        )
    if python == sys.executable and importlib.util.find_spec("pytest_codspeed") is None:
        raise CountsUnavailable(HOOKS_NOT_FOUND)
    return Tools(valgrind=valgrind, version=version, setarch=_setarch())


def _setarch() -> str | None:
    # personality(2) may be refused (Docker's default seccomp profile): then count with ASLR
    # on rather than not at all (counts may then differ by a hair between runs).
    setarch = shutil.which("setarch")
    if setarch is None:
        return None
    try:
        probe = subprocess.run(
            [setarch, platform.machine(), "-R", "true"],
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return setarch if probe.returncode == 0 else None


def count_command(
    tools: Tools,
    stage: Path,
    options: RunOptions,
    *,
    calls: int,
    targets: Sequence[str] = (BENCHMARKS_DIR.as_posix(),),
) -> list[str]:
    """The child's command line: setarch, valgrind, then pytest on `targets` of the staged tree."""
    command = [tools.setarch, platform.machine(), "-R"] if tools.setarch else []
    command += [
        tools.valgrind,
        "--tool=callgrind",
        # Nothing is counted until the plugin's START request: not start-up, imports or
        # collection.
        "--instr-atstart=no",
        f"--callgrind-out-file={stage / _DUMP_PREFIX}.%p",
        options.python,
        "-s",
        "-m",
        "pytest",
        *targets,
        f"--rootdir={stage / 'tree'}",
        "-q",
        "-rfE",
        "-m",
        COUNT_SELECT,
        "-p",
        COUNTS_PLUGIN,
        f"--agui-counts-out={stage / _MANIFEST}",
        f"--agui-counts-calls={calls}",
    ]
    for plugin in _BLOCKED_PLUGINS:
        command += ["-p", f"no:{plugin}"]
    if options.keyword:
        command += ["-k", options.keyword]
    return command


def _child_env(stage: Path, options: RunOptions, layout: Layout) -> dict[str, str]:
    env = {key: os.environ[key] for key in _PASSTHROUGH_ENV if key in os.environ}
    sources = [str(stage / "tree" / path) for path in layout.source]
    env.update(
        PYTHONPATH=os.pathsep.join([*sources, str(PLUGIN_DIR)]),
        # Fixed hash seed: set and dict orders, hence the executed instructions, stay put.
        PYTHONHASHSEED="0",
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONUTF8="1",
        COLUMNS="400",  # pytest cuts its FAILED line (the one quoted) at the terminal width
        GLIBC_TUNABLES=_MALLOC_TUNABLES,
    )
    env[SCALE_ENV] = f"{options.scale:g}"
    return env


@dataclass
class _Run:
    side: Side
    stage: Path
    out: Path
    log: Path
    proc: subprocess.Popen[bytes]
    started: float


def count_sides(request: CountRequest) -> dict[str, Counts]:
    """Count every side of `request` at once; {side label: Counts}.

    Raises CountsUnavailable when counting is not possible here, CountsError when a run fails.
    """
    tools = request.tools or find_tools(request.options.python)
    # A tree none of whose benchmark files names the marker has nothing to count; saying so
    # without a valgrind process saves the 5 s its start-up takes.
    idle = {side.label: Counts(tool=tools.version, missing=None) for side in request.sides}
    targets = {
        side.label: count_targets(side.root, side.layout.benchmarks) for side in request.sides
    }
    busy = [side for side in request.sides if targets[side.label]]
    if not busy:
        return idle
    with _stage_dir(request.out_dir) as stage:
        _log.info(
            "counts · "
            + ", ".join(f"{side.label} ({side.revision})" for side in busy)
            + f" · callgrind, {request.calls} calls a benchmark, one side after the other",
        )
        counted = {side.label: _count_one(side, stage, tools, request, targets) for side in busy}
    return {side.label: counted.get(side.label, idle[side.label]) for side in request.sides}


def _count_one(
    side: Side, stage: Path, tools: Tools, request: CountRequest, targets: Mapping[str, list[str]]
) -> Counts:
    """One side, counted from `stage` (emptied before and after)."""
    _empty(stage)
    run = _start(side, stage, tools, request, targets[side.label])
    try:
        status = _wait(run, request)
    finally:
        # Normally a no-op; on a timeout, a failure or a cancel, no child outlives us.
        stop_group(run.proc, grace=_STOP_GRACE_S)
    try:
        return _finish(run, status, tools, request)
    finally:
        _empty(stage)


def _empty(folder: Path) -> None:
    for entry in list(folder.iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


@contextlib.contextmanager
def _stage_dir(out_dir: Path) -> Iterator[Path]:
    """The folder every side of one count stage is counted from: the same path for all.

    Why one path: the tree's path ends up in strings the process hashes (sys.path, module
    files, pytest's nodes), and with the hash seed fixed a set's or dict's order, hence the
    order of allocations before the counted calls, still depends on the string. Measured with
    a toy loop counted from two copies of one tree: from `mkdtemp` folders (a random name per
    side and run) the copies counted up to 1.9 % apart, and the same copy 0.4 % apart from
    one run to the next; from one fixed path, one side after the other, identical in 8 of 8
    runs. So the path is fixed too: derived from `out_dir` (one per project, and the gate
    holds the project's lock), and locked, so that two count stages never share it.
    """
    digest = hashlib.sha256(str(out_dir.resolve()).encode("utf-8")).hexdigest()[:12]
    stage = Path(tempfile.gettempdir()) / f"{_STAGE_PREFIX}{digest}"
    lock = stage.with_name(stage.name + ".lock")
    with lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise CountsError(
                f"instruction counts: {stage} is in use by another count run writing to "
                f"{out_dir}; wait for it to finish"
            ) from None
        # Left by a run that was killed: nothing in it is anyone's now.
        shutil.rmtree(stage, ignore_errors=True)
        stage.mkdir()
        try:
            yield stage
        finally:
            shutil.rmtree(stage, ignore_errors=True)


def count_targets(root: Path, benchmarks: str = DEFAULT_BENCHMARKS) -> list[str]:
    """What the count process collects: the benchmark files that name the marker.

    Only those, so that a change to another benchmark file (imported at collection, where it
    shapes the heap the counted calls allocate from) cannot move the counts; measured: an
    unrelated function added to test_stream_bench.py moved the one-event counts by 0.3 %.
    The whole folder when a conftest or helper module names the marker (it may mark tests
    of any file); [] when no file does (nothing to count). Paths relative to `root`;
    `benchmarks` is the layout's benchmarks folder.
    """
    folder = root / benchmarks
    named: list[Path] = []
    for path in sorted(folder.rglob("*.py")) if folder.is_dir() else ():
        with contextlib.suppress(OSError):
            if _MARKER in path.read_text(encoding="utf-8", errors="replace"):
                named.append(path)
    if any(not _is_test_file(path) for path in named):
        return [Path(benchmarks).as_posix()]
    return [path.relative_to(root).as_posix() for path in named]


def _is_test_file(path: Path) -> bool:
    # pytest's default python_files.
    return path.name.startswith("test_") or path.stem.endswith("_test")


def _start(
    side: Side, stage: Path, tools: Tools, request: CountRequest, targets: Sequence[str]
) -> _Run:
    missing = missing_in(side.layout, side.root)
    if missing is not None:
        raise CountsError(
            f"instruction counts: the {side.label} code ({side.revision}) has no "
            f"{missing} folder (named in the current tree's {LAYOUT_TABLE})"
        )
    _stage_tree(side.root, stage / "tree", side.layout)
    out = request.out_dir / side.label
    out.mkdir(parents=True, exist_ok=True)
    log = out / _LOG
    command = count_command(tools, stage, request.options, calls=request.calls, targets=targets)
    with log.open("wb") as handle:
        try:
            proc = subprocess.Popen(
                command,
                cwd=stage / "tree",
                env=_child_env(stage, request.options, side.layout),
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                # Its own group: on a timeout or a failing gate the whole group is stopped.
                start_new_session=True,
            )
        except OSError as err:
            raise CountsError(
                f"instruction counts: cannot start {command[0]!r} ({err.strerror})"
            ) from None
    return _Run(side=side, stage=stage, out=out, log=log, proc=proc, started=time.monotonic())


#: What a count run reads from a tree: the code, the tests (the top folders of the layout's
#: source and benchmarks folders: "src" and "tests" by default) and pytest's configuration.
_TREE_FILES = ("pyproject.toml", "pytest.ini", "setup.cfg", "tox.ini", "conftest.py")
_NOT_COPIED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")


def _tree_dirs(layout: Layout) -> list[str]:
    tops = (Path(path).parts[0] for path in (*layout.source, layout.benchmarks))
    return list(dict.fromkeys(tops))


def _stage_tree(root: Path, tree: Path, layout: Layout | None = None) -> None:
    """Copy the tree's code, tests and pytest configuration to `tree`, without bytecode.

    Why a copy: the counted calls execute a few instructions more or less depending on the
    heap the process built before them (glibc's free lists, CPython's type-attribute cache).
    A tree with `__pycache__` imports from bytecode, one without compiles from source; a
    worktree has none, the working tree usually has. Measured: that alone moved the
    one-event benchmarks by 0.6-0.8 %. Copied without bytecode to one path (`_stage_dir`),
    the same files give the same heap and the same counts.
    """
    tree.mkdir()
    for name in _tree_dirs(layout or Layout()):
        if (root / name).is_dir():
            shutil.copytree(root / name, tree / name, ignore=_NOT_COPIED, symlinks=True)
    for name in _TREE_FILES:
        if (root / name).is_file():
            shutil.copy2(root / name, tree / name)


def _wait(run: _Run, request: CountRequest) -> int:
    deadline = run.started + request.timeout
    while True:
        try:
            return run.proc.wait(timeout=_POLL_S)
        except subprocess.TimeoutExpired:
            pass
        if request.cancel is not None and request.cancel.is_set():
            raise CountsError(f"instruction counts of the {run.side.label} code were stopped")
        if time.monotonic() > deadline:
            raise CountsError(
                f"instruction counts of the {_where(run)} did not finish within "
                f"{request.timeout:g} s (stopped) — full output in {run.log}"
            )


def _where(run: _Run) -> str:
    return f"{run.side.label} code ({run.side.revision})"


def _finish(run: _Run, status: int, tools: Tools, request: CountRequest) -> Counts:
    elapsed = time.monotonic() - run.started
    if status == EXIT_NO_TESTS:
        # No cpu_bound benchmark in this tree (or none that -k selects): nothing to count.
        counts = Counts(tool=tools.version, missing=None)
    elif status != 0:
        raise CountsError(
            f"instruction counts of the {_where(run)} failed (exit {status}): "
            f"{_failure_line(run.log)} — full output in {run.log}"
        )
    else:
        counts = read_dumps(run.stage, tool=tools.version, origin=_where(run), log=run.log)
    for dump in run.stage.glob(f"{_DUMP_PREFIX}.*"):
        shutil.move(dump, run.out / dump.name)
    if (run.stage / _MANIFEST).exists():
        shutil.move(run.stage / _MANIFEST, run.out / _MANIFEST)
    atomic_write_text(run.out / "counts.json", dump_json(counts_to_json(counts)))
    _log.info(
        f"counts · {run.side.label}: {len(counts.benchmarks)} benchmarks ({elapsed:.1f} s)",
    )
    return counts


def read_dumps(folder: Path, *, tool: str, origin: str, log: Path | None = None) -> Counts:
    """The plugin's manifest and callgrind's dump files in `folder`, as Counts.

    Each benchmark of the manifest must have exactly one dump, labelled as the manifest says,
    with a positive count: anything else means the client requests did not reach callgrind.
    """
    where = f" — full output in {log}" if log is not None else ""
    manifest = folder / _MANIFEST
    try:
        entries = json.loads(manifest.read_text(encoding="utf-8"))["benchmarks"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CountsError(
            f"instruction counts of the {origin}: no usable manifest {manifest} ({err}){where}"
        ) from None
    totals = _dump_totals(folder)
    counts: dict[str, CountResult] = {}
    for entry in entries:
        name, label, calls = str(entry["name"]), str(entry["label"]), int(entry["calls"])
        found = totals.get(label, [])
        if len(found) != 1 or found[0] <= 0:
            raise CountsError(
                f"instruction counts of the {origin}: benchmark {name!r} has "
                f"{'no count' if not found else f'{len(found)} dumps totalling {sum(found)}'}: "
                f"callgrind's client requests did not take effect{where}"
            )
        if name in counts:
            raise CountsError(
                f"instruction counts of the {origin}: two benchmarks named {name!r}{where}"
            )
        counts[name] = CountResult(benchmark=name, instructions=found[0], calls=calls)
    return Counts(benchmarks=counts, tool=tool, missing=None)


def _dump_totals(folder: Path) -> Mapping[str, list[int]]:
    """{dump label: [total Ir, ...]} over callgrind's files in `folder`."""
    totals: dict[str, list[int]] = {}
    for path in sorted(folder.glob(f"{_DUMP_PREFIX}.*")):
        label, total = None, None
        with path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith(_TRIGGER):
                    label = line.removeprefix(_TRIGGER).strip()
                elif line.startswith("totals:"):
                    total = int(line.split()[1])
        if label is not None and total is not None:
            totals.setdefault(label, []).append(total)
    return totals


def _failure_line(log: Path) -> str:
    """pytest's first FAILED/ERROR line, else the last line that is not valgrind's."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "no output"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("FAILED ", "ERROR ")):
            return line
    own = [line for line in lines if not line.startswith("==")]
    return own[-1] if own else (lines[-1] if lines else "no output")
