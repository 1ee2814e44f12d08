"""Locust load test of `POST /agent`: users that run AG-UI workflows and read every event.

Run it with `nox -s load -- --users 100 --duration 30` (it starts the server, runs Locust
headless, writes `.perf/load/` and checks the budgets). Against a server you started yourself:

    locust -f tests/load/locustfile.py --host http://127.0.0.1:8000 --headless -u 100 -r 20 -t 30s

Distributed mode (one master, N workers) uses the same file. The master aggregates the stats
the workers send it, and writes the CSV and HTML reports:

    locust -f tests/load/locustfile.py --master --master-bind-host 127.0.0.1 \\
        --master-bind-port 5557 --expect-workers 2 --headless -u 1000 -r 100 -t 60s \\
        --host http://127.0.0.1:8000
    locust -f tests/load/locustfile.py --worker --master-host 127.0.0.1 --master-port 5557

To scale out to other machines, bind the master to an address the workers can reach
(`--master-bind-host 0.0.0.0`) and start the workers there with `--master-host <master>`; each
worker needs this repository and the package installed (`pip install -e . locust`), because the
locustfile imports `tests.load.sse_client` from the working directory. The `--agui-*` options
are given to the master only: Locust passes custom options on to its workers.

What each user records, as Locust request events (so Locust's own stats, CSV and HTML carry
them, and distributed mode merges them like any request):

- `SSE run <workflow>`: one per run; response time = run duration (request sent → stream end),
  size = bytes received; a failure with its reason when the run did not end with RUN_FINISHED.
- `SSE time_to_first_event`: request sent → first event parsed.
- `SSE event_latency`: one sample per event: receive time minus the event's `timestamp`.
- `POST /agent`: Locust's own entry for the request, timed to the response headers.

Why one request event per event-latency sample: Locust's stats entry is already a mergeable
histogram (times bucketed to 2 significant digits) that workers ship to the master every few
seconds, so percentiles stay right in distributed mode and the CSV's `Requests/s` of that row
is the event throughput. Firing one costs ≈ 3.5 µs here; at 1,000 users streaming a few events
per second each (a few thousand events/s) that is ~1 % of one core. Aggregating per run instead
would need a second histogram format and its own merge, or would report percentiles of
per-run percentiles, which are not percentiles of the events.
"""

from __future__ import annotations

import gc
import random
import time
from typing import TYPE_CHECKING, Any, Final

import gevent
import orjson
from locust import events, task
from locust.contrib.fasthttp import FastHttpUser
from locust.runners import WorkerRunner
from locust.stats import CSV_STATS_INTERVAL_SEC

from tests.load.sse_client import FrameParser, RunCheck, RunFailure, check_response, run_body

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
    parser.add_argument(
        "--agui-workflow",
        choices=("account_analysis", "paced"),
        default="account_analysis",
        help="workflow AccountAnalysisUser runs (default: account_analysis)",
    )
    parser.add_argument(
        "--agui-params",
        default=_DEFAULT_PARAMS,
        help=f"JSON object of workflow params for AccountAnalysisUser (default: {_DEFAULT_PARAMS})",
    )
    parser.add_argument("--agui-think-min", type=float, default=1.0, help="think time, s")
    parser.add_argument("--agui-think-max", type=float, default=3.0, help="think time, s")


def _final_csv_tick(environment: Environment, **_kwargs: Any) -> None:
    # Locust's CSV writer rewrites *_stats.csv once a second and is not run again at exit, so
    # the last second of a run would be missing from the CSV the verdict reads. By `quitting`
    # every user has stopped; one more tick of the writer makes the CSV match the final stats.
    options = environment.parsed_options
    if getattr(options, "csv_prefix", None) and not isinstance(environment.runner, WorkerRunner):
        gevent.sleep(CSV_STATS_INTERVAL_SEC + 0.25)


events.init_command_line_parser.add_listener(_add_options)  # type: ignore[no-untyped-call]
events.quitting.add_listener(_final_csv_tick)  # type: ignore[no-untyped-call]


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

    def stream_run(self, workflow: str, params: dict[str, object]) -> None:
        """Run one workflow, read its stream to the end and report it to Locust."""
        fire = self.environment.events.request.fire
        name = f"run {workflow}"
        started = time.perf_counter()
        received = 0
        failure: RunFailure | None = None
        response = self.client.post(
            "/agent", data=run_body(workflow, params), headers=_HEADERS, stream=True
        )
        # FastResponse has no incremental read of its own; its iter_content reads this same
        # geventhttpclient response, but in fixed-size blocks (see the readline note below).
        raw = getattr(response, "_response", None)
        try:
            content_type = response.headers.get("content-type") if response.headers else None
            check_response(
                response.status_code,
                content_type if isinstance(content_type, str) else None,
                getattr(response, "error", None),
            )
            assert raw is not None  # a status other than 0 means geventhttpclient got a response
            parser = FrameParser()
            run = RunCheck()
            while True:
                # readline returns each frame as soon as its `\n\n` arrives, where read(n)
                # would wait for n bytes and delay the events it holds.
                chunk: bytes = raw.readline(b"\n\n") or raw.read()
                if not chunk:
                    break
                now_ms = time.time() * 1000.0
                received += len(chunk)
                for payload in parser.feed(chunk):
                    if run.events == 0:
                        ttfe_ms = (time.perf_counter() - started) * 1000.0
                        fire(
                            request_type="SSE",
                            name="time_to_first_event",
                            response_time=ttfe_ms,
                            response_length=0,
                            exception=None,
                            context={},
                        )
                    latency = run.feed(payload, now_ms)
                    fire(
                        request_type="SSE",
                        name="event_latency",
                        response_time=latency,
                        response_length=len(payload),
                        exception=None,
                        context={},
                    )
            run.finish(parser.pending)
        except RunFailure as err:
            failure = err
        except Exception as err:  # a broken connection mid-stream is the run's failure, not ours
            failure = RunFailure(f"stream broken: {type(err).__name__}: {err}"[:200])
        finally:
            if raw is not None:
                raw.release()  # closes the socket unless the body was read to its end
        fire(
            request_type="SSE",
            name=name,
            response_time=(time.perf_counter() - started) * 1000.0,
            response_length=received,
            exception=failure,
            context={},
        )


class AccountAnalysisUser(_AguiUser):
    """One account-analysis run (or `--agui-workflow paced`), then think time."""

    weight = 3

    def wait_time(self) -> float:
        low = float(self.option("agui_think_min", 1.0))
        high = float(self.option("agui_think_max", 3.0))
        return random.uniform(low, max(low, high))

    @task
    def analyse_account(self) -> None:
        params = orjson.loads(self.option("agui_params", _DEFAULT_PARAMS))
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
