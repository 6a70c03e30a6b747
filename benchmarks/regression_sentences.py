"""Regression sentences: hand-written user sentences with gold Wikidata ids, linked over an arnold sub-KB.

``tests/data/regression_sentences.jsonl`` holds short sentences, each with gold mentions (surface,
character offsets, gold QID or ``null`` for an entity the arnold slice lacks, the entity's label for a
reader to check). They cover the error classes of everyday text: a place with a qualifier ("Paris,
Texas"), a company and a place sharing a name (Amazon), relatives sharing a surname (George W. and
George H. W. Bush), exact names of organisations and states (European Union, Washington State) and
people the slice lacks whose surname it knows (Brigitte Macron).

The KB is built from the part of the arnold slice that matters to the sentences: every entity with a
label or alias equal (after alias normalisation) to a gold surface or to any word n-gram of the
sentences up to 4 words (so homonyms and distractors are there), plus the gold entities and the P31
classes of all these (the type feature reads class names from the KB); with the
slice's popularity table and the default model. Each sentence is linked twice with the configuration
``glinker.load`` gives: on its gold spans (``Pipeline.link_spans``: disambiguation only) and end to end
(``Pipeline.link_batch``, what ``Pipeline.link_text`` runs for one text, over all the sentences at once).

    python benchmarks/regression_sentences.py [kb_dir=DIR | kb=DIR] [all=true]

prints the per-class table and every wrong mention with its top candidates (``all=true``: every mention);
``kb_dir`` keeps the built sub-KB there (reused when it exists), else it goes to a temporary folder;
``kb=DIR`` links over that KB as it is instead (``kb=kb/arnold``: the whole slice, every homonym and neighbour
of the sub-KB's entities there too).
"""

from __future__ import annotations

import gzip
import json
import re
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SENTENCES = ROOT / "tests" / "data" / "regression_sentences.jsonl"
ARNOLD = Path("wikidata") / "arnold"
DUMP_NAME = "arnold-dump.json.gz"
POPULARITY_NAME = "arnold-popularity.tsv.gz"
MAX_NGRAM = 4
CLASSES = ("qualifier", "org_vs_place", "relatives", "exact_names", "nil_namesake")
HUMAN = "Q5"

_TOKEN = re.compile(r"\w+(?:[.'\u2019-]\w+)*\.?")


