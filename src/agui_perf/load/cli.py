"""`agui-perf load`: the load test's options, and the command that runs it.

    agui-perf load [--target module:attr|http://host:port] [--path /agent] [--input FILE]
                   [--users N] [--spawn-rate R] [--duration S] [--workers N] …

Every mistake in the options is one line on stderr and exit status 2, before anything
starts; so is a missing Locust (`pip install 'agui-perf[load]'`). The parser imports neither
Locust nor the gate's statistics, so `agui-perf --help` stays quick and `nox -s tests` tests
it without Locust.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from agui_perf.gate.cli import GateArgumentParser
from agui_perf.gate.errors import GateError
from agui_perf.stream.workflows import WorkflowParams
from agui_perf.suite.target import DEFAULT_TARGET, Target, TargetError, parse_target

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

__all__ = [
    "DEFAULT_PARAMS",
    "DEFAULT_PATH",
    "INSTALL_HINT",
    "OUR_CORE",
    "USER_CLASSES",
    "LoadOptions",
    "add_load_parser",
    "build_load_parser",
    "main",
    "parse_load_args",
    "run_load_command",
]

USER_CLASSES: Final = ("AccountAnalysisUser", "BurstTrafficUser")
DEFAULT_PARAMS: Final = '{"token_delay": 0.02}'
DEFAULT_PATH: Final = "/agent"
DEFAULT_WORKFLOW: Final = "account_analysis"
INSTALL_HINT: Final = "agui-perf load needs Locust and pygal: pip install 'agui-perf[load]'"
PROG: Final = "agui-perf load"

#: The default target: our core, which `agui-perf serve` serves.
OUR_CORE: Final = Target("app", DEFAULT_TARGET)

MAX_USERS: Final = 5_000
MAX_DURATION_S: Final = 600
MAX_WORKERS: Final = 16


@dataclass(frozen=True)
class LoadOptions:
    target: Target = OUR_CORE
    path: str = DEFAULT_PATH
    #: The RunAgentInput every user posts (`--input`), or None for our core's workflows.
    input_body: Mapping[str, Any] | None = None
    users: int = 50
    spawn_rate: float = 25.0
    duration: int = 30
    workers: int = 0  # Locust workers; 0 = one local Locust process
    server_workers: int = 1
    user_classes: tuple[str, ...] = USER_CLASSES
    workflow: str = DEFAULT_WORKFLOW
    params: str = DEFAULT_PARAMS
    think: tuple[float, float] = (1.0, 3.0)
    out_dir: Path = Path(".perf/load")
    pyproject: Path = Path("pyproject.toml")
    steady_state: bool = False  # Locust's --reset-stats: judge only after spawning completes
    check_only: bool = False

    @property
    def serves_our_core(self) -> bool:
        """The default target: served by `agui-perf serve` (workers, keep-alive, timeouts)."""
        return self.target == OUR_CORE


# --- option types ---------------------------------------------------------------------------


def _bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low}..{high}")
        return value

    return parse


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and 0 < value <= 10_000):
        raise argparse.ArgumentTypeError(f"{text!r} must be a number in (0, 10000]")
    return value


def _think(text: str) -> tuple[float, float]:
    low_text, _, high_text = text.partition(",")
    try:
        low, high = float(low_text), float(high_text or low_text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not MIN,MAX in seconds") from None
    if not (math.isfinite(low) and math.isfinite(high) and 0 <= low <= high <= 600):
        raise argparse.ArgumentTypeError(f"{text!r} needs 0 <= MIN <= MAX <= 600")
    return low, high


def _params(text: str) -> str:
    try:
        params = json.loads(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not JSON ({err})") from None
    if not isinstance(params, dict):
        raise argparse.ArgumentTypeError(f"{text!r} is not a JSON object")
    if "stamp" in params:
        raise argparse.ArgumentTypeError("'stamp' is set by the load test itself")
    try:
        # Our core would reject the same params on every run; say so before starting it.
        WorkflowParams.from_mapping(params)
    except (ValueError, TypeError) as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def _target(text: str) -> Target:
    try:
        return parse_target(text)
    except TargetError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _path(text: str) -> str:
    if not text.startswith("/") or any(c.isspace() for c in text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an endpoint path; e.g. /agent or /")
    return text


def _input(text: str) -> Mapping[str, Any]:
    try:
        body = json.loads(Path(text).read_bytes())
    except OSError as err:
        raise argparse.ArgumentTypeError(
            f"cannot read {text!r} ({err.strerror}); give a RunAgentInput JSON file"
        ) from None
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not JSON ({err})") from None
    if not isinstance(body, dict):
        raise argparse.ArgumentTypeError(
            f"{text!r} holds a {type(body).__name__}, not a JSON object (a RunAgentInput)"
        )
    return body


# --- the parser -----------------------------------------------------------------------------


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add(
        "--target",
        type=_target,
        default=OUR_CORE,
        metavar="TARGET",
        help="module:attr (an ASGI app or factory, started here on 127.0.0.1) or "
        f"http://host:port of a running server (default {DEFAULT_TARGET}, our core, "
        "served by agui-perf serve)",
    )
    add("--path", type=_path, default=DEFAULT_PATH, help="the endpoint (default /agent)")
    add(
        "--input",
        dest="input_body",
        type=_input,
        metavar="FILE",
        help="RunAgentInput JSON every user posts (fresh ids per run) instead of our core's "
        "workflows; event latency needs events with a 'timestamp'",
    )
    add("--users", type=_bounded_int(1, MAX_USERS), default=50, help="peak users (default 50)")
    add("--spawn-rate", type=_positive_float, default=25.0, help="users started per second")
    add("--duration", type=_bounded_int(1, MAX_DURATION_S), default=30, help="seconds (30)")
    add("--workers", type=_bounded_int(0, MAX_WORKERS), default=0, help="Locust workers (0)")
    add(
        "--server-workers",
        type=_bounded_int(1, MAX_WORKERS),
        help="server worker processes of our core (default 1; only for the default target)",
    )
    add(
        "--user-class",
        dest="user_classes",
        action="append",
        choices=USER_CLASSES,
        help="user class to run (repeatable; default: both)",
    )
    add(
        "--workflow",
        choices=("account_analysis", "paced"),
        help=f"AccountAnalysisUser's workflow (default {DEFAULT_WORKFLOW})",
    )
    add("--params", type=_params, help=f"its JSON workflow params (default {DEFAULT_PARAMS})")
    add("--think", type=_think, default=(1.0, 3.0), help="its think time MIN,MAX seconds")
    add("--out", dest="out_dir", type=Path, default=Path(".perf/load"), help="report directory")
    add("--pyproject", type=Path, default=Path("pyproject.toml"), help="where the budgets are")
    add(
        "--steady-state",
        action="store_true",
        help="reset the stats once every user has started (judge the plateau, not the ramp)",
    )
    add("--check-only", action="store_true", help="only judge the CSV of the last run")


def build_load_parser() -> argparse.ArgumentParser:
    """The parser on its own (what `add_load_parser` adds to `agui-perf`)."""
    parser = GateArgumentParser(prog=PROG, description=_DESCRIPTION)
    _add_arguments(parser)
    return parser


_DESCRIPTION: Final = (
    "Load-test an AG-UI endpoint with Locust, check the load budgets and report goodput. "
    "Exit 0 every budget met, 1 a budget breached, 2 unusable input or a usage error."
)


def add_load_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    # Built with the gate's parser class (errors are one line, exit 2) rather than the root
    # parser's, whose errors print the usage block first.
    previous = subparsers._parser_class
    subparsers._parser_class = GateArgumentParser
    try:
        parser = subparsers.add_parser(
            "load",
            help="Locust load test of an AG-UI endpoint: load budgets and goodput; exit 0/1/2",
            description=_DESCRIPTION,
        )
    finally:
        subparsers._parser_class = previous
    _add_arguments(parser)
    parser.set_defaults(handler=run_load_command)
    return parser


def _options(args: argparse.Namespace) -> LoadOptions:
    """The options, checked against each other; a conflict is one GateError line."""
    options = vars(args).copy()
    options.pop("handler", None)
    options.pop("command", None)
    options["user_classes"] = tuple(dict.fromkeys(args.user_classes or USER_CLASSES))
    target: Target = args.target
    if args.server_workers is not None and target != OUR_CORE:
        where = "a server we do not start" if target.kind == "url" else "one uvicorn process"
        raise GateError(
            f"--server-workers applies to the default target only ({DEFAULT_TARGET}, "
            f"served by agui-perf serve); {target.value} runs as {where} — drop it"
        )
    if args.input_body is not None and (args.workflow or args.params):
        raise GateError(
            "--workflow and --params choose our core's workflow; with --input the file is "
            "posted as it is — give one or the other"
        )
    options["server_workers"] = args.server_workers or 1
    options["workflow"] = args.workflow or DEFAULT_WORKFLOW
    options["params"] = args.params or DEFAULT_PARAMS
    return LoadOptions(**options)


def parse_load_args(argv: Sequence[str]) -> LoadOptions:
    """Options from `agui-perf load …`; a conflict raises GateError, a parse error exits 2."""
    return _options(build_load_parser().parse_args(list(argv)))


def _missing_extra(check_only: bool) -> bool:
    # Judging a CSV that is already there needs only pygal (the chart), not Locust.
    names = ("pygal",) if check_only else ("locust", "pygal")
    return any(importlib.util.find_spec(name) is None for name in names)


def run_load_command(args: argparse.Namespace) -> int:
    """The handler of `agui-perf load`: 0 pass, 1 breach, 2 unusable input or interrupted."""
    try:
        options = _options(args)
        if _missing_extra(options.check_only):
            raise GateError(INSTALL_HINT)
        # Imported here: the run needs the gate's settings reader and pygal, the parser not.
        from agui_perf.load.session import Interrupted, run_load

        try:
            return run_load(options)
        except (KeyboardInterrupt, Interrupted):
            print(
                f"{PROG}: error: interrupted — every process this run started was stopped",
                file=sys.stderr,
            )
            return 2
    except GateError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m agui_perf.load.cli …`, the same as `agui-perf load …`."""
    parser = build_load_parser()
    parser.set_defaults(handler=run_load_command)
    return run_load_command(parser.parse_args(sys.argv[1:] if argv is None else list(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
