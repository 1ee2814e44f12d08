"""`agui-perf gate perf | update-baseline`: argparse → `gate.pipeline` → exit code.

The parser is built on every `agui-perf` start, also for `serve` on an install without the
gate extras (scipy, memray, pygal): the pipeline is imported only when a gate command runs.

`nox -s perf` and `nox -s update-baseline` pass their posargs (after `--`) straight through,
so every mistake in them must come back as one line that says what is wrong — never argparse's
usage block, never a traceback — and exit 2 (unusable input or usage error).

A run is also stopped in one way whatever stops it (`interrupts`): Ctrl-C, SIGTERM (a
cancelled CI job, `kill`) and SIGHUP (a closed terminal) all end it with exit 2, its child
processes stopped, the worktree removed and nothing under baselines/ changed.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import math
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from agui_perf.gate.errors import GateError
from agui_perf.gate.measure.runner import BENCHMARKS_DIR, DEFAULT_OUT, DEFAULT_SCALE
from agui_perf.gate.progress import to_stderr
from agui_perf.gate.store.layout import LAYOUT_TABLE, Layout, declared_benchmarks

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from types import FrameType

    from agui_perf.gate.pipeline import BaselineUpdate, GateOptions
    from agui_perf.gate.store.baseline import DiffRow

__all__ = [
    "DEFAULT_HISTORY",
    "GateArgumentParser",
    "Interrupted",
    "add_gate_parser",
    "format_diff",
    "format_timings",
    "interrupts",
    "options_from_args",
    "project_root",
    "run_perf",
    "run_update_baseline",
]

_log = logging.getLogger(__name__)

_MAX_SCALE = 100.0
#: `perf --history N`: commits of the trend by default, and the most it reads (each commit is
#: one `git show` and one parse of its baseline file).
DEFAULT_HISTORY = 30
_MAX_HISTORY = 1000


class GateArgumentParser(argparse.ArgumentParser):
    """An argparse parser whose every error is one line on stderr and exit status 2."""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        # Left to the root parser, unknown arguments would be reported with its usage block.
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} — see {self.prog} --help\n")


def _processes(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 100:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 100, got {text!r}")
    return int(text)


def _min_effect(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value < 1):
        raise argparse.ArgumentTypeError(
            f"must be a fraction between 0 and 1 (0.1 = 10 %), got {text!r}"
        )
    return value


def _scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= _MAX_SCALE):
        raise argparse.ArgumentTypeError(
            f"must be a number in (0, {_MAX_SCALE:g}] (1 = the suites' full size), got {text!r}"
        )
    return value


def _history(text: str) -> int:
    if not text.isdigit() or int(text) > _MAX_HISTORY:
        raise argparse.ArgumentTypeError(
            f"must be a whole number from 0 (no trend) to {_MAX_HISTORY}, got {text!r}"
        )
    return int(text)


def _nonempty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def _add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-k",
        "--filter",
        dest="keyword",
        metavar="EXPR",
        type=_nonempty,
        help="only the benchmarks matching this pytest -k expression",
    )
    parser.add_argument(
        "--processes",
        type=_processes,
        metavar="N",
        help="fresh benchmark processes per side (default: [tool.agui_perf].processes or 8)",
    )
    parser.add_argument(
        "--min-effect",
        type=_min_effect,
        metavar="FRACTION",
        help="smallest change that counts, e.g. 0.1 for 10 %% (default: [tool.agui_perf])",
    )
    parser.add_argument(
        "--ref",
        type=_nonempty,
        metavar="REF",
        help="compare against this git ref instead of the commit that last changed the baseline",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help=f"report folder (default: {DEFAULT_OUT} in the project root)",
    )
    parser.add_argument(
        "--scale",
        type=_scale,
        default=DEFAULT_SCALE,
        metavar="X",
        help="workload size for the benchmarks, AGUI_PERF_SCALE (default: %(default)s)",
    )


def add_gate_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    gate = subparsers.add_parser(
        "gate",
        help="the performance gate: perf, update-baseline",
        description="The performance gate (what nox -s perf and nox -s update-baseline run).",
    )
    commands = gate.add_subparsers(
        dest="gate_command", required=True, metavar="COMMAND", parser_class=GateArgumentParser
    )
    perf_parser = commands.add_parser(
        "perf",
        help="measure current and accepted code here, compare, report; exit 0/1/2",
        description=(
            "Measure the current code and the accepted code (the commit that last changed "
            "baselines/<environment>.json) on this machine in fresh processes, interleaved; "
            "compare; write the report. Exit 0 pass, 1 regression or budget breach, 2 error."
        ),
    )
    _add_options(perf_parser)
    perf_parser.add_argument(
        "--history",
        type=_history,
        default=DEFAULT_HISTORY,
        metavar="N",
        help="the trend: values at the last N commits that changed the baseline file, "
        "0 for none (default: %(default)s)",
    )
    perf_parser.set_defaults(handler=run_perf)
    update_parser = commands.add_parser(
        "update-baseline",
        help="measure the current code and replace baselines/<environment>.json",
        description=(
            "Measure the current code and write baselines/<environment>.json atomically; "
            "print what changed. A failed or interrupted run leaves the old file as it was."
        ),
    )
    _add_options(update_parser)
    update_parser.set_defaults(handler=run_update_baseline)
    return gate


def project_root(start: Path) -> Path:
    """The project the gate measures: the nearest folder from `start` upwards that holds both
    pyproject.toml and its benchmarks folder (`[tool.agui_perf.layout].benchmarks`, by
    default tests/benchmarks/), so the gate can be started from any subfolder. A
    pyproject.toml with a `[tool.agui_perf.layout]` table marks the project even when that
    folder is missing: the settings then say so, naming the key.

    Not git's top level: the project may sit in a subfolder of a larger repository (a
    monorepo), and outside git there is no top level at all.
    """
    start = start.resolve()
    for folder in (start, *start.parents):
        pyproject = folder / "pyproject.toml"
        if not pyproject.is_file():
            continue
        benchmarks, configured = declared_benchmarks(pyproject)
        if configured or (folder / benchmarks).is_dir():
            return folder
    raise GateError(
        f"no project here: no folder from {start} upwards holds both pyproject.toml and "
        f"{BENCHMARKS_DIR.as_posix()}/ (or a {LAYOUT_TABLE} table naming another benchmarks "
        "folder) — run the gate inside the project"
    )


def options_from_args(args: argparse.Namespace, cwd: Path | None = None) -> GateOptions:
    """The pipeline's options; the project root is found from `cwd` (default: the current one)."""
    from agui_perf.gate.pipeline import GateOptions

    root = project_root(Path.cwd() if cwd is None else cwd)
    return GateOptions(
        root=root,
        keyword=args.keyword,
        processes=args.processes,
        min_effect=args.min_effect,
        ref=args.ref,
        # An explicit --out is the user's path (relative to where they are); the default
        # belongs to the project, wherever in it the gate was started.
        out=root / DEFAULT_OUT if args.out is None else args.out,
        scale=args.scale,
        # update-baseline has no trend (and no --history).
        history=getattr(args, "history", 0),
    )


