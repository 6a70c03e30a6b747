"""Word splitting, windowing of long documents (never truncated) and greedy decoding."""

from __future__ import annotations

import pytest

from glinker.model.decode import ScoredSpan, greedy_decode
from glinker.model.inputs import collate_windows, make_windows, split_words, word_token_ids


def test_split_words_offsets():
    text = "Jean-Luc Picard's ship, USS Enterprise_D (NCC-1701)!"
    w = split_words(text)
    assert w.tokens[:3] == ["Jean-Luc", "Picard", "'"]
    for tok, s, e in zip(w.tokens, w.starts, w.ends):
        assert text[s:e] == tok
    assert "Enterprise_D" in w.tokens and "NCC-1701" in w.tokens


@pytest.mark.parametrize("max_words,max_tokens,overlap", [(50, 512, 24), (384, 64, 24), (30, 40, 10)])
def test_windows_cover_the_document_within_budgets(tiny_detector, max_words, max_tokens, overlap):
    tok = tiny_detector.bundle.tokenizer
    words = split_words(" ".join(f"Word{i} antidisestablishmentarianism ," for i in range(300))).tokens
    (ids,) = word_token_ids(tok, [words])
    wins = make_windows(0, ids, tok, max_words=max_words, max_tokens=max_tokens, overlap=overlap)
    assert wins[0].core_start == 0 and wins[-1].core_end == len(words)
    for a, b in zip(wins, wins[1:]):
        assert a.core_end == b.core_start  # cores partition the document
        assert b.start < a.end  # windows overlap
    for w in wins:
        assert w.end - w.start <= max_words and len(w.token_ids) <= max_tokens
        assert w.start <= w.core_start < w.core_end <= w.end
    batch = collate_windows(wins[:2], pad_id=0)
    assert int(batch.words_mask[0].max()) == wins[0].end - wins[0].start


def test_long_documents_are_not_truncated(tiny_detector):
    sentence = "Arnold Schwarzenegger visited Graz in Austria with Maria Shriver . "
    text = sentence * 120  # ~1,300 words, several windows
    (mentions,) = tiny_detector.detect([text])
    assert mentions, "the tiny model proposes spans at threshold 0.2"
    assert max(m.end for m in mentions) > len(text) * 0.9
    for m in mentions:
        assert text[m.start:m.end] == m.text
    for a, b in zip(mentions, mentions[1:]):
        assert a.end <= b.start  # flat NER after merging windows


def test_single_window_scores_match_span_logits(tiny_detector):
    import torch

    text = "Boston is a city in Massachusetts ."
    labels = ["person", "location", "organization"]
    words, logits = tiny_detector.span_logits(text, labels)
    (mentions,) = tiny_detector.detect([text], labels)
    w = split_words(text)
    for m in mentions:
        i = w.starts.index(m.start)
        j = w.ends.index(m.end)
        expected = torch.sigmoid(logits[i, j - i]).max().item()
        assert m.score == pytest.approx(expected, abs=1e-5)


def test_greedy_decode_flat_and_nested():
    spans = [ScoredSpan(0, 3, 0, 0.9, 0), ScoredSpan(1, 1, 1, 0.8, 1), ScoredSpan(2, 5, 0, 0.7, 2),
             ScoredSpan(0, 3, 1, 0.6, 3), ScoredSpan(6, 6, 1, 0.5, 4)]
    assert [(s.start, s.end, s.label) for s in greedy_decode(spans, flat=True)] == [(0, 3, 0), (6, 6, 1)]
    # nested: (1,1) sits inside (0,3) and stays; (2,5) overlaps partially; same span twice is one span
    assert [(s.start, s.end) for s in greedy_decode(spans, flat=False)] == [(0, 3), (1, 1), (6, 6)]


def test_encode_spans_gives_vectors_for_gold_spans(tiny_detector):
    text = "Maria Shriver met Arnold Schwarzenegger in Hyannis Port ."
    spans = [(0, 13), (18, 39), (43, 55), (5, 9)]  # the last is inside a word: widened to whole words
    (ms,) = tiny_detector.encode_spans([text], [spans])
    assert [(m.start, m.end) for m in ms] == spans
    assert all(m.vector is not None and m.vector.shape == (tiny_detector.dim,) for m in ms)
