"""Locust load test of an AG-UI endpoint: users that run workflows and read every event.

Run it with `agui-perf load --users 100 --duration 30` (or `nox -s load -- …`): that starts
the target, runs Locust headless, writes `.perf/load/` and checks the budgets. Against a
server you started yourself, with Locust directly:

    locust -f "$(python -c 'import agui_perf.load as m; print(m.LOCUSTFILE)')" \\
        --host http://127.0.0.1:8000 --headless -u 100 -r 20 -t 30s

Distributed mode (one master, N workers) uses the same file. The master aggregates the stats
the workers send it, and writes the CSV and HTML reports; `agui-perf load --workers N` starts
both on this machine. To scale out to other machines, bind the master to an address the
workers can reach (`--master-bind-host 0.0.0.0`) and start the workers there with `--worker
--master-host <master>`; each needs `pip install 'agui-perf[load]'`. The `--agui-*` options
are given to the master only: Locust passes custom options on to its workers.

What each user records, as Locust request events (so Locust's own stats, CSV and HTML carry
them, and distributed mode merges them like any request):

- `SSE run <workflow>`: one per run; response time = run duration (request sent → stream end),
  size = bytes received; a failure with its reason when the run did not end well
  (`agui_perf.load.client.judge_run`: RUN_FINISHED, the ordering rules, the framing).
- `SSE good_run`: one per run that ended well and met every per-run budget (goodput).
- `SSE over_budget <budget>`: one per run that ended well but missed that per-run budget.
- `SSE time_to_first_event`: request sent → first event received.
- `SSE event_latency`: one sample per event: receive time minus the event's `timestamp`.
- `POST <path>`: Locust's own entry for the request, timed to the response headers.

The body is read as it arrives and kept with each piece's arrival time; the service suite
reads it once the stream has ended, so every event of a run is reported to Locust then,
timed as it arrived. Why one request event per event-latency sample: Locust's stats entry is
already a mergeable histogram (times bucketed to 2 significant digits) that workers ship to
the master every few seconds, so percentiles stay right in distributed mode and the CSV's
`Requests/s` of that row is the event throughput. Aggregating per run instead would need a
second histogram format and its own merge, or would report percentiles of per-run
percentiles, which are not percentiles of the events.
"""

from __future__ import annotations

import functools
import gc
import json
import random
import time
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import gevent
from locust import events, task
from locust.contrib.fasthttp import FastHttpUser
from locust.runners import WorkerRunner
from locust.stats import CSV_STATS_INTERVAL_SEC

from agui_perf.load.client import asks_for_stamps, judge_run, run_body
from agui_perf.suite.client import Exchange, Request

if TYPE_CHECKING:
    from argparse import ArgumentParser

    from locust.env import Environment

__all__ = ["AccountAnalysisUser", "BurstTrafficUser"]

_HEADERS: Final = {
    "Accept": "text/event-stream",
    "Content-Type": "application/json",
    # FastHttpSession asks for gzip/br by default; an event stream must not be compressed, and
    # a middlebox that compresses it buffers it (the same failure as ag-ui issue #2084).
    "Accept-Encoding": "identity",
}
_DEFAULT_PARAMS: Final = '{"token_delay": 0.02}'

#: Burst users all fire at the same wall-clock boundary, so their runs arrive as one spike.
SPIKE_EVERY_S: Final = 10.0
SPIKE_RUNS: Final = 5
BURST_PARAMS: Final[dict[str, object]] = {"events": 100}


def _add_options(parser: ArgumentParser, **_kwargs: Any) -> None:
    add = parser.add_argument
    add(
        "--agui-workflow",
        choices=("account_analysis", "paced"),
        default="account_analysis",
        help="workflow AccountAnalysisUser runs (default: account_analysis)",
    )
    add(
        "--agui-params",
        default=_DEFAULT_PARAMS,
        help=f"JSON object of workflow params for AccountAnalysisUser (default: {_DEFAULT_PARAMS})",
    )
    add("--agui-think-min", type=float, default=1.0, help="think time, s")
    add("--agui-think-max", type=float, default=3.0, help="think time, s")
    add("--agui-path", default="/agent", help="the endpoint that takes a RunAgentInput")
    add("--agui-input", default="", help="a RunAgentInput (JSON text) every user posts instead")
    add("--agui-run-budgets", default="{}", help="JSON object: per-run budgets for goodput")


def _final_csv_tick(environment: Environment, **_kwargs: Any) -> None:
    # Locust's CSV writer rewrites *_stats.csv once a second and is not run again at exit, so
    # the last second of a run would be missing from the CSV the verdict reads. By `quitting`
    # every user has stopped; one more tick of the writer makes the CSV match the final stats.
    options = environment.parsed_options
    if getattr(options, "csv_prefix", None) and not isinstance(environment.runner, WorkerRunner):
        gevent.sleep(CSV_STATS_INTERVAL_SEC + 0.25)


events.init_command_line_parser.add_listener(_add_options)  # type: ignore[no-untyped-call]
events.quitting.add_listener(_final_csv_tick)  # type: ignore[no-untyped-call]


@functools.cache
def _json(text: str) -> Any:
    # The same option text on every run of every user: parse it once per process.
    return json.loads(text) if text else None


