"""Entity-linking evaluation: ELEVANT JSONL and NIF/Turtle readers, ED and end-to-end scores.

* ``ed`` (disambiguation): gold mention spans are given to the pipeline (the
  detector only encodes them); accuracy = best-ranked candidate correct / gold
  (the gold entity is known to be in the KB, so NIL is not an option), plus InKB
  micro P/R/F1 where NIL answers count as no prediction, and candidate recall@k.
* ``e2e``: mentions are detected by the pipeline; strong matching (same span,
  same QID), micro P/R/F1 over linked predictions.

In-KB setting (default): gold mentions whose QID is not in the KB, and NIL gold
(``Unknown…``, non-QIDs), are left out and counted by reason; predictions on
exactly those spans are ignored rather than counted as false positives. With
``in_kb=False`` they are NIL gold instead: a link predicted on such a span is a
false positive. Either way, end to end reports how the detected mentions of
out-of-KB gold were decided (``nil``: left NIL or linked, NIL precision / recall).
ELEVANT ``optional`` labels and nested child labels (``parent`` set) neither
count as misses when absent nor as false positives when predicted.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glinker.errors import InputError
from glinker.types import Document

_QID = re.compile(r"^Q\d+$")


@dataclass(frozen=True)
class GoldMention:
    """A gold annotation: character span, QID (``None`` for NIL), optional flag."""

    start: int
    end: int
    qid: str | None
    optional: bool = False


@dataclass
class GoldDocument:
    """A benchmark document with its gold mentions."""

    id: str
    text: str
    mentions: list[GoldMention] = field(default_factory=list)
    # ELEVANT's evaluation_span: only this character range [start, end) is annotated; gold and
    # predictions outside it are not scored (None: the whole text)
    evaluation_span: tuple[int, int] | None = None

    def in_evaluation_span(self, start: int, end: int) -> bool:
        """True when ``[start, end)`` lies inside the annotated range."""
        span = self.evaluation_span
        return span is None or (span[0] <= start and end <= span[1])


def _qid(raw: str | None) -> str | None:
    if not raw:
        return None
    raw = raw.rsplit("/", 1)[-1]
    return raw if _QID.match(raw) else None


def load_elevant(path: str | Path) -> list[GoldDocument]:
    """Read an ELEVANT ``*.benchmark.jsonl`` file."""
    docs = []
    with open(path, "rb") as fh:  # bytes: invalid UTF-8 is reported with its line like any other error
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                    raise ValueError("expected an object with a 'text' string")
                mentions = [
                    GoldMention(*_span(lab["span"], obj["text"]), _qid(lab.get("entity_id")),
                                optional=bool(lab.get("optional")) or lab.get("parent") is not None)
                    for lab in obj.get("labels", [])
                ]
                span = obj.get("evaluation_span")
                span = _span(span, obj["text"]) if span else None
                docs.append(GoldDocument(str(obj.get("id", n)), obj["text"], mentions, span))
            except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
                raise InputError(f"{path} line {n}: not an ELEVANT benchmark line ({exc})") from None
    return docs


def _span(pair: Any, text: str) -> tuple[int, int]:
    """``(start, end)`` from a two-item pair, checked to lie within ``text``; ValueError if not."""
    start, end = (int(x) for x in pair)
    if not 0 <= start <= end <= len(text):
        raise ValueError(f"span [{start}, {end}] is not within the text's {len(text)} characters")
    return start, end


def _line_of(source: list[str], uri: str) -> str:
    """' line N' of the first line naming ``uri`` (rdflib keeps no line numbers), or '' if none does."""
    for needle in (f"<{uri}>", uri.rsplit("#", 1)[-1]):
        for n, line in enumerate(source, 1):
            if len(needle) >= 4 and needle in line:
                return f" line {n}"
    return ""


def load_nif(path: str | Path) -> list[GoldDocument]:
    """Read a NIF/Turtle corpus (GERBIL style: ``nif:isString``, begin/end index, ``itsrdf:taIdentRef``)."""
    try:
        import rdflib
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise InputError("reading NIF needs rdflib: pip install rdflib") from exc
    nif = rdflib.Namespace("http://persistence.uni-leipzig.org/nlp2rdf/ontologies/nif-core#")
    its = rdflib.Namespace("http://www.w3.org/2005/11/its/rdf#")
    graph = rdflib.Graph()
    try:
        graph.parse(str(path), format="turtle")
    except Exception as exc:
        raise InputError(f"{path}: cannot parse Turtle: {exc}") from None
    docs: dict[Any, GoldDocument] = {}
    for ctx, text in graph.subject_objects(nif.isString):
        docs[ctx] = GoldDocument(str(ctx), str(text))
    for phrase, ctx in graph.subject_objects(nif.referenceContext):
        if ctx not in docs:
            continue
        begin = graph.value(phrase, nif.beginIndex)
        end = graph.value(phrase, nif.endIndex)
        if begin is None or end is None:
            continue
        try:
            span = _span((str(begin), str(end)), docs[ctx].text)
        except ValueError as exc:
            source = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
            raise InputError(f"{path}{_line_of(source, str(phrase))}: annotation <{phrase}>: begin/end index "
                             f"{str(begin)!r}, {str(end)!r}: {exc}; fix or remove the annotation") from None
        refs = [str(r) for r in graph.objects(phrase, its.taIdentRef)]
        qid = next((q for q in (_qid(r) for r in refs) if q), None)
        docs[ctx].mentions.append(GoldMention(*span, qid))
    out = sorted(docs.values(), key=lambda d: _natural_key(d.id))
    for d in out:
        d.mentions.sort(key=lambda m: (m.start, m.end))
    return out


def _natural_key(s: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def load_benchmark(path: str | Path) -> list[GoldDocument]:
    """Read a benchmark by extension: ``.jsonl`` (ELEVANT) or ``.ttl``/``.nif`` (NIF/Turtle)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"benchmark not found: {p}")
    if p.suffix in (".ttl", ".nif"):
        return load_nif(p)
    return load_elevant(p)


