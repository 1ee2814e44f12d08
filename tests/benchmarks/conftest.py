"""Shared set-up for the benchmark suites: the scale, and one server process per session.

Scale: `--agui-scale F` or `AGUI_PERF_SCALE=F` (the option wins; default 1.0). It multiplies
rounds, events and clients, never below the floor each benchmark names, so a quick run
(`0.1`) is shorter but its statistics still mean something; rounds are also never fewer than
`--benchmark-min-rounds`. `--agui-streams N` (or `AGUI_PERF_STREAMS=N`) sets the number of
concurrent clients outright, to go past the default.

The gate compares timings only between runs at the same scale, so the scale changes what a
round holds but never a benchmark's name (names key the baseline).
"""

from __future__ import annotations

import math
import os
import resource
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import orjson
import pytest

from agui_perf.suite.server_cpu import Cores, ServerCpu, pin_server
from agui_perf.suite.target import parse_target, started

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "COLLECTED_ENV",
    "OUR_APP",
    "SCALE_ENV",
    "STREAMS_ENV",
    "Scale",
    "Server",
    "agui_scale",
    "agui_server",
]

SCALE_ENV: Final = "AGUI_PERF_SCALE"
#: The app under test: the core's factory, called once in the server process.
OUR_APP: Final = "agui_perf.stream.app:create_app"
STREAMS_ENV: Final = "AGUI_PERF_STREAMS"
#: If set, the names of the collected benchmarks are written there as a JSON list, so that
#: tests/test_benchmarks_smoke.py can check every one of them reported a result.
COLLECTED_ENV: Final = "AGUI_PERF_COLLECTED"

_MAX_SCALE: Final = 100.0
_MAX_STREAMS: Final = 10_000
#: Enough descriptors for the most clients `--agui-streams` allows, plus pytest's own.
_NOFILE: Final = _MAX_STREAMS + 1024


@dataclass(frozen=True, slots=True)
class Scale:
    """How big a benchmark run is: `factor` times each benchmark's scale-1 size."""

    factor: float = 1.0
    #: Concurrent clients asked for explicitly (`--agui-streams`), or None for the scaled default.
    streams: int | None = None
    #: pytest-benchmark's `--benchmark-min-rounds`: the gate sets it for a stable median, and
    #: `benchmark.pedantic` would otherwise ignore it.
    min_rounds: int = 1

    def count(self, base: int, floor: int) -> int:
        """`base` scaled by the factor, at least `floor`."""
        return max(floor, round(base * self.factor))

    def rounds(self, base: int, floor: int) -> int:
        """Timed rounds: `count(base, floor)`, at least `--benchmark-min-rounds`."""
        return max(self.count(base, floor), self.min_rounds)

    def clients(self, base: int, floor: int) -> int:
        """The number of concurrent clients: `--agui-streams` if given, else `count`."""
        return self.streams if self.streams is not None else self.count(base, floor)


_SCALE_KEY: Final = pytest.StashKey[Scale]()


@dataclass(frozen=True, slots=True)
class Server:
    """Where the server under test listens, its process and the cores client and server use."""

    host: str
    port: int
    pid: int
    cores: Cores | None

    def cpu(self) -> ServerCpu:
        """A fresh recorder of this server's CPU time per round (one per benchmark)."""
        return ServerCpu(self.pid, self.cores)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("agui-perf", "agui-perf benchmarks")
    group.addoption(
        "--agui-scale",
        metavar="F",
        default=None,
        help=f"scale rounds, events and clients by F (default ${SCALE_ENV} or 1.0; 0.1 is quick)",
    )
    group.addoption(
        "--agui-streams",
        metavar="N",
        default=None,
        help=f"concurrent clients in the concurrency benchmark (default ${STREAMS_ENV} or 100 x F)",
    )


def pytest_configure(config: pytest.Config) -> None:
    scale_text = config.getoption("agui_scale", None) or os.environ.get(SCALE_ENV) or "1"
    streams_text = config.getoption("agui_streams", None) or os.environ.get(STREAMS_ENV)
    config.stash[_SCALE_KEY] = Scale(
        factor=_parse_scale(scale_text),
        streams=None if streams_text is None else _parse_streams(streams_text),
        min_rounds=int(config.getoption("benchmark_min_rounds", 1)),
    )


def _parse_scale(text: str) -> float:
    try:
        factor = float(text)
    except ValueError:
        factor = math.nan
    if not (math.isfinite(factor) and 0 < factor <= _MAX_SCALE):
        raise pytest.UsageError(
            f"agui-perf scale {text!r} (--agui-scale or ${SCALE_ENV}) is not a number in "
            f"(0, {_MAX_SCALE:g}]; use e.g. 0.1 for a quick run or 1 for the full one"
        )
    return factor


def _parse_streams(text: str) -> int:
    if not (text.isdigit() and 1 <= int(text) <= _MAX_STREAMS):
        raise pytest.UsageError(
            f"agui-perf streams {text!r} (--agui-streams or ${STREAMS_ENV}) is not a whole "
            f"number in 1..{_MAX_STREAMS}; e.g. --agui-streams 500"
        )
    return int(text)


def pytest_collection_finish(session: pytest.Session) -> None:
    path = os.environ.get(COLLECTED_ENV)
    if path:
        names = [
            item.name for item in session.items if "benchmark" in getattr(item, "fixturenames", ())
        ]
        with open(path, "wb") as file:
            file.write(orjson.dumps(names))


@pytest.fixture(scope="session")
def agui_scale(pytestconfig: pytest.Config) -> Scale:
    """This run's scale (`--agui-scale`, `--agui-streams`)."""
    return pytestconfig.stash[_SCALE_KEY]


@pytest.fixture(scope="session")
def agui_server() -> Iterator[Server]:
    """Our app under uvicorn in a child process, shared by every benchmark of the session.

    A child process, so that the client does not compete with the server for one GIL; one
    worker, so that a benchmark measures one event loop, the unit the core is written for.
    With two cores or more it runs on a core of its own (`agui_perf.suite.server_cpu` says why).
    """
    # Each client holds one socket here and the server one more: raise the soft limit (the
    # child inherits it) rather than fail with EMFILE when many streams are asked for.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < _NOFILE:
        ceiling = _NOFILE if hard == resource.RLIM_INFINITY else min(_NOFILE, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
    # The suite's starter with the uvicorn settings of the `python -m uvicorn --factory
    # --lifespan off --log-level warning --no-access-log` this fixture ran before (only the
    # graceful-shutdown timeout differs, which no round reaches): the measured server stays
    # the one the baseline measured.
    with started(parse_target(OUR_APP), lifespan="off") as child:
        assert child.pid is not None  # an app target, started here
        cores = pin_server(child.pid)
        yield Server(child.host, child.port, child.pid, cores)
