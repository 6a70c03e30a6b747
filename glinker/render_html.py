"""HTML view of linked documents: each mention highlighted, coloured by its type, its QID a Wikidata link.

One renderer for both places that show links: ``python -m glinker.link … output_format=html`` writes a
self-contained page (:class:`HtmlWriter`), and the server's page (``GET /``) shows the fragments its
``POST /render`` returns. Input is the CLI's JSONL record (``Document.to_dict``); every piece of
text is escaped, so a document containing markup is shown, never run.

Hovering a mention shows its entity's description, the link score and, when the record has them
(``candidates=K``), the top candidates. NIL mentions (no QID) have a dashed outline and class ``nil``.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterable
from html import escape

from glinker.io import JsonlWriter

WIKIDATA_URL = "https://www.wikidata.org/wiki/{}"

STYLE = """
.glinker-doc{font:16px/2.1 system-ui,sans-serif;white-space:pre-wrap;margin:0 0 1.2em;padding:.8em 1em;
  border:1px solid #ddd;border-radius:6px;background:#fff}
.glinker-doc .doc-id{font-size:12px;color:#777;display:block;line-height:1.4}
mark.ent{background:var(--c);border:1px solid var(--b);border-radius:4px;padding:1px 3px;color:inherit}
mark.ent.nil{background:transparent;border:2px dashed var(--b)}
mark.ent a.qid{font-size:11px;margin-left:4px;color:#0645ad;text-decoration:none;font-family:monospace}
mark.ent a.qid:hover{text-decoration:underline}
mark.ent .lab{font-size:10px;margin-left:3px;text-transform:uppercase;color:#444;letter-spacing:.03em}
.glinker-legend{font:12px system-ui,sans-serif;margin:.2em 0 .6em}
.glinker-legend span{border:1px solid var(--b);background:var(--c);border-radius:3px;padding:0 4px;margin-right:4px}
"""


# hues far apart for the default labels; any other label gets a stable hue of its own
_HUES = {"person": 210, "organization": 30, "location": 130, "film": 285, "country": 170, "city": 90, "award": 50,
         "event": 355, "work of art": 320, "nationality": 245}


def label_colours(label: str) -> tuple[str, str]:
    """(fill, border) colours of a type label, the same on every page (grey for miscellaneous)."""
    key = label.lower()
    if key in ("miscellaneous", "misc"):
        return "hsl(0 0% 90%)", "hsl(0 0% 45%)"
    hue = _HUES.get(key, zlib.crc32(key.encode("utf-8")) % 360)
    return f"hsl({hue} 75% 88%)", f"hsl({hue} 55% 45%)"


def _style(label: str) -> str:
    fill, border = label_colours(label)
    return f"--c:{fill};--b:{border}"


def _tooltip(m: dict) -> str:
    """Plain-text hover of a mention: entity, description, scores, top candidates."""
    lines = []
    if m.get("qid"):
        lines.append(f"{m.get('entity_label') or m['qid']} ({m['qid']})")
        if m.get("description"):
            lines.append(str(m["description"]))
    else:
        lines.append("NIL: no entity of the knowledge base")
    lines.append(f"type {m.get('label')}, detection {float(m.get('score', 0)):.2f}, "
                 f"link {float(m.get('link_score', 0)):.2f}")
    cands = m.get("candidates") or []
    if cands:
        lines.append("candidates: " + "; ".join(f"{c.get('qid')} {c.get('label') or ''} {float(c.get('score', 0)):.2f}"
                                              .replace("  ", " ") for c in cands))
    return "\n".join(lines)


def render_mention(text: str, m: dict) -> str:
    """One mention as a ``<mark>``: its text, its QID as a Wikidata link (none for NIL), its type."""
    label = str(m.get("label") or "")
    qid = m.get("qid")
    cls = "ent" if qid else "ent nil"
    link = (f'<a class="qid" href="{escape(WIKIDATA_URL.format(qid))}" target="_blank" rel="noopener">'
            f"{escape(qid)}</a>" if qid else "")
    return (f'<mark class="{cls}" style="{_style(label)}" data-label="{escape(label)}" '
            f'data-qid="{escape(qid or "")}" title="{escape(_tooltip(m))}">{escape(text)}{link}'
            f'<span class="lab">{escape(label)}</span></mark>')


def render_document(record: dict, show_id: bool = True) -> str:
    """A linked document (the CLI's JSONL object) as an HTML fragment, headed by its id if ``show_id``;
    overlapping mentions after the first are left unmarked."""
    text = str(record.get("text", ""))
    parts: list[str] = []
    cursor = 0
    for m in sorted(record.get("mentions", []), key=lambda m: (m["start"], -m["end"])):
        start, end = int(m["start"]), int(m["end"])
        if start < cursor or not 0 <= start < end <= len(text):
            continue
        parts.append(escape(text[cursor:start]))
        parts.append(render_mention(text[start:end], m))
        cursor = end
    parts.append(escape(text[cursor:]))
    doc_id = record.get("id")
    head = f'<span class="doc-id">{escape(str(doc_id))}</span>' if show_id and doc_id is not None else ""
    return (f'<article class="glinker-doc" data-id="{escape(str(doc_id or ""))}">{head}'
            f'<div class="doc-text">{"".join(parts)}</div></article>')


def render_legend(records: Iterable[dict]) -> str:
    """The type labels the records use, each in its colour."""
    labels = sorted({str(m.get("label")) for r in records for m in r.get("mentions", [])})
    return '<div class="glinker-legend">' + "".join(
        f'<span style="{_style(lab)}">{escape(lab)}</span>' for lab in labels) + "</div>"


def page_head(title: str = "glinker") -> str:
    """The start of a self-contained page (styles inline, no external resources)."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>body{{max-width:60em;margin:2em auto;padding:0 1em;background:#fafafa}}{STYLE}</style>"
            f"</head><body>\n")


PAGE_FOOT = "</body></html>\n"


def render_page(records: list[dict], title: str = "glinker") -> str:
    """A whole self-contained page of linked documents."""
    return page_head(title) + render_legend(records) + "\n".join(map(render_document, records)) + PAGE_FOOT


class HtmlWriter(JsonlWriter):
    """Writes linked documents as one self-contained HTML page, with :class:`~glinker.io.JsonlWriter`'s
    targets and atomic replacement (``glinker.link … output_format=html``)."""

    def __init__(self, target: str | os.PathLike[str], title: str = "glinker") -> None:
        super().__init__(target)
        self._fh.write(page_head(title).encode("utf-8"))

    def write(self, obj: dict) -> None:
        """Append one document."""
        self._fh.write(render_document(obj).encode("utf-8") + b"\n")
        self.lines += 1
        self._fh.flush()

    def close(self, success: bool = True) -> str | None:
        """End the page and publish it (see :meth:`JsonlWriter.close`)."""
        if success and not self._fh.closed:
            self._fh.write(PAGE_FOOT.encode("utf-8"))
        return super().close(success)