@dataclass
class Scored:
    """Evaluation counters and per-document errors."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    correct: int = 0
    total: int = 0
    nil_predicted: int = 0
    # end to end, detected mentions on gold spans: out-of-KB gold left NIL / linked; in-KB gold left NIL
    nil_right: int = 0
    nil_linked: int = 0
    nil_wrong: int = 0
    left_out: Counter = field(default_factory=Counter)
    recall_at: Counter = field(default_factory=Counter)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def metrics(self) -> dict[str, Any]:
        """P/R/F1 (and accuracy in ED mode) as a plain dict, in percent."""
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        out: dict[str, Any] = {"precision": round(100 * p, 2), "recall": round(100 * r, 2), "f1": round(100 * f, 2),
                               "tp": self.tp, "fp": self.fp, "fn": self.fn, "left_out": dict(self.left_out)}
        if self.nil_right + self.nil_linked + self.nil_wrong:
            out["nil"] = {"out_of_kb_detected": self.nil_right + self.nil_linked, "left_nil": self.nil_right,
                          "linked": self.nil_linked, "in_kb_left_nil": self.nil_wrong,
                          "recall": round(100 * self.nil_right / max(1, self.nil_right + self.nil_linked), 2),
                          "precision": round(100 * self.nil_right / max(1, self.nil_right + self.nil_wrong), 2)}
        if self.total:
            out["accuracy"] = round(100 * self.correct / self.total, 2)
            out["scored_mentions"] = self.total
            out["nil_predicted"] = self.nil_predicted
            out["candidate_recall"] = {k: round(100 * v / self.total, 2) for k, v in self.recall_at.items()}
        return out


def _in_scope(m: GoldMention, kb_has, in_kb: bool) -> str | None:
    """Why a gold mention is left out, or None when it is scored."""
    if m.qid is None:
        return "nil_gold"
    if in_kb and not kb_has(m.qid):
        return "not_in_kb"
    return None


RECALL_KS = (1, 5, 10, 50)


def ed_scope(doc: GoldDocument, kb_has, in_kb: bool = True) -> tuple[list[GoldMention], list[str]]:
    """The gold mentions of ``doc`` that ED scores, and the reasons of those left out."""
    scored, skipped = [], []
    for m in doc.mentions:
        reason = ("outside_evaluation_span" if not doc.in_evaluation_span(m.start, m.end) else None) \
            or _in_scope(m, kb_has, in_kb) or ("optional" if m.optional else None)
        if reason:
            skipped.append(reason)
        else:
            scored.append(m)
    return scored, skipped


def tally_ed(score: Scored, doc_id: str, text: str, gold: GoldMention, ranked: Sequence[str],
             candidates: Sequence[str], linked: str | None, errors: bool = False) -> None:
    """Count one gold mention's ED outcome: ``ranked`` best first, ``linked`` the NIL-aware answer."""
    score.total += 1
    for k in RECALL_KS:
        score.recall_at[f"@{k}"] += gold.qid in ranked[:k]
    score.recall_at["@all"] += gold.qid in set(candidates)
    # Accuracy is in-KB disambiguation: the gold entity is known to be in the KB, so the
    # best-ranked candidate is the answer. P/R/F1 honour the NIL decision.
    score.correct += (ranked[0] if ranked else None) == gold.qid
    if linked is None:
        score.nil_predicted += 1
        score.fn += 1
    elif linked == gold.qid:
        score.tp += 1
    else:
        score.fp += 1
        score.fn += 1
    if errors and linked != gold.qid:
        score.errors.append({"doc": doc_id, "span": [gold.start, gold.end], "text": text[gold.start:gold.end],
                             "gold": gold.qid, "predicted": linked, "gold_in_candidates": gold.qid in ranked,
                             "candidates": list(ranked[:5])})


