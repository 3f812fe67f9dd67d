"""The `<think>` splitter, the tool-call argument streamer and content-part parsing."""

from __future__ import annotations

import base64
import json

import pytest

from openmaas.api.chat.content import MAX_IMAGE_BYTES, image_url, parse_parts
from openmaas.chat.tool_stream import ToolCallStreamer
from openmaas.chat.tools import ToolCall
from openmaas.engines.base import ReasoningDelta, TextDelta, ThinkTags
from openmaas.engines.reasoning import ReasoningOutput, think_tags_for
from openmaas.errors import InvalidField

TAGS = ThinkTags()
THOUGHT = "<think>\nThe user greets me. 1+1=2, so < and > are fine.\n</think>\n\nHello! 1+1 is 2."


def run_pieces(
    pieces: list[str], think: ThinkTags | None = TAGS, stops=()
) -> tuple[str, str, ReasoningOutput]:
    output = ReasoningOutput(think, stops)
    events = []
    for piece in pieces:
        events += output.feed(piece)
        if output.stopped:
            break
    events += output.flush()
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    answer = "".join(e.text for e in events if isinstance(e, TextDelta))
    first_answer = next((i for i, e in enumerate(events) if isinstance(e, TextDelta)), len(events))
    assert all(not isinstance(e, ReasoningDelta) for e in events[first_answer:]), "reasoning after answer"
    return reasoning, answer, output


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 8, 9, 13, 100])
def test_split_is_the_same_at_every_piece_size(size):
    pieces = [THOUGHT[i : i + size] for i in range(0, len(THOUGHT), size)]
    reasoning, answer, output = run_pieces(pieces)
    assert reasoning == "The user greets me. 1+1=2, so < and > are fine."
    assert answer == "Hello! 1+1 is 2."
    assert 0 < output.reasoning_tokens <= len(pieces)


def test_every_single_cut_point_splits_the_same():
    for cut in range(1, len(THOUGHT)):
        reasoning, answer, _ = run_pieces([THOUGHT[:cut], THOUGHT[cut:]])
        assert (reasoning, answer) == (
            "The user greets me. 1+1=2, so < and > are fine.",
            "Hello! 1+1 is 2.",
        ), cut


def test_reasoning_tokens_count_the_tagged_part():
    pieces = ["<think>", "a", " b", "</think>", "\n\n", "ans", "wer"]
    _, answer, output = run_pieces(pieces)
    assert answer == "answer"
    assert output.reasoning_tokens == 4  # the tags and the two thought tokens


def test_stop_strings_apply_to_the_answer_only():
    text = "<think>I must not say STOP early</think>Fine. STOP here"
    reasoning, answer, output = run_pieces(list(text), stops=("STOP",))
    assert reasoning == "I must not say STOP early"
    assert answer == "Fine. " and output.stopped


def test_starts_inside_when_the_prompt_opened_the_tag():
    reasoning, answer, _ = run_pieces(
        ["thinking", " more", "</th", "ink>", "done"], ThinkTags(starts_inside=True)
    )
    assert (reasoning, answer) == ("thinking more", "done")


def test_a_tag_after_the_start_is_answer_text():
    reasoning, answer, _ = run_pieces(["Hi", " <think>", "x</think>"])
    assert reasoning == "" and answer == "Hi <think>x</think>"


def test_unfinished_reasoning_is_flushed_as_reasoning():
    reasoning, answer, _ = run_pieces(["<think>", "cut by max_tok", "</thi"])
    assert reasoning == "cut by max_tok</thi" and answer == ""


def test_switched_off_thinking_drops_reasoning_but_counts_it():
    reasoning, answer, output = run_pieces(["<think>", "x", "</think>", "a"], ThinkTags(show=False))
    assert (reasoning, answer) == ("", "a") and output.reasoning_tokens == 3


def test_no_think_config_leaves_tags_in_the_text():
    reasoning, answer, output = run_pieces(["<think>", "x", "</think>"], None)
    assert (reasoning, answer, output.reasoning_tokens) == ("", "<think>x</think>", 0)


def test_event_tokens_add_up_to_what_was_fed():
    pieces = [THOUGHT[i : i + 3] for i in range(0, len(THOUGHT), 3)]
    output = ReasoningOutput(ThinkTags())
    events = [e for p in pieces for e in output.feed(p)] + output.flush()
    assert sum(e.tokens for e in events) == len(pieces)


def test_think_tags_for_prefills_the_open_tag():
    text, tags = think_tags_for("<|im_start|>assistant\n", "<think>", "</think>", True)
    assert text.endswith("<think>\n") and tags.starts_inside and tags.show
    text, tags = think_tags_for("x<think>\n", "<think>", "</think>", True)
    assert text == "x<think>\n" and tags.starts_inside
    text, tags = think_tags_for("x<think>\n\n</think>\n\n", "<think>", "</think>", False)
    assert not tags.starts_inside and not tags.show


# --- tool_stream ------------------------------------------------------------------------------
CALL_TEXT = (
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Bei{jing}\\"", '
    '"days": [1, 2], "opts": {"unit": "c"}}}\n</tool_call>\n<tool_call>\n'
    '{"name": "ping", "arguments": {}}\n</tool_call>'
)


