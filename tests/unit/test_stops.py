"""StopMatcher: stop strings never leak, even when split across pieces."""

from __future__ import annotations

import pytest

from openmaas.engines.stops import StopMatcher


def run(stops: tuple[str, ...], pieces: list[str]) -> tuple[str, bool, list[str]]:
    matcher = StopMatcher(stops)
    emitted = []
    for piece in pieces:
        emitted.append(matcher.feed(piece))
        if matcher.stopped:
            break
    if not matcher.stopped:
        emitted.append(matcher.flush())
    return "".join(emitted), matcher.stopped, emitted


def test_no_stops_passes_pieces_through_unchanged():
    matcher = StopMatcher(())
    assert [matcher.feed(p) for p in ["a", "b", "<"]] == ["a", "b", "<"]
    assert not matcher.stopped and matcher.flush() == ""


def test_stop_inside_one_piece_truncates_before_it():
    text, stopped, _ = run(("END",), ["alpha ", "beta END gamma"])
    assert (text, stopped) == ("alpha beta ", True)


@pytest.mark.parametrize(
    "pieces",
    [
        ["hello <", "|im_", "end|> bye"],
        ["hello <|", "i", "m", "_", "e", "n", "d", "|", ">"],
        ["hello", " <|im_end", "|>"],
        list("hello <|im_end|> after"),
    ],
)
def test_stop_split_across_pieces_never_leaks(pieces):
    text, stopped, emitted = run(("<|im_end|>",), pieces)
    assert stopped and text == "hello "
    assert all("<" not in part for part in emitted)


def test_held_prefix_is_released_when_it_turns_out_not_to_be_a_stop():
    text, stopped, emitted = run(("STOP",), ["a ST", "ART b"])
    assert not stopped and text == "a START b"
    assert emitted[0] == "a "  # "ST" was held back until the next piece decided it


def test_partial_prefix_at_the_end_is_flushed():
    text, stopped, _ = run(("</answer>",), ["done </ans"])
    assert not stopped and text == "done </ans"


def test_earliest_of_several_stops_wins():
    text, stopped, _ = run(("beta", "alp"), ["x alpha beta"])
    assert (text, stopped) == ("x ", True)


def test_overlapping_candidates_hold_the_longest_prefix():
    matcher = StopMatcher(("abcd", "bcx"))
    assert matcher.feed("zab") == "z"
    assert matcher.feed("c") == ""  # "abc" could still become "abcd"; "bc" could become "bcx"
    assert matcher.feed("x") == "a"  # "abcx" holds "bcx": everything before it goes out
    assert matcher.stopped


def test_empty_stop_strings_are_ignored():
    text, stopped, _ = run(("",), ["anything at all"])
    assert (text, stopped) == ("anything at all", False)


def test_multibyte_stop_split_across_pieces():
    text, stopped, _ = run(("。结束",), ["你好", "。", "结", "束了"])
    assert (text, stopped) == ("你好", True)
