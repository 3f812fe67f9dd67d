"""Anthropic `stop_sequence` when the model runs on an OpenAI-compatible upstream: a loopback
stub that stops on `stop` as vLLM does (naming the string in `stop_reason`), one that says only
`finish_reason: "stop"`, and one that ignores `stop` (the platform cuts the answer itself)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from anthropic import Anthropic

from openmaas.config import ModelConfig
from tests.agents.conftest import agent_settings
from tests.conftest import LiveServer, fake_models, start_live_server
from tests.sdk._stub_upstream import ANSWER, StubUpstream

ASK = [{"role": "user", "content": "Answer me"}]
BEFORE_MY = ANSWER[0]  # "Here is ": the answer up to the stop string "my"


def text_of(message) -> str:
    """The answer's text blocks (the stub thinks first, as a reasoning upstream does)."""
    return "".join(block.text for block in message.content if block.type == "text")


def upstream_model(name: str, stub: StubUpstream, served: str) -> ModelConfig:
    return ModelConfig(
        name=name,
        engine="upstream",
        upstreams=[stub.url],
        upstream_model=served,
        options={"health_path": None},
        context_window=4096,
        max_output_tokens=256,
    )


@pytest.fixture(scope="module")
def stub() -> Iterator[StubUpstream]:
    server = StubUpstream().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory, stub) -> Iterator[LiveServer]:
    models = [
        *fake_models(2048),
        upstream_model("up-vllm", stub, "served"),
        upstream_model("up-plain", stub, "served-plain"),
        upstream_model("up-deaf", stub, "served-deaf"),
    ]
    live = start_live_server(agent_settings(tmp_path_factory.mktemp("upstop"), models=models))
    yield live
    live.stop()


@pytest.fixture
def claude(server) -> Iterator[Anthropic]:
    client = Anthropic(api_key=server.tenant.api_key, base_url=server.base_url, max_retries=0)
    yield client
    client.close()


@pytest.mark.parametrize("model", ["up-vllm", "up-deaf"])
def test_stop_sequence_is_named(claude, stub, model):
    message = claude.messages.create(model=model, max_tokens=64, messages=ASK, stop_sequences=["zzz", "my"])
    assert stub.requests[-1]["stop"] == ["zzz", "my"]
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "my")
    assert text_of(message) == BEFORE_MY  # the stop string itself is never sent


def test_stop_sequence_streams(claude):
    with claude.messages.stream(
        model="up-vllm", max_tokens=64, messages=ASK, stop_sequences=["answer"]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Here is my "
    assert (final.stop_reason, final.stop_sequence) == ("stop_sequence", "answer")


def test_an_end_of_turn_is_not_a_stop_sequence(claude):
    message = claude.messages.create(model="up-vllm", max_tokens=64, messages=ASK, stop_sequences=["zzz"])
    assert (message.stop_reason, message.stop_sequence) == ("end_turn", None)
    assert text_of(message) == "".join(ANSWER)


def test_an_upstream_that_does_not_say_claims_nothing(claude):
    """Only `finish_reason: "stop"`: an end-of-turn token looks the same, so no string is named."""
    message = claude.messages.create(model="up-plain", max_tokens=64, messages=ASK, stop_sequences=["my"])
    assert text_of(message) == BEFORE_MY
    assert (message.stop_reason, message.stop_sequence) == ("end_turn", None)


def test_a_deaf_upstream_is_cut_while_streaming(claude, stub):
    with claude.messages.stream(
        model="up-deaf", max_tokens=64, messages=ASK, stop_sequences=["answer"]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Here is my " and "answer" not in text_of(final)
    assert (final.stop_reason, final.stop_sequence) == ("stop_sequence", "answer")
    assert final.usage.output_tokens > 0
