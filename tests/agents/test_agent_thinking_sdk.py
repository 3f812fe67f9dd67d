"""Thinking and stop sequences on the agent surfaces, through the real `anthropic` and `openai`
SDKs against a fake engine that thinks (`ThinkingConfig`, scripted `<think>` output):

- the switch: Anthropic `thinking` {enabled, budget_tokens} / disabled, Responses
  `reasoning.effort` (`none` off) reach the chat core (`/no_think` in the fake's prompt) and
  decide whether a thinking block / reasoning item comes back, stream and not;
- replay: thinking blocks of assistant turns and reasoning items (sent back or chained by
  `previous_response_id`) reach the prompt as the turn's reasoning while a tool loop is in
  progress, and are dropped for turns before the last user message unless `clear_thinking`
  is false;
- Anthropic `stop_reason: "stop_sequence"` naming the stop string that matched.
"""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import pytest
from anthropic import Anthropic
from openai import OpenAI

from openmaas import config
from openmaas.engines.fake import FakeChatEngine
from openmaas.engines.stops import StopMatcher
from tests.agents.conftest import agent_settings
from tests.conftest import FAKE_MODEL, LiveServer, fake_models, start_live_server

THINKER = "fake-think"
SCRIPT = "<think>Two and two make four.</think>It is 4."
TOOL = {
    "name": "add",
    "description": "Adds two numbers",
    "input_schema": {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
}


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    thinker = config.ModelConfig(
        name=THINKER,
        engine="fake",
        context_window=4096,
        max_output_tokens=256,
        thinking=config.ThinkingConfig(),
    )
    live = start_live_server(
        agent_settings(tmp_path_factory.mktemp("thinking"), models=[*fake_models(2048), thinker])
    )
    yield live
    live.stop()


@pytest.fixture
def thinker(server) -> Iterator[FakeChatEngine]:
    engine = server.services.catalog.resolve(THINKER).engine
    yield engine
    engine._scripted.clear()


@pytest.fixture
def plain(server) -> Iterator[FakeChatEngine]:
    engine = server.services.catalog.resolve(FAKE_MODEL).engine
    yield engine
    engine._scripted.clear()


@pytest.fixture
def claude(server) -> Anthropic:
    return Anthropic(api_key=server.tenant.api_key, base_url=server.base_url, max_retries=0)


@pytest.fixture
def oai(server) -> OpenAI:
    return OpenAI(api_key=server.tenant.api_key, base_url=server.openai_base, max_retries=0)


def ask(text: str = "2+2?") -> list[dict]:
    return [{"role": "user", "content": text}]


# --- Anthropic: the thinking switch -----------------------------------------------------------
def test_messages_thinking_enabled_gives_a_thinking_block(claude, thinker):
    thinker.enqueue(SCRIPT)
    message = claude.messages.create(
        model=THINKER, max_tokens=64, messages=ask(), thinking={"type": "enabled", "budget_tokens": 1024}
    )
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == "Two and two make four." and message.content[1].text == "It is 4."
    assert not thinker.prompts[-1].text.endswith("/no_think")


def test_messages_thinking_streams_thinking_deltas_first(claude, thinker):
    thinker.enqueue(SCRIPT)
    with claude.messages.stream(
        model=THINKER, max_tokens=64, messages=ask(), thinking={"type": "enabled", "budget_tokens": 1024}
    ) as stream:
        events = list(stream)
        final = stream.get_final_message()
    deltas = [e.delta.type for e in events if e.type == "content_block_delta"]
    assert deltas[0] == "thinking_delta" and deltas[-1] == "text_delta"
    assert (
        "".join(
            e.delta.thinking
            for e in events
            if e.type == "content_block_delta" and e.delta.type == "thinking_delta"
        )
        == "Two and two make four."
    )
    assert [b.type for b in final.content] == ["thinking", "text"]


@pytest.mark.parametrize("stream", [False, True])
def test_messages_thinking_disabled_reaches_the_core(claude, thinker, stream):
    thinker.enqueue(SCRIPT)
    kwargs = {"model": THINKER, "max_tokens": 64, "messages": ask(), "thinking": {"type": "disabled"}}
    if stream:
        with claude.messages.stream(**kwargs) as events:
            message = events.get_final_message()
    else:
        message = claude.messages.create(**kwargs)
    assert thinker.prompts[-1].text.endswith("/no_think")
    assert [b.type for b in message.content] == ["text"] and message.content[0].text == "It is 4."


@pytest.mark.parametrize(
    "thinking, param",
    [
        ({"type": "sometimes"}, "thinking.type"),
        ({"type": "enabled"}, "thinking.budget_tokens"),
        ({"type": "enabled", "budget_tokens": 0}, "thinking.budget_tokens"),
        ({"type": "enabled", "budget_tokens": 1024, "clear_thinking": "no"}, "thinking.clear_thinking"),
    ],
)
def test_messages_bad_thinking_is_a_400(claude, thinker, thinking, param):
    generations = thinker.generations
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.messages.create(model=THINKER, max_tokens=64, messages=ask(), thinking=thinking)
    assert caught.value.body["type"] == "error" and param in caught.value.body["error"]["message"]
    assert thinker.generations == generations  # refused before anything ran


# --- Anthropic: thinking blocks replayed -----------------------------------------------------
def tool_loop(thought: str) -> list[dict]:
    return [
        *ask("add 1"),
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": thought, "signature": ""},
                {"type": "tool_use", "id": "toolu_1", "name": "add", "input": {"a": 1}},
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "2"}]},
    ]