def _os_error(err: OSError) -> GateError:
    # A full disk or a vanished folder mid-run: the user's environment, not a gate bug.
    where = f" ({err.filename})" if err.filename else ""
    fix = "free some disk space" if err.errno == errno.ENOSPC else "fix it"
    return GateError(f"{err.strerror or err}{where} — {fix} and run the gate again")


class Interrupted(KeyboardInterrupt):
    """A stop signal, raised where the gate was; it takes Ctrl-C's way out (cleanup, exit 2)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name


#: Signals that stop a run. SIGINT and SIGHUP stay ignored when the gate inherits them
#: ignored (a job started in the background by a non-interactive shell, `nohup`): that is
#: the convention Python and well-behaved programs follow. SIGTERM always stops it.
_STOP_SIGNALS = tuple(
    sig
    for sig in (
        signal.SIGINT,
        signal.SIGTERM,
        getattr(signal, "SIGHUP", None),  # not on Windows
    )
    if sig is not None
)


@contextlib.contextmanager
def interrupts() -> Iterator[None]:
    """While the block runs, a stop signal raises `Interrupted` once; later ones are ignored.

    The default for SIGTERM and SIGHUP ends Python at once: the benchmark processes (their
    own process groups, with servers of their own) would be orphaned and the accepted
    commit's worktree left behind. As a KeyboardInterrupt the signal takes the way out that
    Ctrl-C takes: children stopped, worktree removed, baselines/ untouched, one error line.
    A second signal while that cleanup runs (an impatient second Ctrl-C) must not cut it
    short, so it is ignored; the cleanup is bounded (runner._stop_group, git's timeout).
    """
    stopping = False

    def interrupt(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        raise Interrupted(signum)

    previous: dict[int, Callable[[int, FrameType | None], object] | int | None] = {}
    try:
        for sig in _STOP_SIGNALS:
            current = signal.getsignal(sig)
            if current is None:  # set outside Python: it could not be put back
                continue
            if sig != signal.SIGTERM and current == signal.SIG_IGN:
                continue
            previous[sig] = current
            signal.signal(sig, interrupt)
    except ValueError:  # not the main thread (an embedding caller): leave signals alone
        previous.clear()
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _interrupted(stop: KeyboardInterrupt) -> str:
    return f"interrupted ({stop.signal_name})" if isinstance(stop, Interrupted) else "interrupted"


def _error(command: str, message: str) -> None:
    print(f"agui-perf gate {command}: error: {message}", file=sys.stderr, flush=True)


def _start(
    command: str, args: argparse.Namespace, stack: contextlib.ExitStack[bool | None]
) -> GateOptions | int:
    """The options with the project's gate lock held (until `stack` closes), or an exit code.

    What goes wrong before the lock is held (no project, another run, an early Ctrl-C) is
    reported on stderr only: the report folder may belong to the run that holds the lock.
    """
    stack.enter_context(to_stderr())
    try:
        # Imported here, under `interrupts`: the pipeline pulls in scipy (a second or more),
        # and a Ctrl-C during that import is one line too. fcntl (gate.lock) is POSIX only,
        # and `agui-perf serve` builds this parser on any platform.
        import agui_perf.gate.pipeline  # noqa: F401
        from agui_perf.gate.lock import gate_lock

        options = options_from_args(args)
        if options.root != Path.cwd().resolve():
            _log.info(f"project root: {options.root}")
        stack.enter_context(gate_lock(options.root))
    except GateError as err:
        _error(command, str(err))
    except OSError as err:
        _error(command, str(_os_error(err)))
    except KeyboardInterrupt as stop:
        _error(command, f"{_interrupted(stop)} — nothing was started")
    else:
        return options
    return 2


def run_perf(args: argparse.Namespace) -> int:
    with interrupts(), contextlib.ExitStack() as stack:
        options = _start("perf", args, stack)
        if isinstance(options, int):
            return options
        from agui_perf.gate.pipeline import perf, publish_error

        try:
            verdict = perf(options)
        except KeyboardInterrupt as stop:
            problem = GateError(
                f"{_interrupted(stop)} — no verdict; nothing under baselines/ was changed"
            )
        except GateError as err:
            problem = err
        except OSError as err:
            problem = _os_error(err)
        else:
            print(verdict.headline)
            print(f"report: {options.out}")
            return verdict.exit_code()
        _error("perf", str(problem))
        return publish_error(problem, options.out).exit_code()


def _format_value(metric: str, value: float | None) -> str:
    """A baseline figure in its unit; "—" when absent (new or removed)."""
    from agui_perf.gate.report.markdown import format_bytes, format_count, format_duration

    if metric == "peak bytes":
        return format_bytes(value)
    if metric in ("allocations", "instructions/call"):
        return format_count(value)
    return format_duration(value)


def format_diff(rows: Sequence[DiffRow]) -> list[str]:
    """`name  metric  old → new  change` lines, aligned, for the update-baseline printout."""
    cells: list[tuple[str, str, str, str]] = []
    for row in rows:
        if row.old is None:
            change = "new"
        elif row.new is None:
            change = "removed"
        else:
            change = "—" if row.pct is None else f"{row.pct:+.1f} %"
        span = f"{_format_value(row.metric, row.old)} → {_format_value(row.metric, row.new)}"
        cells.append((row.name, row.metric, span, change))
    return _aligned(cells)


def format_timings(rows: Sequence[DiffRow], kept: Sequence[str] = ()) -> list[str]:
    """`name  now X  (stored Y)` lines: the new timing, the stored one beside it, no change.

    A timing is only comparable with one measured beside it, so the stored value is shown for
    orientation and never as a change (`format_diff` is for what is comparable).
    """
    cells: list[tuple[str, str, str, str]] = []
    for row in rows:
        if row.name in kept:
            note = "kept: not selected by -k"
        elif row.old is None:
            note = "new"
        elif row.new is None:
            note = "removed"
        else:
            note = f"(stored {_format_value(row.metric, row.old)})"
        now = "—" if row.new is None else f"now {_format_value(row.metric, row.new)}"
        cells.append((row.name, row.metric, now, note))
    return _aligned(cells)


def _aligned(cells: Sequence[tuple[str, str, str, str]]) -> list[str]:
    if not cells:
        return []
    widths = [max(len(cell[i]) for cell in cells) for i in range(3)]
    return [
        f"  {name:<{widths[0]}}  {metric:<{widths[1]}}  {span:<{widths[2]}}  {change}"
        for name, metric, span, change in cells
    ]


def _print_update(update: BaselineUpdate, folders: Sequence[str] = ("src",)) -> None:
    """The printout of a written baseline; `folders`: the layout's source folders."""
    source = update.source
    commit = source.commit[:10] if source.commit else "no commit"
    code = ", ".join(f"{folder}/" for folder in folders)
    state = f"with uncommitted changes in {code}" if source.dirty else f"{code} clean"
    print(f"wrote {update.path} (measured at {commit}, {state})")
    comparable = [row for row in update.rows if row.comparable]
    timings = [row for row in update.rows if not row.comparable]
    if comparable:
        print(
            "comparable across machines (memory, allocation counts, instruction counts: "
            "deterministic, so a change here is a change of the code or its environment):"
        )
        for line in format_diff(comparable):
            print(line)
        if update.environment_changes:
            print(
                "note: the stored file was measured in another environment ("
                + "; ".join(update.environment_changes[:3])
                + "): memory and instruction counts can differ for that reason alone"
            )
    if timings:
        if update.stored_from:
            print(
                "timings: measured on this machine now; the stored ones came from "
                f"{update.stored_from} — not compared:"
            )
        else:
            print("timings: measured on this machine now:")
        for line in format_timings(timings, update.kept):
            print(line)
    if update.previous_note:
        print(f"note: {update.previous_note}")
    if update.kept:
        print(
            f"note: {len(update.kept)} benchmarks not selected by -k keep their previous "
            "numbers; a run without -k drops removed benchmarks"
        )
    if source.dirty:
        print(f"note: {code} has uncommitted changes — commit them together with the baseline")
    print(f"accept the change: git add {update.path} and commit it with the code")


def run_update_baseline(args: argparse.Namespace) -> int:
    with interrupts(), contextlib.ExitStack() as stack:
        options = _start("update-baseline", args, stack)
        if isinstance(options, int):
            return options
        from agui_perf.gate.decide.verdict import error_verdict
        from agui_perf.gate.pipeline import baseline_file, update_baseline

        layout = _layout(options.root)
        _, relative = baseline_file(options.root, layout)
        kept = f"{relative} left as it was"
        try:
            update = update_baseline(options)
        except KeyboardInterrupt as stop:
            error = GateError(f"{_interrupted(stop)} — {kept}")
            _error("update-baseline", str(error))
            return error_verdict(error).exit_code()
        except (GateError, OSError) as err:
            problem = err if isinstance(err, GateError) else _os_error(err)
            _error("update-baseline", f"{problem} — {kept}")
            return error_verdict(problem).exit_code()
        _print_update(update, layout.source)
        return 0


def _layout(root: Path) -> Layout:
    """The project's layout for naming its files in messages; the default where the settings
    are unreadable (the run itself then says what is wrong with them)."""
    from agui_perf.gate.store.config import load_settings

    try:
        return load_settings(root / "pyproject.toml").layout
    except (GateError, OSError):
        return Layout()
