"""Complete workflow: one account-analysis run end to end over HTTP.

From just before the client connects to the read that brings RUN_FINISHED, against our app
under uvicorn in another process. The run has no token delay: what is timed is the core's
own work (request parsing, the agent, encoding, sends) plus one loopback connection, which
is what a code change can make slower. A round is one run; the server's CPU time per round
(`server_cpu_s`, `_server_cpu`) is read around it.
"""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING, Final

from tests.benchmarks._sse import agent_request, timed_runs

if TYPE_CHECKING:
    from pytest_benchmark.fixture import BenchmarkFixture

    from tests.benchmarks.conftest import Scale, Server

ROUNDS: Final = 30
ROUNDS_FLOOR: Final = 10
TIMEOUT_S: Final = 60.0


def test_workflow_duration(
    benchmark: BenchmarkFixture, agui_server: Server, agui_scale: Scale
) -> None:
    rounds = agui_scale.rounds(ROUNDS, ROUNDS_FLOOR)
    host, port = agui_server.host, agui_server.port
    request = agent_request(host, port, workflow="account_analysis", params={})
    cpu = agui_server.cpu()
    runs = timed_runs(benchmark, host, port, request, rounds, timeout=TIMEOUT_S, cpu=cpu)
    durations = []
    for run in runs:
        finished = run.finished_ns
        assert finished is not None  # read_run reports a run without RUN_FINISHED as failed
        durations.append((finished - run.sent_ns) / 1e9)
    benchmark.extra_info["workflow_s"] = statistics.median(durations)
    benchmark.extra_info["events"] = len(runs[0].events)
    benchmark.extra_info.update(cpu.extra_info(rounds, [len(run.events) for run in runs]))
