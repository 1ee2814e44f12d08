"""The child side of a memory scenario run: runs inside the fresh process that memray tracks.

`agui_perf.gate.measure.memory` starts this file *by path* (`python -s -P _memory_child.py …`),
never as `-m agui_perf.gate.measure._memory_child`: the measured code may be another commit's
source folders (a git worktree), and once any `agui_perf` is in `sys.modules` every later
`import agui_perf.stream` resolves through that package's `__path__`. So this module imports
nothing from `agui_perf` (standard library and memray only) and puts the measured source
folders (`--src`, repeated for each) first on `sys.path` before the scenarios file is loaded.

Exit status: 0 measured; 1 the scenario raised (Python prints the traceback, whose last line
the runner quotes); 2 and 3 a one-line message on stderr (unknown scenario / unusable file).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import importlib.util
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import memray

if TYPE_CHECKING:
    from types import ModuleType

__all__ = [
    "EXIT_BAD_FILE",
    "EXIT_UNKNOWN",
]

EXIT_UNKNOWN = 2
EXIT_BAD_FILE = 3

#: personality(2) flag (linux/personality.h): map everything at fixed addresses.
_ADDR_NO_RANDOMIZE = 0x0040000
_PERSONALITY_QUERY = 0xFFFFFFFF

_MODULE_NAME = "_agui_perf_memory_scenarios"


class _ChildError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _load_registry(
    sources: Sequence[Path], scenarios_file: Path, packages: Sequence[str]
) -> Mapping[str, object]:
    # The measured tree first: it must win over any installed (editable) copy of the project.
    # The scenarios' folder second, so the file can import helpers that sit beside it.
    sys.path[:0] = [*map(str, sources), str(scenarios_file.parent)]
    spec = importlib.util.spec_from_file_location(_MODULE_NAME, scenarios_file)
    if spec is None or spec.loader is None:
        raise _ChildError(EXIT_BAD_FILE, f"{scenarios_file} cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[_MODULE_NAME] = module
    spec.loader.exec_module(module)
    _check_measured_tree(sources, packages)
    return _registry(module, scenarios_file)


def _check_measured_tree(sources: Sequence[Path], packages: Sequence[str]) -> None:
    # Measuring the wrong commit's code would give a confident, wrong verdict: each of the
    # project's top-level modules (`--package`: what the current tree's source folders hold)
    # that got imported must come from the measured source folders, not an installed copy.
    roots = [folder.resolve() for folder in sources]
    shown = ", ".join(str(root) for root in roots)
    for name in packages:
        origin = getattr(sys.modules.get(name), "__file__", None)
        if origin is None:
            continue
        real = Path(origin).resolve()
        if not any(real.is_relative_to(root) for root in roots):
            raise _ChildError(EXIT_BAD_FILE, f"{name} was imported from {real}, not from {shown}")


def _registry(module: ModuleType, scenarios_file: Path) -> Mapping[str, object]:
    registry = getattr(module, "SCENARIOS", None)
    if not isinstance(registry, Mapping):
        raise _ChildError(
            EXIT_BAD_FILE,
            f"{scenarios_file} defines no SCENARIOS mapping of name to callable",
        )
    return registry


def _measure(scenario: Callable[[], object], capture: Path) -> None:
    # Warm-up, untracked: lazy imports, first-call caches (Starlette builds its middleware
    # stack on the first request, asyncio and encodings import submodules on first use) and
    # interned strings land here, so the tracked run counts what the scenario itself costs
    # and what it keeps, not one-off setup.
    scenario()
    gc.collect()
    with memray.Tracker(
        capture,
        native_traces=False,
        # Python's own allocators (pymalloc) reuse arena memory invisibly unless traced; with
        # them traced, peak and allocation counts are identical run to run (test_memory checks).
        trace_python_allocators=True,
        # The aggregated formats count records, not allocations.
        file_format=memray.FileFormat.ALL_ALLOCATIONS,
    ):
        scenario()
        # Reference cycles the run left behind are garbage, not a leak: free them inside the
        # tracked window so that "leaked" means memory the run really keeps.
        gc.collect()


def _reexec_without_aslr() -> None:
    """Re-execute this process with address space layout randomization off (Linux only).

    Why: even with the hash seed fixed, CPython hashes most objects by address (`id`), and a
    set's resize point depends on which dummy slots those hashes probe (asyncio's WeakSet of
    tasks, anyio's task sets). With ASLR on, workflow_run's allocation count varied by one to
    three records between fresh processes (about one run in six); with it off, 50 runs in a
    row were identical. The flag takes
    effect at exec, so the process execs itself once; the second time it is already set.
    Where personality(2) is refused (e.g. Docker's default seccomp profile) the run goes on
    with ASLR, and counts may then differ by a few records between runs.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        current = libc.personality(ctypes.c_ulong(_PERSONALITY_QUERY))
    except (OSError, AttributeError):
        return
    if current == -1 or current & _ADDR_NO_RANDOMIZE:
        return
    if libc.personality(ctypes.c_ulong(current | _ADDR_NO_RANDOMIZE)) == -1:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, sys.orig_argv)  # noqa: S606 - our own command line, again


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="_memory_child")
    parser.add_argument("--src", type=Path, action="append", required=True)
    parser.add_argument("--package", action="append", default=[])
    parser.add_argument("--scenarios", type=Path, required=True)
    parser.add_argument("--list", action="store_true", help="print the scenario names and exit")
    parser.add_argument("--scenario")
    parser.add_argument("--capture", type=Path)
    args = parser.parse_args(argv)
    if not args.list:
        _reexec_without_aslr()
    # asyncio.run() installs its own SIGINT handler when SIGINT has Python's default one,
    # and on the way out `signal.signal()` formats the repr of the run's main task (through
    # an enum lookup that fails): hundreds of allocations a run whose sizes depend on the
    # scenarios file's path, i.e. on which worktree is measured. A measurement child has no
    # use for graceful Ctrl-C; with SIG_DFL the signal simply ends it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    # absolute(), not resolve(): the runner stages the tree behind symlinks of fixed length,
    # and the paths must keep that length inside this process (see memory._staged).
    sources: list[Path] = [path.absolute() for path in args.src]
    scenarios_file: Path = args.scenarios.absolute()
    try:
        registry = _load_registry(sources, scenarios_file, args.package)
        if args.list:
            print("\n".join(sorted(registry)))
            return 0
        scenario = registry.get(args.scenario)
        if scenario is not None and not callable(scenario):
            raise _ChildError(
                EXIT_BAD_FILE, f"SCENARIOS[{args.scenario!r}] is {scenario!r}, not a callable"
            )
        if scenario is None:
            known = ", ".join(sorted(registry)) or "none"
            raise _ChildError(
                EXIT_UNKNOWN,
                f"unknown memory scenario {args.scenario!r}; "
                f"{scenarios_file.name} defines: {known}",
            )
        if args.capture is None:
            raise _ChildError(EXIT_BAD_FILE, "--capture is required to measure a scenario")
        _measure(scenario, args.capture)
    except _ChildError as err:
        print(err, file=sys.stderr)
        return err.code
    return 0


if __name__ == "__main__":
    sys.exit(main())
