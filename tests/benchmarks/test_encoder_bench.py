"""Encoding throughput: our builders and encoder against the official SDK, same events.

The realistic mix is one account-analysis run (default parameters). Each benchmark in a
group does the same work, so pytest-benchmark's relative column is the speed-up. The
`raw-orjson` row is the limit: orjson's dumps of the same dicts joined into the same frames,
with none of the encoder's checks, so `ours-encode` against it is the price of those.
`extra_info["events_per_s"]` is events per second at the median round.

Run: `.venv/bin/python -m pytest tests/benchmarks/test_encoder_bench.py --benchmark-only`
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Final

import orjson
import pytest
from ag_ui.core import events as sdk
from ag_ui.encoder import EventEncoder

from agui_perf.stream.encoder import encode, encode_many
from agui_perf.stream.events import BUILDERS
from agui_perf.stream.verify import Verifier
from agui_perf.stream.workflows import WorkflowParams, iter_account_analysis
from tests.benchmarks._cpu import measure

if TYPE_CHECKING:
    from collections.abc import Callable

    from _pytest.mark.structures import ParameterSet
    from pytest_benchmark.fixture import BenchmarkFixture

    from agui_perf.stream.types import Event

PARAMS: Final = WorkflowParams()
RUN: Final[list[Event]] = list(iter_account_analysis("bench-thread", "bench-run", PARAMS))
SDK_ENCODER: Final = EventEncoder()

_CAMEL_TO_SNAKE: Final = {
    "messageId": "message_id",
    "toolCallId": "tool_call_id",
    "toolCallName": "tool_call_name",
    "threadId": "thread_id",
    "runId": "run_id",
    "stepName": "step_name",
}


def sdk_class(event_type: str) -> type[sdk.BaseEvent]:
    cls: type[sdk.BaseEvent] = getattr(
        sdk, "".join(w.capitalize() for w in event_type.split("_")) + "Event"
    )
    return cls


def calls_for(
    events: list[Event],
) -> list[tuple[Callable[..., Event], tuple[Any, ...], dict[str, Any]]]:
    """How each event is built with our builders: (builder, positional args, keywords)."""
    out = []
    for event in events:
        builder = BUILDERS[event["type"]]
        params = inspect.signature(builder).parameters.values()
        named = {_CAMEL_TO_SNAKE.get(k, k): v for k, v in event.items() if k != "type"}
        args = tuple(named.pop(p.name) for p in params if p.kind is p.POSITIONAL_OR_KEYWORD)
        out.append((builder, args, named))
    return out


def sdk_calls_for(events: list[Event]) -> list[tuple[type[sdk.BaseEvent], dict[str, Any]]]:
    """How each event is built with the SDK: (model class, snake_case keywords)."""
    return [
        (
            sdk_class(event["type"]),
            {_CAMEL_TO_SNAKE.get(k, k): v for k, v in event.items() if k != "type"},
        )
        for event in events
    ]


RUN_CALLS: Final = calls_for(RUN)
RUN_SDK_CALLS: Final = sdk_calls_for(RUN)
RUN_MODELS: Final = [cls(**kwargs) for cls, kwargs in RUN_SDK_CALLS]


def ours_encode_run() -> bytes:
    return encode_many(RUN)


def ours_build_and_encode_run() -> bytes:
    return encode_many([build(*args, **kwargs) for build, args, kwargs in RUN_CALLS])


def raw_orjson_run() -> bytes:
    # The least any encoder built on orjson can do for these bytes: one dumps per event, one
    # join. What `encode_many` adds is the null search and the error paths.
    dumps = orjson.dumps
    return b"data: " + b"\n\ndata: ".join([dumps(event) for event in RUN]) + b"\n\n"


def sdk_construct_and_encode_run() -> bytes:
    encode_sdk = SDK_ENCODER.encode
    return b"".join([encode_sdk(cls(**kwargs)).encode() for cls, kwargs in RUN_SDK_CALLS])


def sdk_encode_prebuilt_run() -> bytes:
    encode_sdk = SDK_ENCODER.encode
    return b"".join([encode_sdk(model).encode() for model in RUN_MODELS])


RUN_IMPLEMENTATIONS: Final = {
    "ours-encode": ours_encode_run,
    "ours-build+encode": ours_build_and_encode_run,
    "sdk-construct+encode": sdk_construct_and_encode_run,
    "sdk-encode-prebuilt": sdk_encode_prebuilt_run,
    "raw-orjson": raw_orjson_run,
}


def _impl_params(names: list[str]) -> list[ParameterSet]:
    """The SDK variants and the raw-orjson limit carry the `reference` marker: measured for the
    ratio, not guarded by the gate (it deselects them with `-m "not reference"`)."""
    return [
        pytest.param(
            name,
            marks=[pytest.mark.reference] if name.startswith(("sdk", "raw")) else [],
        )
        for name in names
    ]


# cpu_bound: pure in-process work, so the gate may normalize it by a calibration loop timed
# around it (agui_perf.gate.measure.calibration) to cancel host slow phases.
@pytest.mark.cpu_bound
@pytest.mark.parametrize("impl", _impl_params(list(RUN_IMPLEMENTATIONS)))
def test_encode_account_analysis_run(benchmark: BenchmarkFixture, impl: str) -> None:
    benchmark.group = "encode: one account-analysis run"
    frames = measure(benchmark, RUN_IMPLEMENTATIONS[impl], len(RUN))
    # Same work, same bytes: the comparison is only fair if the output is identical.
    assert frames == sdk_encode_prebuilt_run()


#: One representative event per kind that dominates real streams.
KINDS: Final = {
    event_type: next(e for e in RUN if e["type"] == event_type)
    for event_type in (
        "TEXT_MESSAGE_CONTENT",
        "TOOL_CALL_ARGS",
        "TOOL_CALL_RESULT",
        "STATE_DELTA",
        "STATE_SNAPSHOT",
        "RUN_STARTED",
    )
}


@pytest.mark.cpu_bound
@pytest.mark.parametrize("impl", _impl_params(["ours", "sdk"]))
@pytest.mark.parametrize("kind", list(KINDS))
def test_build_and_encode_one_event(benchmark: BenchmarkFixture, kind: str, impl: str) -> None:
    benchmark.group = f"build+encode one {kind}"
    [(build, args, kwargs)] = calls_for([KINDS[kind]])
    [(cls, sdk_kwargs)] = sdk_calls_for([KINDS[kind]])
    encode_sdk = SDK_ENCODER.encode

    def ours() -> bytes:
        return encode(build(*args, **kwargs))

    def theirs() -> bytes:
        return encode_sdk(cls(**sdk_kwargs)).encode()

    frame = measure(benchmark, ours if impl == "ours" else theirs, 1)
    assert frame == theirs()


@pytest.mark.cpu_bound
def test_verifier_one_run(benchmark: BenchmarkFixture) -> None:
    benchmark.group = "verify / generate one account-analysis run"

    def verify_run() -> int:
        verifier = Verifier()
        for event in RUN:
            verifier.feed(event)
        verifier.finish()
        return verifier.events_seen

    assert measure(benchmark, verify_run, len(RUN)) == len(RUN)


@pytest.mark.cpu_bound
def test_iter_account_analysis(benchmark: BenchmarkFixture) -> None:
    benchmark.group = "verify / generate one account-analysis run"

    def generate() -> list[Event]:
        return list(iter_account_analysis("bench-thread", "bench-run", PARAMS))

    assert measure(benchmark, generate, len(RUN)) == RUN
