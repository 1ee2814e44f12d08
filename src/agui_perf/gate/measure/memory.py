"""Memory scenarios under memray, each in a fresh Python process, read back into plain records.

Memory is deterministic where timing is not (README "How the gate decides"): in a fresh process
with Python's allocators traced, a scenario's peak bytes and allocation count are identical run
to run, so one run per side settles a comparison. The scenarios live in the measured tree
(`[tool.agui_perf.layout].memory_scenarios`, by default `tests/benchmarks/memory_scenarios.py`)
so that the accepted commit's own copy can be run from
a git worktree beside the current code; the harness that runs them (`_memory_child`) is always
the current one, so both sides are measured the same way.

Each run writes `<out_dir>/<name>.json` in the contract's shape (`MemoryRecord`); a failed run
writes the child's full output to `<out_dir>/<name>.log` and raises a one-line
`MemoryScenarioError`.

What it takes for the numbers to be identical (each step says why where it is taken):
- one fresh process per scenario; imports and one untracked warm-up call before tracking;
- PYTHONHASHSEED=0 and a clean environment (`_child_env`);
- ASLR off in the child (`_memory_child._reexec_without_aslr`): id-hashed sets resize at
  address-dependent points;
- SIGINT at SIG_DFL, so that asyncio.run does not format its task's repr on the way out;
- the tree staged behind symlinks of fixed path length (`_staged`).
Same files in, same record out, from any worktree path and into any out_dir. Trees that differ
in files the scenario never runs can still shift the heap layout before tracking starts and
move the allocation count by a record or two in hundreds of thousands: far inside the
gate's tolerance, but not zero.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

import memray

from agui_perf.gate._cause import cause_line
from agui_perf.gate._io import atomic_write_text, dump_json
from agui_perf.gate.errors import GateError
from agui_perf.gate.measure import _memory_child

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence
    from typing import TypeAlias

    #: One source folder or several (the layout's `source`), first on the child's sys.path.
    Sources: TypeAlias = Path | Sequence[Path]

    from memray import AllocationRecord

__all__ = [
    "MemoryRecord",
    "MemoryScenarioError",
    "ScenarioTimeoutError",
    "SiteRecord",
    "UnknownScenarioError",
    "list_scenarios",
    "run_all",
    "run_scenario",
    "source_packages",
]

_log = logging.getLogger(__name__)

DEFAULT_TOP_SITES = 10

_CHILD_SCRIPT = Path(_memory_child.__file__).resolve()

# Passed through to the child; everything else (PYTHONPATH, PYTHONMALLOC, PYTHONDEVMODE,
# PYTHONASYNCIODEBUG, PYTHONWARNINGS, …) would change what or how the child allocates.
_PASSTHROUGH_ENV = ("PATH", "TMPDIR", "SYSTEMROOT")

_DEALLOCATORS = frozenset(
    {memray.AllocatorType.FREE, memray.AllocatorType.PYMALLOC_FREE, memray.AllocatorType.MUNMAP}
)

_STDLIB_PREFIX = re.compile(r"^.*[/\\]lib[/\\]python\d+\.\d+[/\\]")


class SiteRecord(TypedDict):
    """Memory held at the high-water mark by one source line ("path/file.py:123")."""

    location: str
    function: str
    bytes: int
    allocations: int


class MemoryRecord(TypedDict):
    """One scenario's numbers, in the contract's JSON shape ("Memory scenario output")."""

    scenario: str
    peak_bytes: int
    total_allocations: int
    leaked_bytes: int
    top_sites: list[SiteRecord]


class MemoryScenarioError(GateError):
    """A scenario could not be measured; `str(err)` is one line naming it and the cause.

    The child's full output (the traceback) goes to `log`, never to the user's terminal.
    """

    def __init__(self, scenario: str, message: str, *, log: Path | None = None) -> None:
        super().__init__(f"{message} (full output in {log})" if log is not None else message)
        self.scenario = scenario
        self.log = log


class UnknownScenarioError(MemoryScenarioError):
    """The scenarios file has no scenario of that name."""


class ScenarioTimeoutError(MemoryScenarioError):
    """The scenario did not finish within the time allowed."""


def run_scenario(
    name: str,
    *,
    src_dir: Sources,
    scenarios_file: Path,
    out_dir: Path,
    python: str = sys.executable,
    timeout: float = 120,
    top: int = DEFAULT_TOP_SITES,
    root: Path | None = None,
    packages: Sequence[str] | None = None,
) -> MemoryRecord:
    """Measure scenario `name` from `scenarios_file` against the code in `src_dir`.

    Runs it in a fresh `python` process under memray, writes `<out_dir>/<name>.json` and
    returns the same record. `python` must have memray installed. `root`: the measured tree,
    which locations are named relative to (default: the first source folder's parent).
    `packages`: the project's top-level modules, which must be imported from `src_dir` if at
    all (default: what `src_dir` holds; `source_packages`).
    """
    sources, scenarios_file = _check_paths(name, src_dir, scenarios_file)
    out_dir.mkdir(parents=True, exist_ok=True)
    guarded = _package_args(sources, packages)
    with _staged(sources, scenarios_file, root) as stage:
        _run_child(
            name,
            [*guarded, "--scenario", name, "--capture", str(stage.capture)],
            stage=stage,
            log=out_dir / f"{name}.log",
            python=python,
            timeout=timeout,
        )
        # The capture (every allocation, tens of MB) goes with the staging folder.
        record = _read_capture(name, stage.capture, roots=stage.roots, top=top)
    atomic_write_text(out_dir / f"{name}.json", dump_json(record))
    return record


def run_all(
    names: Sequence[str],
    *,
    src_dir: Sources,
    scenarios_file: Path,
    out_dir: Path,
    python: str = sys.executable,
    timeout: float = 120,
    top: int = DEFAULT_TOP_SITES,
    root: Path | None = None,
    packages: Sequence[str] | None = None,
) -> list[MemoryRecord]:
    """Measure each scenario in turn (one fresh process each), logging progress."""
    records: list[MemoryRecord] = []
    for index, name in enumerate(names, start=1):
        step = f"memory {index}/{len(names)} {name}"
        _log.info(f"{step} …")
        started = time.perf_counter()
        record = run_scenario(
            name,
            src_dir=src_dir,
            scenarios_file=scenarios_file,
            out_dir=out_dir,
            python=python,
            timeout=timeout,
            top=top,
            root=root,
            packages=packages,
        )
        elapsed = time.perf_counter() - started
        _log.info(f"{step}: {describe(record)} ({elapsed:.1f} s)")
        records.append(record)
    return records


def list_scenarios(
    *,
    src_dir: Sources,
    scenarios_file: Path,
    python: str = sys.executable,
    timeout: float = 60,
    root: Path | None = None,
    packages: Sequence[str] | None = None,
) -> list[str]:
    """The scenario names `scenarios_file` defines, read in a fresh process against `src_dir`."""
    sources, scenarios_file = _check_paths("--list", src_dir, scenarios_file)
    guarded = _package_args(sources, packages)
    with _staged(sources, scenarios_file, root) as stage:
        output = _run_child(
            "--list", [*guarded, "--list"], stage=stage, log=None, python=python, timeout=timeout
        )
    return output.split()


def describe(record: MemoryRecord) -> str:
    """A short human summary: peak, allocations and leaked bytes."""
    return (
        f"peak {record['peak_bytes'] / 1e6:.2f} MB, "
        f"{record['total_allocations']:,} allocations, "
        f"leaked {record['leaked_bytes']:,} B"
    )


def source_packages(folders: Iterable[Path]) -> tuple[str, ...]:
    """The top-level modules and packages the folders hold (what `import NAME` finds there)."""
    names: set[str] = set()
    for folder in folders:
        for entry in folder.iterdir() if folder.is_dir() else ():
            if entry.is_dir() and entry.name.isidentifier() and entry.name != "__pycache__":
                names.add(entry.name)
            elif entry.suffix == ".py" and entry.stem.isidentifier():
                names.add(entry.stem)
    return tuple(sorted(names))


def _package_args(sources: Sequence[Path], packages: Sequence[str] | None) -> list[str]:
    guarded = source_packages(sources) if packages is None else packages
    return [arg for name in guarded for arg in ("--package", name)]


def _check_paths(
    name: str, src_dir: Sources, scenarios_file: Path
) -> tuple[tuple[Path, ...], Path]:
    given = [src_dir] if isinstance(src_dir, Path) else src_dir
    sources = tuple(path.resolve() for path in given)
    scenarios_file = scenarios_file.resolve()
    if not sources:
        raise MemoryScenarioError(name, f"memory scenario {name!r}: no source folder given")
    for folder in sources:
        if not folder.is_dir():
            raise MemoryScenarioError(
                name, f"memory scenario {name!r}: source folder {folder} does not exist"
            )
    if not scenarios_file.is_file():
        raise MemoryScenarioError(
            name, f"memory scenario {name!r}: scenarios file {scenarios_file} does not exist"
        )
    return sources, scenarios_file


def _child_env() -> dict[str, str]:
    env = {key: os.environ[key] for key in _PASSTHROUGH_ENV if key in os.environ}
    # A fixed hash seed keeps set and dict iteration order, hence allocation order, the same
    # in every run (memray's numbers were found stable across seeds; pinning it costs
    # nothing and removes the question). No bytecode writes into a measured worktree.
    env.update(PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1", PYTHONUTF8="1")
    return env


@dataclass(frozen=True)
class _Stage:
    """What the child sees: the measured tree under paths whose length never varies."""

    dir: Path
    sources: tuple[Path, ...]
    scenarios_file: Path
    capture: Path
    roots: list[tuple[Path, str]]


@contextlib.contextmanager
def _staged(sources: Sequence[Path], scenarios_file: Path, root: Path | None) -> Iterator[_Stage]:
    """A temporary folder holding symlinks to the source folders and the scenarios' folder.

    Why: file paths end up inside objects the scenario allocates (anyio's CancelScope.cancel()
    formats `repr(current_task())`, which names the coroutine's file), and the strings in the
    child's argv and sys.path shift where later objects land, which changes when id-hashed
    sets resize. Measured through `/tmp/agui-perf-memray-XXXXXXXX/src`, the same files give
    the same numbers from any worktree and into any out_dir, so an unchanged scenario compares
    as equal between the accepted and the current side. Imports keep the symlinked
    path (they make paths absolute, not real), so locations are named from it too. Several
    source folders are staged as `src`, `src1`, `src2`, …: fixed for a given layout.
    """
    with tempfile.TemporaryDirectory(prefix="agui-perf-memray-") as tmp:
        stage = Path(tmp)
        staged = [stage / f"src{index or ''}" for index in range(len(sources))]
        for link, folder in zip(staged, sources, strict=True):
            link.symlink_to(folder, target_is_directory=True)
        (stage / "scenarios").symlink_to(scenarios_file.parent, target_is_directory=True)
        real_roots = _roots(sources, scenarios_file, root)
        links = [*staged, stage / "scenarios"]
        staged_roots = [(link, prefix) for link, (_, prefix) in zip(links, real_roots, strict=True)]
        yield _Stage(
            dir=stage,
            sources=tuple(staged),
            scenarios_file=stage / "scenarios" / scenarios_file.name,
            capture=stage / "capture.bin",
            roots=staged_roots + real_roots,
        )


def _run_child(
    name: str,
    args: Sequence[str],
    *,
    stage: _Stage,
    log: Path | None,
    python: str,
    timeout: float,
) -> str:
    # -s: no user site-packages; -P: the child script's folder is not put on sys.path (only
    # the measured source folders and the scenarios' folder are, by the child itself).
    command = [python, "-s", "-P", str(_CHILD_SCRIPT)]
    for folder in stage.sources:
        command += ["--src", str(folder)]
    command += ["--scenarios", str(stage.scenarios_file), *args]
    try:
        done = subprocess.run(
            command,
            cwd=stage.dir,
            env=_child_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as err:
        stderr = _text(err.stderr)
        _write_log(log, stderr)
        raise ScenarioTimeoutError(
            name,
            f"memory scenario {name!r} did not finish within {timeout:g} s{_cause_suffix(stderr)}",
            log=log,
        ) from None
    except OSError as err:
        raise MemoryScenarioError(
            name, f"memory scenario {name!r}: cannot start {python!r} ({err.strerror})"
        ) from None
    if done.returncode == 0:
        return done.stdout
    _write_log(log, done.stderr)
    if done.returncode == _memory_child.EXIT_UNKNOWN:
        raise UnknownScenarioError(name, _cause(done.stderr))
    if done.returncode == _memory_child.EXIT_BAD_FILE:
        raise MemoryScenarioError(name, f"memory scenario {name!r}: {_cause(done.stderr)}")
    raise MemoryScenarioError(
        name,
        f"memory scenario {name!r} failed (exit {done.returncode}){_cause_suffix(done.stderr)}",
        log=log,
    )


def _text(output: str | bytes | None) -> str:
    # TimeoutExpired carries the raw bytes read so far, even with text=True.
    if isinstance(output, bytes):
        return output.decode("utf-8", errors="replace")
    return output or ""


def _cause(stderr: str) -> str:
    # Not simply the last line: warnings printed at shutdown come after the traceback.
    return cause_line(stderr) or "no output on stderr"


def _cause_suffix(stderr: str) -> str:
    return f": {_cause(stderr)}" if stderr.strip() else ""


def _write_log(log: Path | None, stderr: str) -> None:
    if log is not None:
        log.write_text(stderr, encoding="utf-8")


def _roots(
    sources: Sequence[Path], scenarios_file: Path, root: Path | None
) -> list[tuple[Path, str]]:
    """Measured-tree folders and how their files are named in locations: each source folder,
    then the scenarios' folder.

    Names are relative to the worktree (`src/agui_perf/…`, `tests/benchmarks/…`), never
    absolute, so that the accepted commit's sites and the current ones compare by location.
    """
    worktree = sources[0].parent if root is None else root.resolve()
    roots = [
        (
            folder,
            f"{folder.relative_to(worktree).as_posix()}/"
            if folder.is_relative_to(worktree)
            else f"{folder.name}/",
        )
        for folder in sources
    ]
    scenarios_dir = scenarios_file.parent
    if scenarios_dir.is_relative_to(worktree):
        roots.append((scenarios_dir, f"{scenarios_dir.relative_to(worktree).as_posix()}/"))
    else:
        roots.append((scenarios_dir, f"{scenarios_dir.name}/"))
    return roots


def _display_path(filename: str, roots: Iterable[tuple[Path, str]]) -> tuple[str, bool]:
    """(location path, whether the file is in the measured tree)."""
    path = Path(filename)
    if path == _CHILD_SCRIPT:
        # The harness is the current one on both sides, wherever the measured tree is.
        return f"<harness>/{path.name}", False
    for root, prefix in roots:
        if path.is_relative_to(root):
            return prefix + path.relative_to(root).as_posix(), True
    # Outside the tree: the part after site-packages/ or the stdlib folder is the same on
    # every machine and venv ("asyncio/queues.py", "starlette/routing.py").
    _, marker, rest = filename.rpartition("site-packages/")
    if marker:
        return rest, False
    return _STDLIB_PREFIX.sub("", filename), False


def _site_of(record: AllocationRecord, roots: Sequence[tuple[Path, str]]) -> tuple[str, str]:
    """(location, function) an allocation is charged to.

    The innermost frame inside the measured tree: that is the line a change to this project
    moves, whereas the innermost frame overall is mostly asyncio or Starlette internals. An
    allocation with no measured-tree frame on its stack is charged to its innermost frame.
    """
    stack = record.stack_trace()
    if not stack:
        return "<unknown>", "<unknown>"
    fallback: tuple[str, str] | None = None
    for function, filename, lineno in stack:
        shown, in_tree = _display_path(filename, roots)
        site = (f"{shown}:{lineno}", function)
        if in_tree:
            return site
        if fallback is None:
            fallback = site
    assert fallback is not None
    return fallback


def _read_capture(
    name: str, capture: Path, *, roots: Sequence[tuple[Path, str]], top: int
) -> MemoryRecord:
    try:
        reader = memray.FileReader(capture)
    except (OSError, ValueError) as err:
        raise MemoryScenarioError(
            name, f"memory scenario {name!r}: capture {capture} cannot be read ({err})"
        ) from None
    try:
        metadata = reader.metadata
        # metadata.total_allocations counts every record of the capture, frees included (about
        # half of them); the allocation calls are what `memray stats` reports as allocations.
        allocations = sum(
            1 for r in reader.get_allocation_records() if r.allocator not in _DEALLOCATORS
        )
        leaked = sum(r.size for r in reader.get_leaked_allocation_records(merge_threads=True))
        sites: dict[tuple[str, str], list[int]] = {}
        for record in reader.get_high_watermark_allocation_records(merge_threads=True):
            totals = sites.setdefault(_site_of(record, roots), [0, 0])
            totals[0] += record.size
            totals[1] += record.n_allocations
    finally:
        reader.close()
    # Ties broken by location so that equal runs give byte-identical files.
    ranked = sorted(sites.items(), key=lambda item: (-item[1][0], item[0]))
    return MemoryRecord(
        scenario=name,
        peak_bytes=metadata.peak_memory,
        total_allocations=allocations,
        leaked_bytes=leaked,
        top_sites=[
            SiteRecord(location=location, function=function, bytes=size, allocations=count)
            for (location, function), (size, count) in ranked[:top]
        ],
    )
