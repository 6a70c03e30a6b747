"""The HTML view's renderer (glinker/render_html.py) and ``glinker.link … output_format=html``."""

from __future__ import annotations

import subprocess
import sys
from html.parser import HTMLParser

from glinker.render_html import label_colours, render_document, render_page

RECORD = {"id": "d<1>", "text": "<b>Arnold</b> met Zorblax in Graz & Linz.", "mentions": [
    {"start": 3, "end": 9, "text": "Arnold", "label": "person", "score": 0.9, "qid": "Q2685",
     "entity_label": "Arnold Schwarzenegger", "description": 'actor "Arnie" <governor>', "link_score": 0.8,
     "candidates": [{"qid": "Q2685", "label": "Arnold Schwarzenegger", "score": 0.8},
                    {"qid": "Q901541", "label": "Patrick Schwarzenegger", "score": 0.1}]},
    {"start": 5, "end": 9, "text": "nold", "label": "person", "score": 0.2, "qid": None, "link_score": 0.0},
    {"start": 18, "end": 25, "text": "Zorblax", "label": "person", "score": 0.7, "qid": None, "link_score": 0.1},
    {"start": 29, "end": 33, "text": "Graz", "label": "location", "score": 0.7, "qid": "Q13298",
     "entity_label": "Graz", "description": "city", "link_score": 0.9},
]}


class Marks(HTMLParser):
    """The tags and the text content a browser would see."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text = ""

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text += data


def test_document_markup_is_escaped_and_linked():
    html = render_document(RECORD)
    parsed = Marks()
    parsed.feed(html)
    assert not [t for t, _ in parsed.tags if t in ("b", "script")]  # the text's markup stays text
    assert parsed.text.startswith("d<1><b>Arnold") and "</b> met Zorblax" in parsed.text and "& Linz." in parsed.text
    marks = [a for t, a in parsed.tags if t == "mark"]
    assert [m["data-qid"] for m in marks] == ["Q2685", "", "Q13298"]  # the overlapping "nold" is left out
    assert marks[1]["class"] == "ent nil" and marks[0]["class"] == "ent"
    assert 'actor "Arnie" <governor>' in marks[0]["title"]
    assert "Q901541 Patrick Schwarzenegger 0.10" in marks[0]["title"]
    assert "NIL" in marks[1]["title"]
    hrefs = [a["href"] for t, a in parsed.tags if t == "a"]
    assert hrefs == ["https://www.wikidata.org/wiki/Q2685", "https://www.wikidata.org/wiki/Q13298"]
    assert label_colours("person") != label_colours("location") and label_colours("person") == label_colours("Person")


def test_page_is_self_contained():
    page = render_page([RECORD, {"id": "2", "text": "nothing here", "mentions": []}])
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<style>" in page and "src=" not in page and "<link" not in page
    assert page.count('class="glinker-doc"') == 2


def test_cli_writes_an_html_page(tmp_path):
    out = tmp_path / "linked.html"
    run = subprocess.run([sys.executable, "-m", "glinker.link", "text=<i>Arnold Schwarzenegger</i> starred in The "
                          "Terminator.", f"output={out}", "output_format=html", "candidates=2", "progress=false"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert 'href="https://www.wikidata.org/wiki/Q2685"' in page and "&lt;i&gt;" in page and "<i>" not in page
    assert "candidates: Q2685" in page


def test_cli_refuses_an_unknown_format(tmp_path):
    run = subprocess.run([sys.executable, "-m", "glinker.link", "text=x", f"output={tmp_path / 'x'}",
                          "output_format=pdf"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and "output_format='pdf' is not known: choose jsonl or html" in run.stderr
    assert "Traceback" not in run.stderr
