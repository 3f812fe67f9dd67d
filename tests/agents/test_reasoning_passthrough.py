"""A thinking model's reasoning on the agent surfaces: a Responses `reasoning` item (and
`response.reasoning_text.delta` events), an Anthropic `thinking` block. Runs once the chat core
reports reasoning (`ThinkingConfig`, `ReasoningDelta`); skipped before that change is merged."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from anthropic import Anthropic
from openai import OpenAI

from openmaas import config
from tests.agents.conftest import agent_settings
from tests.conftest import LiveServer, start_live_server

if not hasattr(config, "ThinkingConfig"):
    pytest.skip("the chat core does not report reasoning yet", allow_module_level=True)

THINKER = "fake-think"
SCRIPT = "<think>Two and two make four.</think>It is 4."


@pytest.fixture(scope="module")
def thinker(tmp_path_factory) -> Iterator[LiveServer]:
    model = config.ModelConfig(
        name=THINKER,
        engine="fake",
        context_window=4096,
        max_output_tokens=256,
        thinking=config.ThinkingConfig(),
    )
    server = start_live_server(agent_settings(tmp_path_factory.mktemp("think"), models=[model]))
    yield server
    server.stop()


def script(server: LiveServer) -> None:
    server.services.catalog.resolve(THINKER).engine.enqueue(SCRIPT)


def test_responses_reasoning_item(thinker):
    client = OpenAI(api_key=thinker.tenant.api_key, base_url=thinker.openai_base, max_retries=0)
    script(thinker)
    response = client.responses.create(model=THINKER, input="2 + 2?")
    reasoning, message = response.output
    assert reasoning.type == "reasoning" and reasoning.content[0].text == "Two and two make four."
    assert response.output_text == "It is 4."
    assert response.usage.output_tokens_details.reasoning_tokens > 0
    script(thinker)
    events = list(client.responses.create(model=THINKER, input="2 + 2?", stream=True))
    deltas = "".join(e.delta for e in events if e.type == "response.reasoning_text.delta")
    assert deltas == "Two and two make four."
    assert [i.type for i in events[-1].response.output] == ["reasoning", "message"]


def test_messages_thinking_block(thinker):
    client = Anthropic(api_key=thinker.tenant.api_key, base_url=thinker.base_url, max_retries=0)
    script(thinker)
    message = client.messages.create(
        model=THINKER, max_tokens=64, messages=[{"role": "user", "content": "2+2?"}]
    )
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == "Two and two make four." and message.content[1].text == "It is 4."
    script(thinker)
    with client.messages.stream(
        model=THINKER, max_tokens=64, messages=[{"role": "user", "content": "2+2?"}]
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "thinking" and final.content[1].text == "It is 4."