def load_sentences(path: Path = SENTENCES) -> list[dict]:
    """The sentences, each ``{"id", "class", "text", "mentions": [{"surface", "start", "end", "qid", ...}]}``;
    checks that every gold span spells its surface."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for row in rows:
        for m in row["mentions"]:
            got = row["text"][m["start"] : m["end"]]
            if got != m["surface"]:
                raise ValueError(f"{path} {row['id']}: span [{m['start']}, {m['end']}) is {got!r}, "
                                 f"not {m['surface']!r}")
    return rows


def name_keys(rows: Iterable[dict], max_n: int = MAX_NGRAM) -> set[str]:
    """Normalised gold surfaces and word n-grams (whitespace tokens and word tokens) of the sentences."""
    from glinker.kb.normalize import normalize_alias

    keys: set[str] = set()
    for row in rows:
        keys.update(normalize_alias(m["surface"]) for m in row["mentions"])
        for tokens in (row["text"].split(), _TOKEN.findall(row["text"])):
            for n in range(1, max_n + 1):
                for i in range(len(tokens) - n + 1):
                    keys.add(normalize_alias(" ".join(tokens[i : i + n])))
    keys.discard("")
    return keys


def write_sub_dump(dump: Path, out: Path, keys: set[str], qids: set[str]) -> dict[str, int]:
    """Copy to ``out`` (the dump's format, uncompressed) the dump lines of the entities named by ``keys``
    (English label or alias) or listed in ``qids``, of their P31 classes (the reranker's type feature reads a
    candidate's class names from the KB), and the countries and first-level divisions their descriptions
    name (the compatibility rules read where a place lies from its description): as in a KB of the whole
    slice. Returns how many entities were kept and why."""
    import re

    from glinker.kb.normalize import normalize_alias
    from glinker.wikidata_classes import COUNTRIES, FIRST_LEVEL_DIVISIONS

    lines: dict[str, str] = {}
    named: list[str] = []
    classes: set[str] = set()
    places: dict[str, set[str]] = {}  # normalised name -> countries / divisions of that name
    descriptions: list[str] = []
    with gzip.open(dump, "rt", encoding="utf-8") as fh:
        for line in fh:
            line = line.strip().rstrip(",")
            if not line.startswith("{"):
                continue
            ent = json.loads(line)
            qid = ent.get("id", "")
            lines[qid] = line
            names = [ent.get("labels", {}).get("en", {}).get("value", "")]
            names += [a.get("value", "") for a in ent.get("aliases", {}).get("en", [])]
            p31 = {c.get("mainsnak", {}).get("datavalue", {}).get("value", {}).get("id")
                   for c in ent.get("claims", {}).get("P31", []) if isinstance(c.get("mainsnak", {}).get(
                       "datavalue", {}).get("value"), dict)}
            if p31 & (COUNTRIES | FIRST_LEVEL_DIVISIONS):
                for n in names:
                    if n:
                        places.setdefault(normalize_alias(n), set()).add(qid)
            if qid in qids or any(n and normalize_alias(n) in keys for n in names):
                named.append(qid)
                descriptions.append(ent.get("descriptions", {}).get("en", {}).get("value", ""))
                for claim in ent.get("claims", {}).get("P31", []):
                    target = claim.get("mainsnak", {}).get("datavalue", {}).get("value", {})
                    if isinstance(target, dict) and target.get("id"):
                        classes.add(target["id"])
    chosen = set(named)
    extra = sorted(q for q in classes - chosen if q in lines)
    described: set[str] = set()
    for text in descriptions:
        words = re.findall(r"[\w'.-]+", text)
        for i in range(len(words)):
            for j in range(i + 1, min(len(words), i + 4) + 1):
                described |= places.get(normalize_alias(" ".join(words[i:j])), set())
    described -= chosen | set(extra)
    kept = [lines[q] for q in (*named, *extra, *sorted(described))]
    out.write_text("[\n" + ",\n".join(kept) + "\n]\n", encoding="utf-8")
    return {"entities": len(kept), "named_or_gold": len(named), "classes": len(extra),
            "described_places": len(described), "gold_missing": len(qids - chosen)}


def build_sub_kb(data_dir: Path, rows: Sequence[dict], work: Path, encoder=None) -> tuple[Path, dict[str, int]]:
    """Build the sentences' sub-KB of the arnold slice at ``work/kb`` with the default model (or ``encoder``);
    returns its folder and :func:`write_sub_dump`'s counts."""
    from glinker.detection import BiEncoderDetector
    from kb_build.build import build_kb

    arnold = data_dir / ARNOLD
    work.mkdir(parents=True, exist_ok=True)
    dump = work / "sub-dump.json"
    qids = {m["qid"] for row in rows for m in row["mentions"] if m["qid"]}
    stats = write_sub_dump(arnold / DUMP_NAME, dump, name_keys(rows), qids)
    print(f"regression sub-dump: {stats}", file=sys.stderr)
    encoder = encoder or BiEncoderDetector()
    build_kb(dump, work / "kb", encoder, popularity=arnold / POPULARITY_NAME, progress=False)
    return work / "kb", stats


@dataclass
class MentionResult:
    """One gold mention and what glinker made of it."""

    sentence: str
    cls: str
    surface: str
    gold: str | None
    gold_label: str | None
    person: bool
    span_qid: str | None = None
    span_label: str | None = None
    span_score: float | None = None
    candidates: list[dict] = field(default_factory=list)
    e2e_ok: bool = False
    e2e_found: list[str] = field(default_factory=list)

    @property
    def span_ok(self) -> bool:
        return self.span_qid == self.gold


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def e2e_correct(gold: dict, predicted: Sequence) -> bool:
    """End to end, a gold mention counts as found when a detected mention overlapping its span is linked to
    the gold QID; a NIL gold mention counts when no overlapping detected mention is linked to anything, a
    linked qualifier inside it excepted (``Texas`` in ``Paris, Texas``)."""
    span = (gold["start"], gold["end"])
    near = [p for p in predicted if _overlaps(span, (p.start, p.end))]
    if gold["qid"]:
        return any(p.qid == gold["qid"] for p in near)
    head, sep, _ = gold["surface"].partition(", ")
    qualifier_from = gold["start"] + len(head) + len(sep) if sep else gold["end"]
    return not any(p.qid for p in near if p.start < qualifier_from)


def evaluate(nlp, rows: Sequence[dict]) -> list[MentionResult]:
    """Link every sentence on its gold spans and end to end; one result per gold mention."""
    from glinker.types import Document

    docs = [Document(row["id"], row["text"]) for row in rows]
    nlp.link_spans(docs, [[(m["start"], m["end"]) for m in row["mentions"]] for row in rows])
    # end to end: what link_text does for one sentence (link_batch), for all of them in one batch
    e2e = [Document(row["id"], row["text"]) for row in rows]
    nlp.link_batch(e2e)
    results = []
    for row, doc, linked in zip(rows, docs, e2e):
        for gold, got in zip(row["mentions"], doc.mentions):
            results.append(MentionResult(
                sentence=row["id"], cls=row["class"], surface=gold["surface"], gold=gold["qid"],
                gold_label=gold.get("label"), person=bool(gold.get("person")), span_qid=got.qid,
                span_label=got.entity_label, span_score=got.link_score, candidates=list(got.candidates),
                e2e_ok=e2e_correct(gold, linked.mentions),
                e2e_found=[f"{p.text}->{p.qid}" for p in linked.mentions
                           if _overlaps((gold["start"], gold["end"]), (p.start, p.end))],
            ))
    return results


def first_name_clashes(results: Sequence[MentionResult], kb) -> list[str]:
    """NIL-gold full person names (two words or more) linked on their gold span to a person none of whose
    names starts with the mention's first name ("Brigitte Macron" -> Emmanuel Macron)."""
    from glinker.kb.normalize import normalize_alias

    clashes = []
    wrong = [r for r in results if r.gold is None and r.person and r.span_qid and len(r.surface.split()) > 1]
    records = kb.store.get_many({r.span_qid for r in wrong})
    for r in wrong:
        rec = records.get(r.span_qid)
        if rec is None or HUMAN not in rec.types:
            continue
        first = normalize_alias(r.surface.split()[0])
        names = [normalize_alias(n) for n in (rec.label, *rec.aliases)]
        if not any(n.split()[:1] == [first] for n in names):
            clashes.append(f"{r.sentence}: {r.surface!r} -> {r.span_qid} {rec.label!r}")
    return clashes


def accuracy_table(results: Sequence[MentionResult]) -> tuple[str, dict[str, dict[str, float]]]:
    """Per class and overall: gold mentions (NIL among them), right on given spans, found end to end;
    as text and as numbers."""
    stats: dict[str, dict[str, float]] = {}
    for cls in (*CLASSES, "overall"):
        sel = [r for r in results if cls in ("overall", r.cls)]
        if not sel:
            continue
        span_ok, e2e_ok = sum(r.span_ok for r in sel), sum(r.e2e_ok for r in sel)
        stats[cls] = {"mentions": len(sel), "nil": sum(r.gold is None for r in sel),
                      "given_spans_right": span_ok, "given_spans": round(span_ok / len(sel), 4),
                      "e2e_found": e2e_ok, "e2e": round(e2e_ok / len(sel), 4)}
    lines = [f"{'class':<14} {'mentions':>8} {'NIL':>4} {'given spans':>15} {'end to end':>15}"]
    for cls, s in stats.items():
        lines.append(f"{cls:<14} {s['mentions']:>8} {s['nil']:>4} "
                     f"{s['given_spans_right']:>5} {s['given_spans']:>9.3f} {s['e2e_found']:>5} {s['e2e']:>9.3f}")
    return "\n".join(lines), stats


def mention_report(results: Sequence[MentionResult], everything: bool = False) -> str:
    """One block per wrong mention (given spans or end to end; ``everything``: per mention)."""
    out = []
    for r in results:
        if not everything and r.span_ok and r.e2e_ok:
            continue
        mark = "ok " if r.span_ok else "ERR"
        out.append(f"{mark} {r.sentence} [{r.cls}] {r.surface!r}: gold {r.gold} ({r.gold_label}) | "
                   f"spans {r.span_qid} ({r.span_label}, {r.span_score}) | e2e {'ok' if r.e2e_ok else 'miss'} "
                   f"{r.e2e_found}")
        for c in r.candidates:
            out.append(f"      {c['qid']:<11} {c['score']:.3f} alias={c['alias_match']} {c['label']}")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    from common import key_value_options  # benchmarks/common.py

    import glinker
    from glinker.settings import data_dir

    opts = key_value_options(sys.argv[1:] if argv is None else list(argv), {"kb_dir": "", "kb": "", "all": "false"})
    every = opts["all"].lower() in ("1", "true", "yes")
    if not (data_dir() / ARNOLD / DUMP_NAME).is_file():
        print(f"no arnold slice at {data_dir() / ARNOLD}: set GLINKER_DATA_DIR", file=sys.stderr)
        return 1
    rows = load_sentences()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(opts["kb_dir"] or tmp)
        if opts["kb"]:
            kb_dir = Path(opts["kb"])  # a whole KB as it is (it must hold the gold entities)
        else:
            kb_dir = work / "kb" if (work / "kb").is_dir() else build_sub_kb(data_dir(), rows, work)[0]
        nlp = glinker.load(kb_dir=kb_dir, max_candidates=5)
        results = evaluate(nlp, rows)
        print(mention_report(results, every))
        table, _ = accuracy_table(results)
        print(table)
        for clash in first_name_clashes(results, nlp.kb):
            print("first-name clash:", clash)
    return 0


if __name__ == "__main__":
    sys.exit(main())
