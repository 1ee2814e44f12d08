"""The AG-UI service suite as a pytest plugin (entry point `pytest11`: `agui_perf`).

Options (each with an ini key of the same name, `agui_target` …; the option wins):

- `--agui-target TARGET`: `module:attr` (an ASGI app or zero-argument factory, served by
  uvicorn on 127.0.0.1 in its own process) or `http://host:port` of a running server;
  default our core, `agui_perf.stream.app:create_app`.
- `--agui-path PATH`: the endpoint that takes a RunAgentInput (default `/agent`; `/` for a
  server written the way the SDK's docs show).
- `--agui-input FILE`: the RunAgentInput JSON to post (default `DEFAULT_INPUT`).
- `--agui-heartbeat S`: the heartbeat the server promises, in seconds (default: none).
- `--agui-timeout S`: how long one run (or one batch of concurrent runs) may take (60).
- `--agui-summary on|off`: at the end of a session whose tests measured runs, one table of
  every target's figures side by side (`summary`); default on.

Marker: `@pytest.mark.agui_target("module:attr" | "http://…", path=…, input=…, heartbeat=…)`
picks a test's target (and overrides the options for it), so one run can measure two apps;
`input=` is the body itself (a dict) or a JSON file relative to pytest's rootdir.

Fixtures: `agui_target` (the started target: `url`, `pid`; each distinct target is started
once per session and stopped at its end), `agui_run` (`agui_run()` → `RunFigures`;
`agui_run.concurrent(n)` → `Concurrency`; `agui_run.publish(benchmark, figures)` puts the
figures into pytest-benchmark's `extra_info`, so they land in `--benchmark-json`).

Loaded in every pytest run of an environment with agui-perf installed, it costs nothing
there: importing it starts nothing and imports only the standard library and pytest, the
options are only parsed, and no server starts until a test asks for `agui_target`.
Disable it with `-p no:agui_perf`.
"""

from __future__ import annotations

import contextlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pytest

from agui_perf.suite.summary import TITLE, Tally, format_table
from agui_perf.suite.target import DEFAULT_TARGET, Target, TargetError, parse_target, started

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from agui_perf.suite.client import Request
    from agui_perf.suite.concurrency import Concurrency
    from agui_perf.suite.figures import RunFigures
    from agui_perf.suite.target import StartedTarget

    #: `value(name)` → (the text given or None, where it was given: for error messages).
    Lookup = Callable[[str], tuple[str | None, str]]

__all__ = [
    "DEFAULT_INPUT",
    "DEFAULT_PATH",
    "MARKER",
    "Runner",
    "Settings",
    "TargetPool",
    "agui_run",
    "agui_target",
    "agui_targets",
]

MARKER: Final = "agui_target"
DEFAULT_PATH: Final = "/agent"
DEFAULT_TIMEOUT_S: Final = 60.0
#: A complete RunAgentInput (every field the official SDK's model requires), one user turn.
DEFAULT_INPUT: Final[Mapping[str, Any]] = {
    "threadId": "agui-suite-thread",
    "runId": "agui-suite-run",
    "state": {},
    "messages": [{"id": "agui-suite-msg-1", "role": "user", "content": "Hello"}],
    "tools": [],
    "context": [],
    "forwardedProps": {},
}
_OPTIONS: Final = ("target", "path", "input", "heartbeat", "timeout")
_SUMMARY_CHOICES: Final = ("on", "off")


@dataclass(frozen=True, slots=True)
class Settings:
    """What to measure and how: from the options, then a test's marker."""

    target: Target
    path: str
    body: bytes
    heartbeat_s: float | None
    timeout_s: float


_SETTINGS: Final = pytest.StashKey[Settings]()
_TALLY: Final = pytest.StashKey[Tally]()


def pytest_addoption(parser: pytest.Parser) -> None:
    # A group of its own: tests/benchmarks' conftest has "agui-perf" with --agui-scale.
    group = parser.getgroup("agui-suite", "agui-perf AG-UI service suite")
    helps = {
        "target": f"module:attr (app or factory) or http://host:port (default {DEFAULT_TARGET})",
        "path": f"endpoint that takes a RunAgentInput (default {DEFAULT_PATH})",
        "input": "RunAgentInput JSON file to post (default: a one-message input)",
        "heartbeat": "seconds between heartbeats the server promises (default: none)",
        "timeout": f"seconds one run may take (default {DEFAULT_TIMEOUT_S:g})",
    }
    metavars = {"target": "TARGET", "path": "PATH", "input": "FILE"}
    for name in _OPTIONS:
        group.addoption(
            f"--agui-{name}",
            dest=f"agui_suite_{name}",
            metavar=metavars.get(name, "S"),
            default=None,
            help=helps[name],
        )
        parser.addini(f"agui_{name}", f"like --agui-{name}: {helps[name]}", default=None)
    summary_help = "the closing table of every target's figures: on (default) or off"
    group.addoption(
        "--agui-summary",
        dest="agui_suite_summary",
        choices=_SUMMARY_CHOICES,
        default=None,
        help=summary_help,
    )
    parser.addini("agui_summary", f"like --agui-summary: {summary_help}", default=None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(target, path=None, input=None, heartbeat=None): measure this target "
        "(module:attr or http://host:port) in this test (agui-perf service suite)",
    )

    def value(name: str) -> tuple[str | None, str]:
        given = config.getoption(f"agui_suite_{name}")
        if given is not None:
            return given, f"--agui-{name}"
        ini = config.getini(f"agui_{name}") or None
        if ini is not None and name == "input" and config.inipath is not None:
            # A file named in the ini file is relative to it; one on the command line, to
            # the current folder.
            ini = str(config.inipath.parent / ini)
        return ini, f"agui_{name} (ini)"

    try:
        config.stash[_SETTINGS] = _settings(value)
        summary, source = value("summary")
        if summary not in (None, *_SUMMARY_CHOICES):
            raise ValueError(f"{source}: {summary!r} is neither on nor off")
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[_TALLY] = Tally() if summary != "off" else _Discard()


