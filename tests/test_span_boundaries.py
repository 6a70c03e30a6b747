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