@pytest.mark.parametrize("size", [1, 2, 5, 11, 1000])
def test_tool_call_streamer_concatenates_to_the_arguments(size):
    streamer = ToolCallStreamer()
    deltas = [d for i in range(0, len(CALL_TEXT), size) for d in streamer.feed(CALL_TEXT[i : i + size])]
    by_index: dict[int, str] = {}
    for delta in deltas:
        by_index[delta.index] = by_index.get(delta.index, "") + delta.arguments
    assert json.loads(by_index[0]) == {"city": 'Bei{jing}"', "days": [1, 2], "opts": {"unit": "c"}}
    assert by_index[1] == "{}"
    firsts = [d for d in deltas if d.name is not None]
    assert [(d.index, d.name) for d in firsts] == [(0, "get_weather"), (1, "ping")]
    ids = {d.index: {x.id for x in deltas if x.index == d.index} for d in firsts}
    assert all(len(v) == 1 for v in ids.values())  # one stable id per call
    final = [
        ToolCall("call_x", "get_weather", json.dumps(json.loads(by_index[0]))),
        ToolCall("call_y", "ping", "{}"),
    ]
    calls, streamed = streamer.reconcile(final)
    assert streamed == 2
    assert [c.arguments for c in calls] == [by_index[0], by_index[1]]
    assert [c.id for c in calls] == [firsts[0].id, firsts[1].id]


def test_tool_call_streamer_waits_for_the_value():
    streamer = ToolCallStreamer()
    assert streamer.feed('<tool_call>\n{"name": "f", "argu') == []
    first = streamer.feed('ments": ')
    assert first == []  # the value has not begun
    deltas = streamer.feed('{"a": 1}}')
    assert deltas[0].name == "f" and "".join(d.arguments for d in deltas) == '{"a": 1}'


# --- content parts --------------------------------------------------------------------------
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def test_parts_keep_urls_as_given_and_bare_base64_becomes_a_data_url():
    bare = base64.b64encode(PNG).decode()
    parsed = parse_parts(
        [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": "https://img.example/x.png?a=1&b=2"}},
            {"type": "image_url", "image_url": {"url": bare, "detail": "low"}},
        ],
        "messages[0].content",
    )
    assert parsed.text == "what is this?"
    assert parsed.parts[1]["image_url"]["url"] == "https://img.example/x.png?a=1&b=2"
    assert parsed.parts[2]["image_url"] == {"url": f"data:image/png;base64,{bare}", "detail": "low"}
    assert parse_parts([{"type": "text", "text": "a"}], "c").parts is None  # text only


@pytest.mark.parametrize(
    "url, message",
    [
        ("file:///etc/passwd", "only http(s)"),
        ("ftp://x/y.png", "only http(s)"),
        ("data:text/html;base64,PGI+", "only http(s)"),
        ("not base64 at all!", "base64"),
        (base64.b64encode(b"plain text, no image").decode(), "PNG, JPEG"),
    ],
)
def test_bad_image_urls_are_1214(url, message):
    with pytest.raises(InvalidField) as caught:
        image_url(url, "messages[0].content[1].image_url.url")
    assert "messages[0].content[1].image_url.url" in caught.value.message and message in caught.value.message


def test_oversized_base64_is_refused_before_decoding():
    big = "A" * ((MAX_IMAGE_BYTES + 3) // 3 * 4 + 4)
    with pytest.raises(InvalidField, match="larger than"):
        image_url(big, "f")


@pytest.mark.parametrize(
    "parts, field",
    [
        ([{"type": "video_url", "video_url": {"url": "https://x"}}], "messages[0].content[0].type"),
        (["just a string"], "messages[0].content[0]"),
        ([{"type": "text", "text": 5}], "messages[0].content[0].text"),
        ([{"type": "image_url", "image_url": "https://x/y.png"}], "messages[0].content[0].image_url"),
        ([], "messages[0].content"),
    ],
)
def test_malformed_parts_name_the_part(parts, field):
    with pytest.raises(InvalidField) as caught:
        parse_parts(parts, "messages[0].content")
    assert field in caught.value.message


# --- today's GLM names ----------------------------------------------------------------------------
def test_current_glm_aliases_put_flash_names_on_the_free_model():
    from openmaas.config import ModelConfig, Settings, current_glm_aliases

    aliases = current_glm_aliases("paid-1.5b", "free-0.5b")
    assert "glm-4.5-flash" in aliases["free-0.5b"] and "glm-z1-flash" in aliases["free-0.5b"]
    assert {"glm-4.5", "glm-4.5-air", "glm-4.6", "glm-4.7"} <= set(aliases["paid-1.5b"])
    assert all("flash" not in name for name in aliases["paid-1.5b"])
    models = [
        ModelConfig(name="paid-1.5b", engine="fake", aliases=["glm-4", *aliases["paid-1.5b"]]),
        ModelConfig(name="free-0.5b", engine="fake", aliases=["glm-4-flash", *aliases["free-0.5b"]]),
    ]
    Settings(environment="test", models=models)  # no name used twice
