"""`agui-perf serve`: the parser in-process, the server as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import httpx
import orjson
import pytest
from httpx_sse import EventSource

from agui_perf import cli
from agui_perf.stream.app import BODY_TIMEOUT_ENV, HEARTBEAT_ENV
from agui_perf.stream.encoder import HEARTBEAT
from agui_perf.stream.head_timeout import HEADER_TIMEOUT_ENV
from tests._support.server import free_port, running_command, subprocess_env

if TYPE_CHECKING:
    from agui_perf.stream.types import Event

TIMEOUT = 60.0


def frames(response: httpx.Response) -> list[Event]:
    """The events of an SSE response (heartbeat comments are not events)."""
    return [orjson.loads(sse.data) for sse in EventSource(response).iter_sse()]


def test_serve_defaults() -> None:
    args = cli.build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.workers, args.heartbeat) == ("127.0.0.1", 8000, 1, 15.0)
    assert (args.header_timeout, args.body_timeout) == (10.0, 10.0)
    assert args.keep_alive == cli.KEEP_ALIVE_S == 75.0
    assert args.handler is cli.run_serve


def test_serve_runs_the_env_factory_under_uvicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: calls.append((app, kwargs)))
    # run_serve writes os.environ (for the workers): give it a copy that the test undoes.
    monkeypatch.setattr(os, "environ", dict(os.environ))
    argv = [
        "serve",
        "--host",
        "127.0.0.2",
        "--port",
        "9001",
        "--workers",
        "3",
        "--heartbeat",
        "2.5",
        "--header-timeout",
        "3",
        "--body-timeout",
        "0.25",
        "--keep-alive",
        "30",
    ]
    assert cli.main(argv) == 0
    [(app, kwargs)] = calls
    assert app == "agui_perf.stream.app:app_from_env"
    assert kwargs["factory"] is True
    assert kwargs["http"] == "agui_perf.stream.head_timeout:HeadTimeoutH11Protocol"
    assert (kwargs["host"], kwargs["port"], kwargs["workers"]) == ("127.0.0.2", 9001, 3)
    assert kwargs["timeout_keep_alive"] == 30.0
    assert float(os.environ[HEARTBEAT_ENV]) == 2.5
    assert float(os.environ[HEADER_TIMEOUT_ENV]) == 3.0
    assert float(os.environ[BODY_TIMEOUT_ENV]) == 0.25


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["serve", "--port", "http"], "argument --port: must be a port number from 1 to 65535"),
        (["serve", "--port", "70000"], "argument --port: must be a port number from 1 to 65535"),
        (["serve", "--workers", "0"], "argument --workers: must be a whole number of at least 1"),
        (["serve", "--heartbeat", "-1"], "argument --heartbeat: must be a positive number"),
        (["serve", "--heartbeat", "nan"], "argument --heartbeat: must be a positive number"),
        (["serve", "--body-timeout", "0"], "argument --body-timeout: must be a positive number"),
        (["serve", "--body-timeout", "inf"], "argument --body-timeout: must be a positive number"),
        (["serve", "--header-timeout", "soon"], "argument --header-timeout: must be a positive"),
        (["serve", "--keep-alive", "0"], "argument --keep-alive: must be a positive number"),
        (["serve", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_arguments_exit_2_with_one_error_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("usage: agui-perf")
    assert len([line for line in err if "error:" in line]) == 1
    assert message in err[-1]


def test_python_m_agui_perf_bad_flag_exits_2_without_traceback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "agui_perf", "serve", "--port", "nope"],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "agui-perf serve: error: argument --port: must be a port number from 1 to 65535, got 'nope'"
    )


def test_python_m_agui_perf_serve_streams_a_run() -> None:
    port = free_port()
    args = ["-m", "agui_perf", "serve", "--port", str(port), "--heartbeat", "0.05"]
    body = {
        "threadId": "t",
        "runId": "r",
        "messages": [],
        # Two half-second gaps between the chunks, ten heartbeats each. paced keeps an absolute
        # schedule, so only a server stall that swallows both gaps would leave no ping.
        "forwardedProps": {"workflow": "paced", "params": {"text_chunks": 3, "rate_per_s": 2}},
    }
    with running_command(args, port) as url, httpx.Client(base_url=url, timeout=TIMEOUT) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        response = client.post("/agent", json=body)
    assert response.status_code == 200
    assert HEARTBEAT in response.content
    received = frames(response)
    assert [e["type"] for e in received] == [
        "RUN_STARTED",
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_END",
        "RUN_FINISHED",
    ]
