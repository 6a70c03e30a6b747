"""The optional span-boundary rule: no mention across brackets, quotes, line breaks or sentence ends."""

from __future__ import annotations

import pytest

from glinker.model.decode import SpanBoundaries
from glinker.model.inputs import split_words

TEXT = ("Mark Philippoussis ( Australia ) beat U.S. Open champ Britney Spears. Finn went to St. Louis.\n"
        "New York * Germany * said \"Hello\" ; done")


def _words(text: str, phrase: str) -> tuple[int, int]:
    w = split_words(text)
    start = text.index(phrase)
    return w.starts.index(start), w.ends.index(start + len(phrase))


@pytest.mark.parametrize(("phrase", "allowed"), [
    ("Mark Philippoussis", True),
    ("Australia", True),
    ("U.S. Open", True),          # abbreviation dots are not sentence ends
    ("Britney Spears.", True),    # ending on the full stop is fine
    ("St. Louis", True),
    ("New York", True),
    ("Mark Philippoussis ( Australia", False),
    ("( Australia )", False),
    ("Spears. Finn", False),      # sentence end inside the span
    ("Louis.\nNew", False),       # line break
    ("York * Germany", False),    # mask / separator token
    ("said \"Hello", False),
])
def test_span_boundaries(phrase, allowed):
    w = split_words(TEXT)
    rule = SpanBoundaries(TEXT, w.tokens, w.starts, w.ends)
    assert rule.allows(*_words(TEXT, phrase)) is allowed


def test_detector_option_drops_crossing_spans_and_keeps_the_rest(tiny_detector):
    text = "Anna Berg ( Oslo ) met Carl Lund. Then Dana Fox spoke.\nEmil Moe left"
    tiny_detector.threshold, old = 0.01, tiny_detector.threshold  # (almost) every span is a candidate
    try:
        tiny_detector.flat_ner = False
        tiny_detector.span_boundaries = False
        (plain,) = tiny_detector.detect([text], ["person"])
        tiny_detector.span_boundaries = True
        (bounded,) = tiny_detector.detect([text], ["person"])
    finally:
        tiny_detector.threshold, tiny_detector.flat_ner, tiny_detector.span_boundaries = old, True, False
    w = split_words(text)
    rule = SpanBoundaries(text, w.tokens, w.starts, w.ends)

    def ok(m):
        return rule.allows(w.starts.index(m.start), w.ends.index(m.end))

    assert any(not ok(m) for m in plain)  # the random model proposes crossing spans
    assert bounded and all(ok(m) for m in bounded)


def test_boundary_grid_is_the_rule_over_every_span():
    import numpy as np

    w = split_words(TEXT)
    rule = SpanBoundaries(TEXT, w.tokens, w.starts, w.ends)
    n = len(w.tokens)
    for first, count in [(0, n), (n - 4, 8), (5, 3)]:
        want = [[first + i + k < n and rule.allows(first + i, first + i + k) for k in range(12)]
                for i in range(count)]
        assert (rule.allows_grid(first, count, 12) == np.array(want)).all()
    assert not rule.allows_grid(0, n, 12).all() and rule.allows_grid(0, n, 12).any()


def test_span_hidden_rows_are_those_of_the_full_span_tensor(tiny_detector):
    import torch

    model = tiny_detector.model
    words = torch.randn(2, 7, tiny_detector.dim)
    owned = torch.rand(2, 7, model.max_width) < 0.5
    owned &= (torch.arange(7).view(1, -1, 1) + torch.arange(model.max_width).view(1, 1, -1)) < 7
    at = torch.nonzero(owned)
    with torch.inference_mode():
        assert torch.equal(model.span_hidden_at(words, at), model.span_hidden(words)[owned])