def evaluate_ed(pipeline, docs: Sequence[GoldDocument], in_kb: bool = True, errors: bool = False) -> Scored:
    """Disambiguation with gold spans: ``pipeline.link_spans`` (:meth:`glinker.pipeline.Pipeline.link_spans`)
    links each document's scored gold spans; the detector encodes them, retrieval and reranking decide."""
    kb_has = kb_membership(pipeline.kb, docs)
    score = Scored()
    for doc in docs:
        scored, skipped = ed_scope(doc, kb_has, in_kb)
        score.left_out.update(skipped)
        if not scored:
            continue
        # one document per call: a document's scores do not depend on the others batched with it
        (links,) = pipeline.link_spans([Document(doc.id, doc.text)], [[(m.start, m.end) for m in scored]])
        for gold, link in zip(scored, links):
            cands, dec = link.candidates, link.decision
            ranked = [c.qid for c, _ in dec.ranked] or [c.qid for c in cands]
            tally_ed(score, doc.id, doc.text, gold, ranked, [c.qid for c in cands], dec.qid, errors)
    return score


def evaluate_e2e(pipeline, docs: Sequence[GoldDocument], in_kb: bool = True, errors: bool = False) -> Scored:
    """End to end: detected and linked mentions against gold, strong matching."""
    batch = [Document(d.id, d.text) for d in docs]
    for s in range(0, len(batch), pipeline.batch_size):
        pipeline.link_batch(batch[s : s + pipeline.batch_size])
    predictions = [[(m.start, m.end, m.qid) for m in d.mentions] for d in batch]
    return score_e2e(docs, predictions, kb_membership(pipeline.kb, docs), in_kb, errors)


def score_e2e(docs: Sequence[GoldDocument], predictions: Sequence[Sequence[tuple[int, int, str | None]]], kb_has,
              in_kb: bool = True, errors: bool = False) -> Scored:
    """Strong-match micro P/R/F1 of any system's output: ``predictions[i]`` is (start, end, qid) for ``docs[i]``.

    ``kb_has(qid)`` tells KB membership (see :func:`kb_membership`); NIL predictions (qid ``None``) are ignored.
    """
    score = Scored()
    for gold_doc, pred in zip(docs, predictions):
        gold_scored, ignore = e2e_gold(gold_doc, kb_has, in_kb, score.left_out)
        outside = {(m.start, m.end) for m in gold_doc.mentions if _in_scope(m, kb_has, True) is not None
                   and gold_doc.in_evaluation_span(m.start, m.end)}  # NIL or not-in-KB gold spans
        for start, end, qid in pred:
            if (start, end) in outside:
                score.nil_right += qid is None
                score.nil_linked += qid is not None
            elif qid is None and (start, end) in gold_scored:
                score.nil_wrong += 1
        # ELEVANT scores only the annotated range: a prediction outside it is neither right nor wrong
        preds = {(start, end): qid for start, end, qid in pred
                 if qid is not None and gold_doc.in_evaluation_span(start, end)}
        for span, qid in preds.items():
            if gold_scored.get(span) == qid:
                score.tp += 1
            elif span in ignore and span not in gold_scored:
                continue
            else:
                score.fp += 1
                if errors:
                    score.errors.append({"doc": gold_doc.id, "span": list(span), "text": gold_doc.text[span[0]:span[1]],
                                         "kind": "false_positive", "predicted": qid, "gold": gold_scored.get(span)})
        for span, qid in gold_scored.items():
            if preds.get(span) != qid:
                score.fn += 1
                if errors:
                    score.errors.append({"doc": gold_doc.id, "span": list(span), "text": gold_doc.text[span[0]:span[1]],
                                         "kind": "missed", "gold": qid, "predicted": preds.get(span)})
    return score


def e2e_gold(doc: GoldDocument, kb_has, in_kb: bool = True, left_out: Counter | None = None
             ) -> tuple[dict[tuple[int, int], str], set[tuple[int, int]]]:
    """The gold a prediction on ``doc`` is scored against: ``{span: qid}`` of the scored mentions, and
    the spans left out (outside the evaluation span, not in the KB, NIL, optional), where a
    prediction is neither right nor wrong; reasons are counted into ``left_out``."""
    gold_scored: dict[tuple[int, int], str] = {}
    ignore: set[tuple[int, int]] = set()
    for m in doc.mentions:
        reason = ("outside_evaluation_span" if not doc.in_evaluation_span(m.start, m.end) else None) \
            or _in_scope(m, kb_has, in_kb) or ("optional" if m.optional else None)
        if not reason and not in_kb and not kb_has(m.qid):
            reason = "nil_gold_not_in_kb"  # NIL gold: a link predicted here is wrong
        if reason:
            if left_out is not None:
                left_out[reason] += 1
            if reason not in ("nil_gold", "nil_gold_not_in_kb") or in_kb:
                ignore.add((m.start, m.end))
        else:
            gold_scored[(m.start, m.end)] = m.qid  # type: ignore[assignment]
    return gold_scored, ignore


def kb_membership(kb, docs: Sequence[GoldDocument]):
    """``qid -> bool``: whether the KB holds each gold QID of ``docs`` (one batched lookup)."""
    qids = {m.qid for d in docs for m in d.mentions if m.qid}
    present = set(kb.store.get_many(qids))
    return present.__contains__