def test_thinking_block_of_a_tool_loop_is_replayed(claude, thinker):
    thinker.enqueue("<think>got it</think>It is 2.")
    message = claude.messages.create(
        model=THINKER,
        max_tokens=64,
        tools=[TOOL],
        messages=tool_loop("CALL-ADD"),
        thinking={"type": "enabled", "budget_tokens": 1024},
    )
    assert message.content[-1].text == "It is 2."
    assert "<|assistant|><think>CALL-ADD</think>" in thinker.prompts[-1].text


def test_thinking_of_earlier_turns_is_cleared_unless_kept(claude, thinker):
    thought = {"type": "thinking", "thinking": "OLD-THOUGHT", "signature": ""}
    history = [
        *ask("first"),
        {"role": "assistant", "content": [thought, {"type": "text", "text": "first answer"}]},
        *ask("second"),
    ]
    thinker.enqueue(SCRIPT, SCRIPT)
    claude.messages.create(
        model=THINKER, max_tokens=64, messages=history, thinking={"type": "enabled", "budget_tokens": 1024}
    )
    assert "OLD-THOUGHT" not in thinker.prompts[-1].text
    claude.messages.create(
        model=THINKER,
        max_tokens=64,
        messages=history,
        thinking={"type": "enabled", "budget_tokens": 1024, "clear_thinking": False},
    )
    assert "<think>OLD-THOUGHT</think>first answer" in thinker.prompts[-1].text


def test_a_returned_message_sent_back_as_is_is_accepted(claude, thinker):
    """The SDK's own objects (thinking block with its signature) go back in the next turn."""
    thinker.enqueue(SCRIPT, "<think>again</think>Still 4.")
    first = claude.messages.create(model=THINKER, max_tokens=64, messages=ask())
    second = claude.messages.create(
        model=THINKER,
        max_tokens=64,
        messages=[*ask(), {"role": "assistant", "content": first.content}, *ask("sure?")],
        thinking={"type": "enabled", "budget_tokens": 1024, "clear_thinking": False},
    )
    assert second.content[-1].text == "Still 4."
    assert "<think>Two and two make four.</think>It is 4." in thinker.prompts[-1].text


# --- Responses: reasoning.effort ---------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True])
def test_responses_effort_none_switches_thinking_off(oai, thinker, stream):
    thinker.enqueue(SCRIPT)
    if stream:
        events = list(
            oai.responses.create(model=THINKER, input="2+2?", reasoning={"effort": "none"}, stream=True)
        )
        assert not [e for e in events if e.type == "response.reasoning_text.delta"]
        response = events[-1].response
    else:
        response = oai.responses.create(model=THINKER, input="2+2?", reasoning={"effort": "none"})
    assert thinker.prompts[-1].text.endswith("/no_think")
    assert [i.type for i in response.output] == ["message"] and response.output_text == "It is 4."


@pytest.mark.parametrize("stream", [False, True])
def test_responses_effort_high_gives_a_reasoning_item(oai, thinker, stream):
    thinker.enqueue(SCRIPT)
    if stream:
        events = list(
            oai.responses.create(model=THINKER, input="2+2?", reasoning={"effort": "high"}, stream=True)
        )
        deltas = "".join(e.delta for e in events if e.type == "response.reasoning_text.delta")
        assert deltas == "Two and two make four."
        response = events[-1].response
    else:
        response = oai.responses.create(model=THINKER, input="2+2?", reasoning={"effort": "high"})
    assert not thinker.prompts[-1].text.endswith("/no_think")
    assert [i.type for i in response.output] == ["reasoning", "message"]
    assert response.output[0].content[0].text == "Two and two make four."
    assert response.reasoning.effort == "high"
    assert response.usage.output_tokens_details.reasoning_tokens > 0


