"""Shared context windows: each mention's window holds it, no word is cut, a cell's mentions share one."""

from __future__ import annotations

import random

import pytest

from glinker.rerank.features import shared_window, shared_window_bounds
from glinker.rerank.ranker import FeatureReranker

WORDS = ["Boston", "beat", "the", "Celtics", "in", "a", "long", "game", "played", "downtown", "yesterday", "."]


def _text(n_words: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(n_words))


@pytest.mark.parametrize("half", [20, 50, 200])
def test_every_window_contains_its_mention_and_cuts_no_word(half):
    text = _text(400, seed=half)
    starts = [i for i in range(len(text)) if i == 0 or text[i - 1] == " "]
    for start in starts:
        end = text.index(" ", start) if " " in text[start:] else len(text)
        offset, right = shared_window_bounds(text, start, end, half)
        assert shared_window(text, start, end, half) == text[offset:right]
        assert offset <= start and right >= end, (start, end)
        assert offset == 0 or text[offset].isspace() or text[offset - 1].isspace()  # no word cut on the left
        assert right == len(text) or text[right].isspace()  # nor on the right
        # at least half/2 characters of context on each side unless the text ends first
        assert start - offset >= min(start, half // 2) - 1
        assert right - end >= min(len(text) - end, half // 2) - 1 or right - offset >= 2 * half


def test_mentions_of_one_cell_share_a_window_and_long_texts_are_encoded_about_once_and_a_half():
    half = 50
    text = _text(600, seed=1)
    starts = [i for i in range(len(text)) if i == 0 or text[i - 1] == " "]
    windows = {shared_window(text, s, s + 1, half) for s in starts}
    cells = {s // (2 * half) for s in starts}
    assert len(windows) == len(cells)
    total = sum(len(w) for w in windows)
    assert total < 1.7 * len(text)
    centred = sum(len(text[max(0, s - half): s + 1 + half]) for s in starts)
    assert total * 4 < centred


def test_short_text_is_one_window():
    text = "Boston beat Boston in Boston."
    assert {shared_window(text, s, s + 6, 200) for s in (0, 12, 22)} == {text}


def test_unknown_context_window_mode_is_refused():
    with pytest.raises(ValueError, match="context_windows"):
        FeatureReranker(kb=None, context_windows="sentence")
