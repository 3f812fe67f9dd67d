"""The upstream engines against scripted replicas (httpx.MockTransport): balancing, breakers,
retry before the first byte, mid-stream failure, usage, tools, errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from contextlib import aclosing

import httpx
import pytest

from openmaas.chat.generation import Generation
from openmaas.chat.tools import FunctionTool, ToolSpec, tool_call_grammar
from openmaas.chat.types import ChatRequest, ToolCallsEvent
from openmaas.engines.base import ChatMessage, Finished, SamplingParams, TextDelta
from openmaas.engines.images import ImageJob, UpstreamImageEngine
from openmaas.engines.upstream import UpstreamChatEngine, estimate_tokens, tool_choice_for
from openmaas.engines.upstream_embeddings import UpstreamEmbeddingEngine
from openmaas.engines.upstream_http import UpstreamTarget
from openmaas.engines.upstream_pool import BreakerState, CircuitBreaker, ReplicaPool
from openmaas.errors import (
    InvalidRequest,
    ModelUnsupported,
    UpstreamFailure,
    UpstreamTimeout,
    UpstreamUnavailable,
)

A, B = "http://a.test", "http://b.test"
USER = [ChatMessage("user", "hello there")]
PARAMS = SamplingParams(max_tokens=16)


def sse(*chunks: dict, done: bool = True) -> bytes:
    body = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)
    return body + (b"data: [DONE]\n\n" if done else b"")


def content(text: str, finish: str | None = None) -> dict:
    return {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]}


USAGE = {"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13}}
OK_STREAM = sse(content("Hel"), content("lo", "stop"), USAGE)


def engine_for(
    handler: Callable[[httpx.Request], httpx.Response], replicas=(A, B), **options
) -> UpstreamChatEngine:
    options = {"health_path": None, "reset_seconds": 60, **options}
    target = UpstreamTarget.build("up-chat", list(replicas), "served-name", None, options)
    return UpstreamChatEngine(target, transport=httpx.MockTransport(handler))


async def run(engine: UpstreamChatEngine, messages=USER, params=PARAMS, tools=None) -> list:
    prompt = await engine.prepare(messages, tools)
    return [event async for event in engine.generate(prompt, params, "acct")]


# --- the pool ------------------------------------------------------------------------------
def test_least_outstanding_selection_rotates_ties():
    pool = ReplicaPool.of([A, B, "http://c.test"])
    first = [pool.acquire().url for _ in range(3)]
    assert sorted(first) == [A, B, "http://c.test"]  # one each while all are busy equally
    busy_b = next(r for r in pool.replicas if r.url == B)
    pool.release(busy_b, "success")
    assert pool.acquire().url == B  # the only one with nothing in flight
    assert pool.acquire(exclude={A, B}).url == "http://c.test"


def test_breaker_opens_half_opens_and_closes():
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=2, reset_seconds=5, clock=lambda: now[0])
    breaker.record("failure")
    assert breaker.state is BreakerState.CLOSED
    breaker.record("failure")
    assert breaker.state is BreakerState.OPEN and not breaker.try_acquire()
    now[0] = 5.0
    assert breaker.try_acquire() and breaker.state is BreakerState.HALF_OPEN
    assert not breaker.try_acquire()  # one probe at a time
    breaker.record("failure")  # the probe failed: open for another spell
    assert breaker.state is BreakerState.OPEN and breaker.retry_in() == 5.0
    now[0] = 10.0
    assert breaker.try_acquire()
    breaker.record("success")
    assert breaker.state is BreakerState.CLOSED and breaker.failures == 0


def test_health_check_result_trips_and_recovers():
    now = [0.0]
    pool = ReplicaPool.of([A], reset_seconds=2, clock=lambda: now[0])
    replica = pool.replicas[0]
    pool.health_result(replica, alive=False)
    assert replica.state is BreakerState.OPEN
    pool.health_result(replica, alive=True)  # too early: still open
    assert replica.state is BreakerState.OPEN
    now[0] = 2.0
    pool.health_result(replica, alive=True)
    assert replica.state is BreakerState.CLOSED


# --- chat streams ----------------------------------------------------------------------------
async def test_stream_uses_upstream_usage_and_passes_params():
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, content=OK_STREAM)

    engine = engine_for(handler, grammar_field="guided_grammar")
    params = SamplingParams(
        max_tokens=9, temperature=0.3, top_p=0.8, stop=("END",), seed=7, grammar='root ::= "x"'
    )
    events = await run(engine, params=params)
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hel", "lo"]
    assert events[-1] == Finished("stop", 11, 2)
    body = seen[0]
    assert body["model"] == "served-name" and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert (body["max_tokens"], body["temperature"], body["top_p"]) == (9, 0.3, 0.8)
    assert body["stop"] == ["END"] and body["seed"] == 7
    assert body["guided_grammar"] == 'root ::= "x"'
    assert body["messages"] == [{"role": "user", "content": "hello there"}]
    await engine.close()


async def test_without_upstream_usage_deltas_are_counted():
    engine = engine_for(
        lambda r: httpx.Response(200, content=sse(content("a"), content("b"), content("c", "length")))
    )
    prompt = await engine.prepare(USER)
    events = [e async for e in engine.generate(prompt, PARAMS, "acct")]
    assert events[-1] == Finished("length", prompt.token_count, 3)
    assert prompt.token_count == estimate_tokens("hello there") + 4 + 3


async def test_retry_on_another_replica_before_the_first_byte():
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.host)
        if request.url.host == "a.test":
            raise httpx.ConnectError("refused")
        return httpx.Response(200, content=OK_STREAM)

    engine = engine_for(handler, failure_threshold=1)
    for _ in range(2):
        events = await run(engine)
        assert events[-1].reason == "stop"
    assert calls[:2] == ["a.test", "b.test"] and calls[2] == "b.test"  # A's breaker opened
    a = engine.pool.replicas[0]
    assert a.state is BreakerState.OPEN and a.failed == 1


async def test_upstream_5xx_and_429_are_retried_elsewhere():
    statuses = {"a.test": 503, "b.test": 500}

    def handler(request: httpx.Request) -> httpx.Response:
        status = statuses.get(request.url.host, 200)
        return (
            httpx.Response(status, json={"error": {"message": "busy"}})
            if status != 200
            else httpx.Response(200, content=OK_STREAM)
        )

    engine = engine_for(handler, replicas=(A, B, "http://c.test"))
    events = await run(engine)
    assert events[-1] == Finished("stop", 11, 2)
    assert [r.failed for r in engine.pool.replicas] == [1, 1, 0]


async def test_mid_stream_failure_ends_with_network_error():
    async def broken():
        yield sse(content("one"), content(" two"), done=False)
        raise httpx.ReadError("connection reset")

    engine = engine_for(lambda r: httpx.Response(200, content=broken()))
    events = await run(engine)
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["one", " two"]
    assert isinstance(events[-1], Finished) and events[-1].reason == "network_error"
    assert events[-1].completion_tokens == 2
    assert sum(r.failed for r in engine.pool.replicas) == 1  # not retried: bytes were out


async def test_4xx_is_the_request_not_the_replica():
    engine = engine_for(lambda r: httpx.Response(400, json={"error": {"message": "too long"}}))
    with pytest.raises(InvalidRequest, match="too long"):
        await run(engine)
    assert all(r.failed == 0 and r.outstanding == 0 for r in engine.pool.replicas)


async def test_all_refused_is_1305_and_timeouts_are_1234():
    def refuse(request):
        raise httpx.ConnectError("refused")

    with pytest.raises(UpstreamUnavailable) as refused:
        await run(engine_for(refuse))
    assert refused.value.code == "1305" and refused.value.http_status == 429

    def hang(request):
        raise httpx.ReadTimeout("slow")

    with pytest.raises(UpstreamTimeout) as slow:
        await run(engine_for(hang))
    assert slow.value.code == "1234" and slow.value.http_status == 500

    with pytest.raises(UpstreamFailure):
        await run(engine_for(lambda r: httpx.Response(200, content=b"data: not json\n\n")))


async def test_closing_early_releases_the_replica_without_blame():
    async def endless():
        for i in range(1000):
            yield sse(content(f"t{i} "), done=False)
            await asyncio.sleep(0.001)

    engine = engine_for(lambda r: httpx.Response(200, content=endless()))
    prompt = await engine.prepare(USER)
    async with aclosing(engine.generate(prompt, PARAMS, "acct")) as events:
        async for _ in events:
            break  # the client went away
    assert [(r.outstanding, r.failed, r.state) for r in engine.pool.replicas] == [
        (0, 0, BreakerState.CLOSED)
    ] * 2


async def test_prompt_count_from_vllm_tokenize_where_available():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/tokenize":
            if request.url.host == "a.test":
                return httpx.Response(404)
            assert json.loads(request.content)["add_generation_prompt"] is True
            return httpx.Response(200, json={"count": 42, "max_model_len": 4096, "tokens": []})
        return httpx.Response(200, content=OK_STREAM)

    engine = engine_for(handler, tokenize="upstream")
    counts = [(await engine.prepare(USER)).token_count for _ in range(3)]
    estimate = estimate_tokens("hello there") + 4 + 3
    assert counts[0] in (42, estimate) and counts[1:] == [42, 42]  # A has none: asked once
    with pytest.raises(ModelUnsupported):
        await run(engine, params=SamplingParams(max_tokens=4, adapter="/tmp/lora.gguf"))


# --- tools -------------------------------------------------------------------------------------
WEATHER = FunctionTool(
    "get_weather",
    "Weather of a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
TIME = FunctionTool("get_time", "Time", {"type": "object", "properties": {}})


def tool_stream(request: httpx.Request) -> httpx.Response:
    call = {
        "index": 0,
        "id": "call_up",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": '},
    }
    more = {"index": 0, "function": {"arguments": '"Beijing"}'}}
    chunks = [
        {"choices": [{"index": 0, "delta": {"tool_calls": [call]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [more]}, "finish_reason": "tool_calls"}]},
        USAGE,
    ]
    return httpx.Response(200, content=sse(*chunks))


async def test_upstream_tool_calls_become_tool_call_events():
    seen: list[dict] = []

    def handler(request):
        seen.append(json.loads(request.content))
        return tool_stream(request)

    engine = engine_for(handler)
    tools = ToolSpec((WEATHER, TIME))
    request = ChatRequest(model="up-chat", messages=USER, tools=tools)
    prompt = await engine.prepare(USER, [f.template_form() for f in tools.functions])
    events = [e async for e in Generation(engine, prompt, PARAMS, "acct", request).events()]
    calls = next(e for e in events if isinstance(e, ToolCallsEvent)).calls
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [("get_weather", {"city": "Beijing"})]
    assert events[-1] == Finished("tool_calls", 11, 2)
    assert seen[0]["tool_choice"] == "auto" and len(seen[0]["tools"]) == 2


async def test_tool_choice_follows_generation_grammar():
    engine = engine_for(tool_stream)
    tools = [WEATHER.template_form(), TIME.template_form()]
    prompt = await engine.prepare(USER, tools)
    named = SamplingParams(max_tokens=8, grammar=tool_call_grammar((WEATHER, TIME), "get_time"))
    assert tool_choice_for(prompt, named) == {"type": "function", "function": {"name": "get_time"}}
    forced = SamplingParams(max_tokens=8, grammar=tool_call_grammar((WEATHER, TIME)))
    assert tool_choice_for(prompt, forced) == "required"
    prose = SamplingParams(max_tokens=8, grammar="root ::= [^{] [^\\x00]*")
    assert tool_choice_for(prompt, prose) == "none"
    assert tool_choice_for(await engine.prepare(USER), PARAMS) is None


# --- embeddings and images --------------------------------------------------------------------
def test_upstream_embeddings_balance_and_normalise():
    hosts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        body = json.loads(request.content)
        data = [
            {"index": i, "object": "embedding", "embedding": [3.0, 4.0]} for i, _ in enumerate(body["input"])
        ]
        return httpx.Response(200, json={"object": "list", "data": data})

    target = UpstreamTarget.build("up-embed", [A, B], None, None, {})
    engine = UpstreamEmbeddingEngine(target, dim=2, max_tokens=512, transport=httpx.MockTransport(handler))
    vectors = engine.embed(["x", "y"], "query")
    engine.embed(["z"], "query")
    assert vectors.shape == (2, 2) and abs(float(vectors[0, 0]) - 0.6) < 1e-6
    assert sorted(hosts) == ["a.test", "b.test"]
    with pytest.raises(UpstreamFailure) as failure:
        UpstreamEmbeddingEngine(target, dim=3, max_tokens=512, transport=httpx.MockTransport(handler)).embed(
            ["x"], "query"
        )
    assert "dimensions" in failure.value.detail  # for the log: callers see no upstream internals


async def test_upstream_images_decode_b64_and_retry():
    import base64

    png = b"\x89PNG\r\n\x1a\n" + b"0" * 16

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "a.test":
            return httpx.Response(502)
        body = json.loads(request.content)
        assert body["size"] == "64x32" and body["response_format"] == "b64_json"
        return httpx.Response(
            200,
            json={
                "created": 1,
                "data": [{"b64_json": base64.b64encode(png).decode()} for _ in range(body["n"])],
            },
        )

    target = UpstreamTarget.build("up-image", [A, B], None, None, {})
    engine = UpstreamImageEngine(target, transport=httpx.MockTransport(handler))
    images = await engine.generate(ImageJob("a cat", 64, 32, n=2))
    assert images == [png, png]
    await engine.close()