class _Discard(Tally):
    """A tally that keeps nothing (`--agui-summary off`): a long benchmark run holds no runs."""

    def add(self, label: str, target: str, path: str, body: bytes, run: RunFigures) -> None:
        del label, target, path, body, run


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """Every target's figures side by side, if this session's tests measured any."""
    tally = config.stash.get(_TALLY, None)
    if not tally:
        return
    terminalreporter.write_sep("=", f"{TITLE}: median per test and target, times in ms")
    for line in format_table(tally.rows()):
        terminalreporter.write_line(line)


def _settings(value: Lookup) -> Settings:
    """Settings from `value(name) -> (text or None, where it came from)`; ValueError: one line."""
    target_text, source = value("target")
    try:
        target = parse_target(target_text or DEFAULT_TARGET)
    except TargetError as exc:
        raise ValueError(f"{source}: {exc}") from None
    path_text, source = value("path")
    input_text, input_source = value("input")
    heartbeat_text, heartbeat_source = value("heartbeat")
    timeout_text, timeout_source = value("timeout")
    return Settings(
        target=target,
        path=_path(path_text or DEFAULT_PATH, source),
        body=_read_input(input_text, input_source, Path.cwd()),
        heartbeat_s=None
        if heartbeat_text is None
        else _seconds(heartbeat_text, heartbeat_source, "--agui-heartbeat 15"),
        timeout_s=DEFAULT_TIMEOUT_S
        if timeout_text is None
        else _seconds(timeout_text, timeout_source, "--agui-timeout 60"),
    )


def _path(text: str, source: str) -> str:
    if not text.startswith("/") or any(c.isspace() for c in text):
        raise ValueError(f"{source}: {text!r} is not an endpoint path; e.g. /agent or /")
    return text


def _seconds(text: object, source: str, example: str) -> float:
    try:
        seconds = float(str(text))
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"{source}: {text!r} is not a positive number of seconds; e.g. {example}")
    return seconds


