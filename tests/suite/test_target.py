"""Targets: the text checked without importing anything, apps started in their own process."""

from __future__ import annotations

import os

import orjson
import pytest

from agui_perf.suite._serve import is_factory
from agui_perf.suite.client import Request, exchange
from agui_perf.suite.target import TargetError, parse_target, started

BODY = orjson.dumps({"threadId": "t", "runId": "r", "messages": []})


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("agui_perf.stream.app:create_app", "app", "agui_perf.stream.app:create_app"),
        ("pkg.mod:obj.attr", "app", "pkg.mod:obj.attr"),
        ("http://127.0.0.1:8000", "url", "http://127.0.0.1:8000"),
        ("http://localhost:8000/", "url", "http://localhost:8000"),
    ],
)
def test_good_targets(text: str, kind: str, value: str) -> None:
    target = parse_target(text)
    assert (target.kind, target.value) == (kind, value)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty"),
        ("agui_perf.stream.app", "no ':'"),
        ("mod:", "not an attribute name"),
        (":app", "not a module name"),
        ("1mod:app", "not a module name"),
        ("mod:app-x", "not an attribute name"),
        ("https://example.com", "only http://"),
        ("ftp://example.com", "only http://"),
        ("http://", "no host"),
        ("http://127.0.0.1:99999", "not valid"),
        ("http://127.0.0.1:8000/agent", "--agui-path"),
    ],
)
def test_bad_targets_are_one_line_errors(text: str, words: str) -> None:
    with pytest.raises(TargetError) as caught:
        parse_target(text)
    message = str(caught.value)
    assert words in message
    assert "\n" not in message


def test_factories_and_apps_are_told_apart() -> None:
    from agui_perf.stream.app import create_app
    from tests.suite._apps import crlf_app, ours_with_heartbeat

    assert is_factory(create_app)  # keyword-only parameters with defaults
    assert is_factory(ours_with_heartbeat)
    assert not is_factory(crlf_app)  # (scope, receive, send)
    assert not is_factory(create_app())  # a Starlette instance
    assert not is_factory(3)


@pytest.mark.parametrize("spec", ["agui_perf.stream.app:create_app", "tests.suite._apps:ours"])
def test_a_factory_or_an_app_is_served_in_its_own_process_until_the_block_ends(spec: str) -> None:
    with started(parse_target(spec)) as server:
        assert server.pid is not None
        assert server.pid != os.getpid()
        assert os.getpgid(server.pid) == server.pid  # a process group of its own
        assert server.url == f"http://127.0.0.1:{server.port}"
        ex = exchange(Request(server.host, server.port, "/agent", BODY), timeout=30)
        assert ex.error is None
        assert ex.status == 200
        assert b"RUN_FINISHED" in b"".join(data for _, data in ex.body)
        pid = server.pid
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("tests.suite.no_such_module:app", 'Could not import module "tests.suite.no_such_module"'),
        ("tests.suite._apps:nope", 'Attribute "nope" not found'),
        ("tests.suite._apps:not_an_app", "is a int, not an ASGI app"),
        ("tests.suite._apps:broken_factory", "boom: the factory failed"),
    ],
)
def test_a_target_that_cannot_start_says_why_in_one_line(spec: str, words: str) -> None:
    with pytest.raises(TargetError) as caught, started(parse_target(spec)):
        pass
    message = str(caught.value)
    assert "during start-up" in message
    assert words in message
    assert "\n" not in message


def test_a_url_target_is_used_as_it_is_and_must_accept() -> None:
    with started(parse_target("agui_perf.stream.app:create_app")) as server:
        with started(parse_target(server.url)) as same:
            assert same.pid is None
            assert same.url == server.url
        port = server.port
    with pytest.raises(TargetError) as caught, started(parse_target(f"http://127.0.0.1:{port}")):
        pass
    assert "nothing accepts connections" in str(caught.value)


def test_an_app_that_prints_a_lot_is_not_stalled_by_its_output() -> None:
    with started(parse_target("tests.suite._apps:chatty_app")) as server:
        for _ in range(2):
            ex = exchange(Request(server.host, server.port, "/", BODY), timeout=60)
            assert ex.error is None
            assert ex.status == 200


def test_lifespan_off_never_runs_the_apps_lifespan_and_on_requires_it() -> None:
    target = parse_target("tests.suite._apps:lifespan_fails_app")
    with started(target, lifespan="off") as server:
        ex = exchange(Request(server.host, server.port, "/agent", BODY), timeout=30)
        assert (ex.error, ex.status) == (None, 200)
    with pytest.raises(TargetError) as caught, started(target, lifespan="on"):
        pass
    assert "during start-up: ERROR:    Application startup failed" in str(caught.value)
