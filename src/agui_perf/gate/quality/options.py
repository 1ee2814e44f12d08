"""The options of `python -m agui_perf.gate.quality`, checked into one `Config`.

Every mistake is one line on stderr and exit 2 before anything is copied or measured. The
options meant for the gate runs (after `--`, or in `--gate-args`) are checked by the gate's own
parser, so that a typo there does not surface only after an hour of calibration.
"""

from __future__ import annotations

import argparse
import math
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agui_perf.gate.cli import GateArgumentParser, add_gate_parser
from agui_perf.gate.errors import GateError
from agui_perf.gate.quality.cases import Case, plan_cases
from agui_perf.gate.quality.inject import MAX_ITERATIONS, Target, Work

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = [
    "PROG",
    "Config",
    "parse_config",
]

PROG = "python -m agui_perf.gate.quality"
DEFAULT_QUALITY_OUT = Path(".perf") / "quality"
_MAX_EFFECT = 5.0


def _whole(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = text.replace("_", "").replace(",", "")
        if not value.isdigit() or not low <= int(value) <= high:
            raise argparse.ArgumentTypeError(
                f"must be a whole number from {low:,} to {high:,}, got {text!r}"
            )
        return int(value)

    return parse


def _effect(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= _MAX_EFFECT):
        raise argparse.ArgumentTypeError(
            f"must be a fraction above 0 and at most {_MAX_EFFECT:g} (0.125 = 12.5 % slower), "
            f"got {text!r}"
        )
    return value


def _target(text: str) -> Target:
    try:
        return Target.parse(text)
    except GateError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix(f"--inject {text!r} ")) from None


def _parser() -> GateArgumentParser:
    parser = GateArgumentParser(
        prog=PROG,
        description=(
            "Measure the gate itself: run `agui-perf gate perf` several times on an unchanged "
            "copy of the project (false alarms) and on copies slowed down on purpose "
            "(detections), measure each slowdown's true effect apart from the gate, and "
            "tabulate. Options for the gate runs go after `--` or in --gate-args."
        ),
    )
    parser.add_argument(
        "--runs", type=_whole(1, 100), default=5, metavar="N", help="gate runs per case (5)"
    )
    parser.add_argument(
        "--inject",
        type=_target,
        metavar="MODULE:FUNCTION",
        help="the function to slow down, e.g. agui_perf.stream.encoder:encode_many",
    )
    parser.add_argument(
        "--work",
        type=Work,
        choices=list(Work),
        default=Work.CPU,
        help="cpu: a counting loop; alloc: the loop and a small list built per call (cpu)",
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--effect",
        type=_effect,
        nargs="+",
        metavar="F",
        help="one slowed case per target effect on --benchmark, e.g. 0.125 0.05",
    )
    size.add_argument(
        "--iterations",
        type=_whole(1, MAX_ITERATIONS),
        nargs="+",
        metavar="K",
        help="one slowed case per loop size (iterations per call)",
    )
    parser.add_argument(
        "--benchmark",
        metavar="NAME",
        help="the benchmark --effect is sized on and the true effect is measured on",
    )
    parser.add_argument(
        "--all-benchmarks",
        action="store_true",
        help="measure the true effect on every benchmark, not only --benchmark",
    )
    parser.add_argument(
        "--no-unchanged",
        dest="unchanged",
        action="store_false",
        help="leave out the unchanged (A/A) case",
    )
    parser.add_argument(
        "--calibration-processes",
        type=_whole(2, 100),
        default=4,
        metavar="N",
        help="processes a side per calibration step (4)",
    )
    parser.add_argument(
        "--effect-processes",
        type=_whole(2, 100),
        default=12,
        metavar="N",
        help="processes a side for the true effect (12)",
    )
    parser.add_argument(
        "--gate-args",
        default="",
        metavar="'ARGS'",
        help="options for every gate run, e.g. '--processes 8' (also after --)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_QUALITY_OUT,
        metavar="DIR",
        help="output folder (%(default)s)",
    )
    parser.add_argument(
        "--allow-dirty",
        action="store_true",
        help="run although the project has uncommitted changes (the copies are of HEAD)",
    )
    return parser


@dataclass(frozen=True)
class Config:
    runs: int
    cases: tuple[Case, ...]
    target: Target | None
    work: Work
    benchmark: str | None
    all_benchmarks: bool
    calibration_processes: int
    effect_processes: int
    gate_args: tuple[str, ...]
    scale: float  # the gate runs' --scale, so that every measurement uses one workload size
    keyword: str | None  # the gate runs' -k
    ref_given: bool  # the gate args name --ref already
    out: Path
    allow_dirty: bool


def _gate_options(parser: GateArgumentParser, args: Sequence[str]) -> argparse.Namespace:
    """The gate's own parser checks the pass-through options (its errors: one line, exit 2)."""
    root = argparse.ArgumentParser(prog="agui-perf", add_help=False)
    add_gate_parser(root.add_subparsers(dest="command"))
    options = root.parse_args(["gate", "perf", *args])
    given_out = any(a == "--out" or a.startswith("--out=") for a in args)
    # The gate's --out defaults to None (its project root's .perf/report).
    if given_out or options.out is not None:
        parser.error(
            "the gate options must not set --out: every gate run writes its report to its "
            "own folder under --out of verdict-quality"
        )
    return options


def parse_config(argv: Sequence[str]) -> Config:
    """The options, checked; argparse-style errors exit 2 with one line."""
    argv = list(argv)
    ours, passed = argv, []
    if "--" in argv:
        at = argv.index("--")
        ours, passed = argv[:at], argv[at + 1 :]
    parser = _parser()
    args = parser.parse_args(ours)
    try:
        extra = shlex.split(args.gate_args)
    except ValueError as err:
        parser.error(f"argument --gate-args: {err} in {args.gate_args!r}")
    gate_args = [*extra, *passed]
    sized = args.effect or args.iterations
    if args.inject is None and sized:
        parser.error("--effect and --iterations size a slowdown: name the function with --inject")
    if args.inject is not None and not sized:
        parser.error("--inject needs a size: --effect F (with --benchmark) or --iterations K")
    if args.effect and not args.benchmark:
        parser.error("--effect is a target effect on a benchmark: name it with --benchmark")
    if args.all_benchmarks and args.inject is None:
        parser.error("--all-benchmarks measures the effect of a slowdown: add --inject")
    for name, values in (("--effect", args.effect), ("--iterations", args.iterations)):
        if values and len(set(values)) != len(values):
            parser.error(f"{name} lists a value twice: {' '.join(map(str, values))}")
    cases = plan_cases(
        unchanged=args.unchanged,
        work=args.work if args.inject else None,
        effects=args.effect or (),
        iterations=args.iterations or (),
    )
    if not cases:
        parser.error("--no-unchanged leaves no case to run: add --inject with a size")
    options = _gate_options(parser, gate_args)
    return Config(
        runs=args.runs,
        cases=tuple(cases),
        target=args.inject,
        work=args.work,
        benchmark=args.benchmark,
        all_benchmarks=args.all_benchmarks,
        calibration_processes=args.calibration_processes,
        effect_processes=args.effect_processes,
        gate_args=tuple(gate_args),
        scale=options.scale,
        keyword=options.keyword,
        ref_given=options.ref is not None,
        out=args.out,
        allow_dirty=args.allow_dirty,
    )
