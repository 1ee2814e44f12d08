"""Deterministic demo agents: the workloads the server streams and the gate measures.

``iter_account_analysis`` is pure (no I/O, no clock): the same parameters give the same
events, so with ``stamp="off"`` the same bytes. The async agents wrap the pure event
sequences, pace them, yield to the event loop and stamp each event as it is yielded.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Final, Literal

import orjson

from agui_perf.stream import events as ev
from agui_perf.stream.types import Agent

if TYPE_CHECKING:
    from agui_perf.stream.types import Event

__all__ = [
    "DEFAULT_WORKFLOW",
    "STEPS",
    "WORKFLOWS",
    "Stamp",
    "WorkflowFactory",
    "WorkflowParams",
    "account_analysis",
    "burst",
    "iter_account_analysis",
    "paced",
]

Stamp = Literal["off", "timestamp", "monotonic"]
_STAMPS: Final = ("off", "timestamp", "monotonic")

#: Inclusive bounds of every numeric parameter: each loop a workflow runs is bounded by them.
_INT_RANGES: Final[Mapping[str, tuple[int, int]]] = {
    "text_chunks": (1, 100_000),
    "chunk_size": (1, 4_096),
    "tool_calls": (0, 10_000),
    "state_deltas": (0, 10_000),
    "seed": (0, 2**64 - 1),
    "events": (1, 10_000_000),
}
_FLOAT_RANGES: Final[Mapping[str, tuple[float, float]]] = {
    "token_delay": (0.0, 60.0),
    "rate_per_s": (0.001, 1_000_000.0),
}


@dataclass(frozen=True, slots=True)
class WorkflowParams:
    """What a workflow streams. Validated on construction (``ValueError`` naming the field).

    ``tool_calls`` and ``state_deltas`` are totals for the run, dealt round-robin over the
    three steps, so the defaults give each step one tool call and one state delta.
    """

    text_chunks: int = 40
    chunk_size: int = 24
    tool_calls: int = 3
    state_deltas: int = 3
    token_delay: float = 0.0
    seed: int = 0
    events: int = 1000
    rate_per_s: float = 100.0
    stamp: Stamp = "off"

    def __post_init__(self) -> None:
        # Slots, not a __dict__: every open stream's agent holds its parameters.
        for field in fields(self):
            _check(field.name, getattr(self, field.name))

    @classmethod
    def from_mapping(cls, obj: object) -> WorkflowParams:
        """Parameters from decoded JSON (``forwardedProps.params``); ``None`` means defaults."""
        if obj is None:
            return cls()
        if not isinstance(obj, Mapping):
            raise ValueError(
                f"workflow params must be a JSON object, got {type(obj).__name__}: {obj!r:.80}"
            )
        known = {f.name for f in fields(cls)}
        for key in obj:
            if key not in known:
                raise ValueError(
                    f"unknown workflow parameter {key!r:.80}; known: {', '.join(sorted(known))}"
                )
        return cls(**dict(obj.items()))


def _check(name: str, value: object) -> None:
    if name in _INT_RANGES:
        low, high = _INT_RANGES[name]
        # bool is an int subclass; `true` for a count is a client bug, not 1.
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"{name} must be an integer in {low}..{high}, got {value!r:.80}")
    elif name in _FLOAT_RANGES:
        low_f, high_f = _FLOAT_RANGES[name]
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not (math.isfinite(value) and low_f <= value <= high_f)
        ):
            raise ValueError(f"{name} must be a number in {low_f}..{high_f}, got {value!r:.80}")
    elif name == "stamp" and value not in _STAMPS:
        raise ValueError(f"stamp must be one of {', '.join(_STAMPS)}; got {value!r:.80}")


# --- pure content ----------------------------------------------------------------------

#: (step name, tool name) of the three account-analysis steps.
STEPS: Final = (
    ("fetch_account", "crm.get_account"),
    ("analyse", "analytics.score_account"),
    ("recommend", "planner.recommend"),
)
_WORDS: Final = (
    "account",
    "revenue",
    "churn",
    "risk",
    "renewal",
    "expansion",
    "usage",
    "seats",
    "contract",
    "quarter",
    "pipeline",
    "margin",
    "forecast",
    "cohort",
    "retention",
    "signal",
    "upsell",
    "support",
    "ticket",
    "latency",
    "adoption",
    "health",
    "score",
    "segment",
    "region",
    "owner",
    "budget",
    "invoice",
    "discount",
    "trend",
    "baseline",
    "anomaly",
    "café",
    "naïve",
    "Zürich",
    "—",
    "€",
    "💡",
)
_METRICS: Final = ("arr", "nrr", "dau", "tickets", "latency_ms", "seats_used", "csat")
#: Streamed tool arguments are sent in this many TOOL_CALL_ARGS chunks (fewer if short).
_ARGS_CHUNKS: Final = 4


def _text_chunks(rng: random.Random, count: int, size: int) -> Iterator[str]:
    """``count`` chunks of exactly ``size`` characters of pseudo-random prose, never empty."""
    buffer = ""
    for _ in range(count):
        while len(buffer) < size:
            buffer += rng.choice(_WORDS) + " "
        yield buffer[:size]
        buffer = buffer[size:]


def _split(text: str, parts: int) -> list[str]:
    step = max(1, -(-len(text) // parts))
    return [text[i : i + step] for i in range(0, len(text), step)]


def _tool_args(rng: random.Random, step: str, account_id: str, call: int) -> str:
    args: dict[str, Any] = {"accountId": account_id, "call": call}
    if step == "fetch_account":
        args["fields"] = rng.sample(_METRICS, 3)
        args["windowDays"] = rng.choice((30, 90, 365))
    elif step == "analyse":
        args["metrics"] = rng.sample(_METRICS, 2)
        args["threshold"] = round(rng.uniform(0.1, 0.9), 3)
    else:
        args["maxItems"] = rng.randint(1, 5)
        args["tone"] = rng.choice(("brief", "detailed"))
    return orjson.dumps(args).decode()


def _tool_result(rng: random.Random, step: str, call: int) -> str:
    result = {
        "call": call,
        "step": step,
        "values": {m: round(rng.uniform(0, 10_000), 2) for m in rng.sample(_METRICS, 3)},
        "ok": True,
    }
    return orjson.dumps(result).decode()


def _patch(rng: random.Random, step: str, index: int, progress: float) -> list[dict[str, Any]]:
    # Never empty: older clients reject an empty delta (the AG-UI reference client's verifier did).
    return [
        {
            "op": "add",
            "path": "/findings/-",
            "value": {
                "id": f"f-{index}",
                "step": step,
                "metric": rng.choice(_METRICS),
                "value": round(rng.uniform(0, 1000), 2),
            },
        },
        {"op": "replace", "path": "/progress", "value": round(progress, 4)},
    ]


def iter_account_analysis(thread_id: str, run_id: str, params: WorkflowParams) -> Iterator[Event]:
    """One account-analysis run: snapshot, three steps of tool calls and deltas, a reply."""
    rng = random.Random(params.seed)
    account_id = f"acct-{rng.randrange(1_000_000):06d}"
    yield ev.run_started(thread_id, run_id)
    yield ev.state_snapshot(
        {
            "account": {"id": account_id, "tier": rng.choice(("smb", "mid", "enterprise"))},
            "progress": 0.0,
            "findings": [],
        }
    )
    deltas_sent = 0
    for step_index, (step, tool) in enumerate(STEPS):
        yield ev.step_started(step)
        for call in range(step_index, params.tool_calls, len(STEPS)):
            call_id = f"{run_id}-call-{call}"
            yield ev.tool_call_start(call_id, tool)
            for delta in _split(_tool_args(rng, step, account_id, call), _ARGS_CHUNKS):
                yield ev.tool_call_args(call_id, delta)
            yield ev.tool_call_end(call_id)
            yield ev.tool_call_result(
                f"{run_id}-tool-{call}", call_id, _tool_result(rng, step, call)
            )
        for index in range(step_index, params.state_deltas, len(STEPS)):
            deltas_sent += 1
            yield ev.state_delta(_patch(rng, step, index, deltas_sent / params.state_deltas))
        yield ev.step_finished(step)
    message_id = f"{run_id}-msg-0"
    yield ev.text_message_start(message_id)
    for chunk in _text_chunks(rng, params.text_chunks, params.chunk_size):
        yield ev.text_message_content(message_id, chunk)
    yield ev.text_message_end(message_id)
    yield ev.run_finished(thread_id, run_id)


# --- async agents ----------------------------------------------------------------------

#: Events yielded between two ``asyncio.sleep(0)`` when nothing else paces the stream, so a
#: server sharing the loop keeps accepting connections and reading disconnects.
_YIELD_EVERY: Final = 64
_STREAMED: Final = frozenset({"TEXT_MESSAGE_CONTENT", "TOOL_CALL_ARGS"})


def _stamper(stamp: Stamp) -> Callable[[Event], Event] | None:
    if stamp == "timestamp":
        return lambda event: ev.with_common(event, timestamp=time.time_ns() // 1_000_000)
    if stamp == "monotonic":
        return lambda event: ev.with_common(
            event, metadata={**event.get("metadata", {}), "monotonicNs": time.monotonic_ns()}
        )
    return None


async def account_analysis(thread_id: str, run_id: str, params: WorkflowParams) -> Agent:
    """``iter_account_analysis``, with ``token_delay`` before each streamed chunk."""
    stamp = _stamper(params.stamp)
    delay = params.token_delay
    for n, event in enumerate(iter_account_analysis(thread_id, run_id, params)):
        if delay and event["type"] in _STREAMED:
            await asyncio.sleep(delay)
        elif n % _YIELD_EVERY == _YIELD_EVERY - 1:
            await asyncio.sleep(0)
        yield stamp(event) if stamp else event


def _iter_burst(thread_id: str, run_id: str, params: WorkflowParams) -> Iterator[Event]:
    rng = random.Random(params.seed)
    tokens = [rng.choice(_WORDS) + " " for _ in range(64)]
    message_id = f"{run_id}-msg-0"
    yield ev.run_started(thread_id, run_id)
    yield ev.text_message_start(message_id)
    for i in range(params.events):
        yield ev.text_message_content(message_id, tokens[i % 64])
    yield ev.text_message_end(message_id)
    yield ev.run_finished(thread_id, run_id)


async def burst(thread_id: str, run_id: str, params: WorkflowParams) -> Agent:
    """``params.events`` one-word TEXT_MESSAGE_CONTENT events, as fast as the consumer takes them.

    The stress case of ag-ui issues #883/#1644 (very many tiny events).
    """
    stamp = _stamper(params.stamp)
    for n, event in enumerate(_iter_burst(thread_id, run_id, params)):
        if n % _YIELD_EVERY == _YIELD_EVERY - 1:
            await asyncio.sleep(0)
        yield stamp(event) if stamp else event


async def paced(thread_id: str, run_id: str, params: WorkflowParams) -> Agent:
    """``params.text_chunks`` text chunks at ``params.rate_per_s``, like a model emitting tokens.

    Chunks follow an absolute schedule (start + i / rate), so a slow consumer or a late
    wake-up does not accumulate drift.
    """
    stamp = _stamper(params.stamp)
    rng = random.Random(params.seed)
    message_id = f"{run_id}-msg-0"
    loop = asyncio.get_running_loop()
    interval = 1.0 / params.rate_per_s
    head = (ev.run_started(thread_id, run_id), ev.text_message_start(message_id))
    for event in head:
        yield stamp(event) if stamp else event
    start = loop.time()
    for i, chunk in enumerate(_text_chunks(rng, params.text_chunks, params.chunk_size)):
        await asyncio.sleep(max(0.0, start + i * interval - loop.time()))
        event = ev.text_message_content(message_id, chunk)
        yield stamp(event) if stamp else event
    for event in (ev.text_message_end(message_id), ev.run_finished(thread_id, run_id)):
        yield stamp(event) if stamp else event


WorkflowFactory = Callable[[str, str, WorkflowParams], Agent]

#: The workflows a client can ask for by name in ``forwardedProps.workflow``.
WORKFLOWS: Mapping[str, WorkflowFactory] = {
    "account_analysis": account_analysis,
    "burst": burst,
    "paced": paced,
}
DEFAULT_WORKFLOW: Final = "account_analysis"