def test_responses_unknown_effort_is_a_400(oai, thinker):
    with pytest.raises(openai.BadRequestError) as caught:
        oai.responses.create(model=THINKER, input="2+2?", reasoning={"effort": "extreme"})
    assert caught.value.body["param"] == "reasoning.effort"


# --- Responses: reasoning items replayed ------------------------------------------------------
FUNCTION = {
    "type": "function",
    "name": "add",
    "description": "Adds",
    "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
}
CALL = '<think>I should call add.</think><tool_call>{"name": "add", "arguments": {"a": 1}}</tool_call>'


def test_reasoning_of_a_chained_function_call_is_replayed(oai, thinker):
    thinker.enqueue(CALL, "<think>done</think>It is 2.")
    first = oai.responses.create(model=THINKER, input="add 1", tools=[FUNCTION])
    assert [i.type for i in first.output] == ["reasoning", "function_call"]
    call = first.output[1]
    second = oai.responses.create(
        model=THINKER,
        previous_response_id=first.id,
        tools=[FUNCTION],
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "2"}],
    )
    assert second.output_text == "It is 2."
    assert "<think>I should call add.</think>" in thinker.prompts[-1].text


def test_reasoning_items_sent_back_follow_clear_thinking(oai, thinker):
    thinker.enqueue(SCRIPT)
    first = oai.responses.create(model=THINKER, input="2+2?", store=False)
    history = [
        {"role": "user", "content": "2+2?"},
        *[i.model_dump(exclude_none=True) for i in first.output],
        {"role": "user", "content": "sure?"},
    ]
    thinker.enqueue(SCRIPT, SCRIPT)
    oai.responses.create(model=THINKER, input=history, store=False)
    assert "Two and two make four" not in thinker.prompts[-1].text
    oai.responses.create(
        model=THINKER, input=history, store=False, reasoning={"effort": "high", "clear_thinking": False}
    )
    assert "<think>Two and two make four.</think>It is 4." in thinker.prompts[-1].text


def test_malformed_reasoning_item_is_a_400(oai, thinker):
    with pytest.raises(openai.BadRequestError) as caught:
        oai.responses.create(model=THINKER, input=[{"type": "reasoning", "id": "rs_1", "summary": "x"}])
    assert caught.value.body["param"] == "input[0].summary"


# --- Anthropic stop_sequence ---------------------------------------------------------------------
def test_stop_sequence_is_named(claude, plain):
    plain.enqueue("Hello STOP world")
    message = claude.messages.create(
        model=FAKE_MODEL, max_tokens=32, messages=ask("hi"), stop_sequences=["END", "STOP"]
    )
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "STOP")
    assert message.content[0].text == "Hello "
    plain.enqueue("Hello STOP world")
    with claude.messages.stream(
        model=FAKE_MODEL, max_tokens=32, messages=ask("hi"), stop_sequences=["STOP"]
    ) as stream:
        final = stream.get_final_message()
    assert (final.stop_reason, final.stop_sequence) == ("stop_sequence", "STOP")


def test_no_stop_sequence_matched_is_end_turn(claude, plain):
    plain.enqueue("Hello world")
    message = claude.messages.create(
        model=FAKE_MODEL, max_tokens=32, messages=ask("hi"), stop_sequences=["STOP"]
    )
    assert (message.stop_reason, message.stop_sequence) == ("end_turn", None)


def test_stop_sequence_after_thinking(claude, thinker):
    thinker.enqueue("<think>STOP is only in thought</think>Yes. STOP no")
    message = claude.messages.create(model=THINKER, max_tokens=64, messages=ask(), stop_sequences=["STOP"])
    assert message.content[0].thinking == "STOP is only in thought"
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "STOP")


def test_stop_matcher_names_the_earliest_match():
    matcher = StopMatcher(("world", "lo w"))
    assert matcher.feed("he") == "he"
    assert matcher.feed("llo world") == "l"
    assert matcher.stopped and matcher.matched == "lo w"


def test_count_tokens_counts_what_create_sends(claude, thinker):
    """Earlier turns' thinking is cleared for counting as for `create`; kept, it counts."""
    thought = {"type": "thinking", "thinking": "a long earlier thought " * 20, "signature": ""}
    history = [
        *ask("first"),
        {"role": "assistant", "content": [thought, {"type": "text", "text": "ok"}]},
        *ask("second"),
    ]
    cleared = claude.messages.count_tokens(model=THINKER, messages=history).input_tokens
    kept = claude.messages.count_tokens(
        model=THINKER,
        messages=history,
        thinking={"type": "enabled", "budget_tokens": 1024, "clear_thinking": False},
    ).input_tokens
    assert kept >= cleared + 80