class _AguiUser(FastHttpUser):
    abstract = True
    # A run that stalls longer than this (no bytes, not even the 15 s heartbeat) is a failure.
    network_timeout = 30.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        # While users spawn, the heap grows with each one and CPython runs a full collection
        # every 25 % of growth, scanning every user so far: at 1,000 users we measured pauses
        # of 40-110 ms, and a paused client reads as event latency the server never caused.
        # Freezing what exists now keeps those scans to new objects. Only during spawning, so
        # the few cycles it keeps alive are bounded by the number of users.
        gc.freeze()

    def option(self, name: str, default: Any) -> Any:
        return getattr(self.environment.parsed_options, name, default)

    def body(self, workflow: str, params: dict[str, object]) -> tuple[bytes, bool]:
        """The run's RunAgentInput, and whether it asks for `timestamp` stamps."""
        template = _json(self.option("agui_input", ""))
        if template is None:
            return run_body(workflow, params), True
        return run_body(workflow, params, template), asks_for_stamps(template)

    def stream_run(self, workflow: str, params: dict[str, object]) -> None:
        """Run one workflow, read its stream to the end and report it to Locust."""
        path = str(self.option("agui_path", "/agent"))
        body, stamped = self.body(workflow, params)
        base = urlsplit(str(self.host))
        request = Request(base.hostname or "", base.port or 80, path, body)
        started = time.monotonic_ns()
        # Once per run: the events' stamps are wall-clock ms, the pieces' times monotonic.
        wall_offset_ns = time.time_ns() - started
        exchange = Exchange(request, sent_ns=started)
        response = self.client.post(path, data=body.decode(), headers=_HEADERS, stream=True)
        exchange.status = response.status_code
        if response.status_code:  # 0: no response head arrived
            exchange.head_ns = time.monotonic_ns()
        content_type = response.headers.get("content-type") if response.headers else None
        if isinstance(content_type, str):
            exchange.headers = [(b"content-type", content_type.encode("latin-1"))]
        # FastResponse has no incremental read of its own; its iter_content reads this same
        # geventhttpclient response, but in fixed-size blocks (see the readline note below).
        raw = getattr(response, "_response", None)
        try:
            if raw is None or response.status_code == 0:
                # Locust's FastHttpSession reports a connection without a response as status 0.
                error = getattr(response, "error", None)
                exchange.error = f"no response: {type(error).__name__}: {error}"
            else:
                while True:
                    # readline returns each frame as soon as its `\n\n` arrives, where read(n)
                    # would wait for n bytes and delay the events it holds.
                    chunk: bytes = raw.readline(b"\n\n") or raw.read()
                    now = time.monotonic_ns()
                    if not chunk:
                        exchange.ended_ns = now
                        break
                    exchange.wire_bytes += len(chunk)
                    exchange.body.append((now, chunk))
        except Exception as err:  # a broken connection mid-stream is the run's failure, not ours
            exchange.error = f"stream broken: {type(err).__name__}: {err}"
        finally:
            if raw is not None:
                raw.release()  # closes the socket unless the body was read to its end
        self.report(exchange, workflow, stamped, wall_offset_ns)

    def report(self, exchange: Exchange, workflow: str, stamped: bool, wall_offset_ns: int) -> None:
        """The run's request events: latencies, time to first event, the run, goodput."""
        fire = self.environment.events.request.fire
        budgets = _json(str(self.option("agui_run_budgets", "{}")))
        result = judge_run(
            exchange,
            wall_offset_ns=wall_offset_ns,
            budgets=budgets,
            stamped=stamped,
        )
        run = result.figures

        def sample(name: str, ms: float, size: int = 0, failure: str | None = None) -> None:
            fire(
                request_type="SSE",
                name=name,
                response_time=ms,
                response_length=size,
                exception=RunFailure(failure) if failure is not None else None,
                context={},
            )

        if run.ttfe_s is not None:
            sample("time_to_first_event", run.ttfe_s * 1000.0)
        for latency in result.latencies_ms:
            sample("event_latency", latency)
        duration_ms = run.duration_s * 1000.0
        sample(f"run {workflow}", duration_ms, exchange.wire_bytes, result.failure)
        if result.good:
            sample("good_run", duration_ms)
        for budget in result.over:
            sample(f"over_budget {budget}", duration_ms)


class RunFailure(Exception):
    """A run that did not end well; `str(err)` is the stable reason Locust groups by."""


class AccountAnalysisUser(_AguiUser):
    """One account-analysis run (or `--agui-workflow paced`), then think time."""

    weight = 3

    def wait_time(self) -> float:
        low = float(self.option("agui_think_min", 1.0))
        high = float(self.option("agui_think_max", 3.0))
        return random.uniform(low, max(low, high))

    @task
    def analyse_account(self) -> None:
        params = _json(self.option("agui_params", _DEFAULT_PARAMS))
        self.stream_run(self.option("agui_workflow", "account_analysis"), params)


class BurstTrafficUser(_AguiUser):
    """Spikes: every SPIKE_EVERY_S seconds, all burst users run SPIKE_RUNS short bursts at once."""

    weight = 1

    def wait_time(self) -> float:
        # Up to the next boundary of the wall clock, which every user (and worker) shares.
        return SPIKE_EVERY_S - time.time() % SPIKE_EVERY_S + random.uniform(0.0, 0.05)

    @task
    def spike(self) -> None:
        for _ in range(SPIKE_RUNS):
            self.stream_run("burst", BURST_PARAMS)