def _read_input(text: object, source: str, base: Path) -> bytes:
    """The body to post: the default, a marker's dict, or a JSON file (relative to `base`)."""
    if text is None:
        return json.dumps(DEFAULT_INPUT).encode()
    if isinstance(text, dict):  # a marker's input= given as the body itself
        return json.dumps(text).encode()
    path = Path(str(text))
    path = path if path.is_absolute() else base / path
    try:
        body = json.loads(path.read_bytes())
    except OSError as exc:
        raise ValueError(
            f"{source}: cannot read {str(text)!r} ({exc.strerror}); give a RunAgentInput JSON file"
        ) from None
    except ValueError as exc:
        raise ValueError(f"{source}: {str(text)!r} is not JSON ({exc})") from None
    if not isinstance(body, dict):
        raise ValueError(
            f"{source}: {str(text)!r} holds a {type(body).__name__}, not a JSON object"
        )
    return json.dumps(body).encode()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A bad marker stops the run before anything starts, naming the test."""
    defaults = config.stash.get(_SETTINGS, None)
    if defaults is None:
        return
    for item in items:
        if item.get_closest_marker(MARKER) is not None:
            try:
                _for_item(defaults, item, config.rootpath)
            except ValueError as exc:
                raise pytest.UsageError(f"{item.nodeid}: {exc}") from None


def _for_item(defaults: Settings, item: pytest.Item, root: Path) -> Settings:
    marker = item.get_closest_marker(MARKER)
    if marker is None:
        return defaults
    where = f"@pytest.mark.{MARKER}"
    if len(marker.args) != 1 or not isinstance(marker.args[0], str):
        raise ValueError(f"{where} takes one target string, e.g. {MARKER}('pkg.app:app')")
    unknown = set(marker.kwargs) - {"path", "input", "heartbeat"}
    if unknown:
        raise ValueError(
            f"{where}: unknown argument(s) {sorted(unknown)}; use path=, input=, heartbeat="
        )
    try:
        target = parse_target(marker.args[0])
    except TargetError as exc:
        raise ValueError(f"{where}: {exc}") from None
    kwargs = marker.kwargs
    return Settings(
        target=target,
        path=_path(kwargs["path"], f"{where}(path=)") if "path" in kwargs else defaults.path,
        body=_read_input(kwargs["input"], f"{where}(input=)", root)
        if "input" in kwargs
        else defaults.body,
        heartbeat_s=_seconds(kwargs["heartbeat"], f"{where}(heartbeat=)", "heartbeat=15")
        if kwargs.get("heartbeat") is not None
        else defaults.heartbeat_s,
        timeout_s=defaults.timeout_s,
    )


class TargetPool:
    """Targets started on first use and kept until the session ends (one process each)."""

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self._started: dict[Target, StartedTarget] = {}
        self._failed: dict[Target, str] = {}

    def get(self, target: Target) -> StartedTarget:
        """The started target; a target that failed to start fails every test that asks."""
        if target in self._failed:
            raise TargetError(self._failed[target])
        if target not in self._started:
            try:
                self._started[target] = self._stack.enter_context(started(target))
            except TargetError as exc:
                self._failed[target] = str(exc)
                raise
        return self._started[target]

    def close(self) -> None:
        self._stack.close()


@pytest.fixture(scope="session")
def agui_targets() -> Iterator[TargetPool]:
    """Every target this session started, stopped when it ends."""
    pool = TargetPool()
    try:
        yield pool
    finally:
        pool.close()


def _item_settings(request: pytest.FixtureRequest) -> Settings:
    defaults = request.config.stash[_SETTINGS]
    item = request.node
    assert isinstance(item, pytest.Item)
    return _for_item(defaults, item, request.config.rootpath)


@pytest.fixture
def agui_target(request: pytest.FixtureRequest, agui_targets: TargetPool) -> StartedTarget:
    """This test's target (marker, else `--agui-target`), accepting connections."""
    try:
        return agui_targets.get(_item_settings(request).target)
    except TargetError as exc:
        pytest.fail(str(exc), pytrace=False)


class Runner:
    """`agui_run`: runs of this test's target, read into figures.

    Every run is also recorded in `tally` under `label` (the test's name), for the table at
    the end of the session.
    """

    def __init__(
        self,
        target: StartedTarget,
        settings: Settings,
        *,
        tally: Tally | None = None,
        label: str = "",
    ) -> None:
        self.target = target
        self.settings = settings
        self.tally = tally
        self.label = label

    def _record(self, label: str, request: Request, runs: Iterable[RunFigures]) -> None:
        if self.tally is not None:
            for run in runs:
                self.tally.add(label, self.settings.target.value, request.path, request.body, run)

    def _request(self, body: Mapping[str, Any] | bytes | None, path: str | None) -> Request:
        from agui_perf.suite.client import Request

        if body is None:
            data = self.settings.body
        elif isinstance(body, bytes):
            data = body
        else:
            data = json.dumps(body).encode()
        return Request(self.target.host, self.target.port, path or self.settings.path, data)

    def __call__(
        self, body: Mapping[str, Any] | bytes | None = None, *, path: str | None = None
    ) -> RunFigures:
        """One run: POST `body` (default the configured input) and read the stream."""
        from agui_perf.suite.client import exchange
        from agui_perf.suite.figures import figures

        request = self._request(body, path)
        done = exchange(request, timeout=self.settings.timeout_s)
        run = figures(done, heartbeat_s=self.settings.heartbeat_s)
        self._record(self.label, request, (run,))
        return run

    def concurrent(
        self,
        streams: int,
        body: Mapping[str, Any] | bytes | None = None,
        *,
        path: str | None = None,
    ) -> Concurrency:
        """`streams` runs at once, each on its own connection."""
        from agui_perf.suite.concurrency import hold

        request = self._request(body, path)
        result = hold(
            request, streams, timeout=self.settings.timeout_s, heartbeat_s=self.settings.heartbeat_s
        )
        self._record(f"{self.label} ({streams} at once)", request, result.runs)
        return result

    @staticmethod
    def publish(benchmark: Any, *results: RunFigures | Concurrency) -> None:
        """Put figures into `benchmark.extra_info` (pytest-benchmark), keys prefixed `agui_`.

        With several results the later ones win for a key they share; publish one run's
        figures, or a run and a concurrency result (their keys differ).
        """
        for result in results:
            benchmark.extra_info.update(result.extra_info())


@pytest.fixture
def agui_run(request: pytest.FixtureRequest, agui_target: StartedTarget) -> Runner:
    """`agui_run()` → RunFigures of one run of this test's target (see `Runner`)."""
    item = request.node
    return Runner(
        agui_target,
        _item_settings(request),
        tally=request.config.stash.get(_TALLY, None),
        label=getattr(item, "originalname", None) or item.name,
    )
