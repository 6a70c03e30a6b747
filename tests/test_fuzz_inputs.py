"""Fuzzing what users feed the CLIs: document readers, benchmark readers, link options; and max_chars.

Each property holds for any input: no crash, every bad record reported as an error that names its
line (or file), and the good records read back as they were written. ``max_examples`` is small so
the file runs in seconds.
"""

from __future__ import annotations

import io
import json
import re

import orjson
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from glinker.errors import InputError
from glinker.io import BadDocument, read_documents
from glinker.types import Document

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
MAX_CHARS = 40

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
                           max_leaves=6)
good_lines = st.builds(lambda i, t: orjson.dumps({"id": i, "text": t}),
                       st.text(max_size=8), st.text(min_size=1, max_size=60))
odd_lines = st.one_of(
    st.binary(max_size=40),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.sampled_from(["id", "text", "mentions", "x"]), json_values, max_size=4)
    .map(lambda d: json.dumps(d).encode()),
)
jsonl_lines = st.lists(st.one_of(good_lines, odd_lines).map(lambda b: b.replace(b"\n", b" ")), min_size=1,
                       max_size=12)


def _check_jsonl(lines: list[bytes], items: list, name: str) -> None:
    """Each non-blank line gives one item, in order; a document is its line's text, an error names its line."""
    numbered = [(n, raw) for n, raw in enumerate(lines, 1) if raw.strip()]
    assert len(items) == len(numbered)
    for (n, raw), item in zip(numbered, items):
        assert isinstance(item, (Document, BadDocument))
        if isinstance(item, BadDocument):
            assert str(item).startswith(f"{name} line {n}: ")
        else:
            obj = orjson.loads(raw)
            assert item.text == obj["text"] and item.text.strip() and len(item.text) <= MAX_CHARS


@FUZZ
@given(lines=jsonl_lines)
def test_jsonl_file_reader(tmp_path, lines):
    path = tmp_path / "docs.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    _check_jsonl(lines, list(read_documents(path, max_chars=MAX_CHARS)), str(path))


@FUZZ
@given(lines=jsonl_lines)
def test_stdin_reader(lines):
    data = b"\n".join(lines) + b"\n"
    items = list(read_documents("-", stdin=io.BytesIO(data), max_chars=MAX_CHARS))
    first = next(raw for raw in lines + [b"x"] if raw.strip())
    if first.lstrip()[:1] == b"{":  # JSONL
        _check_jsonl(lines, items, "<stdin>")
    else:  # one text document
        (item,) = items
        assert isinstance(item, BadDocument) and str(item).startswith("<stdin>: ") or item.text == data.decode()


@FUZZ
@given(data=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_text_file_reader(tmp_path, data):
    path = tmp_path / "doc.txt"
    path.write_bytes(data)
    (item,) = read_documents(path, max_chars=MAX_CHARS)
    if isinstance(item, BadDocument):
        assert str(item).startswith(f"{path}: ")
    else:
        assert item.text == data.decode("utf-8") and len(item.text) <= MAX_CHARS and item.id == "doc.txt"


NIF_HEAD = """@prefix nif: <http://persistence.uni-leipzig.org/nlp2rdf/ontologies/nif-core#> .
@prefix itsrdf: <http://www.w3.org/2005/11/its/rdf#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
<http://ex.org/doc> a nif:Context ; nif:isString "{text}" .
"""
NIF_PHRASE = """<http://ex.org/doc#m{i}> a nif:Phrase ; nif:referenceContext <http://ex.org/doc> ;
    nif:beginIndex {begin} ; nif:endIndex {end} ; itsrdf:taIdentRef <http://www.wikidata.org/entity/{qid}> .
"""
nif_index = st.one_of(st.integers(-3, 40).map(lambda i: f'"{i}"^^xsd:nonNegativeInteger'),
                      st.sampled_from(['"abc"', '"1.5"^^xsd:decimal', '"NaN"^^xsd:double', "<http://x.org/y>"]))
nif_phrases = st.lists(st.tuples(nif_index, nif_index, st.sampled_from(["Q90", "Q1", "nope"])), max_size=4)


@FUZZ
@given(text=st.text(st.characters(blacklist_characters='"\\\r\n', blacklist_categories=("Cs",)), max_size=30),
       phrases=nif_phrases, garbage=st.sampled_from(["", "garbage .\n", "<a> <b> .\n", "@prefix : <x> .\n"]))
def test_nif_reader(tmp_path, text, phrases, garbage):
    from glinker.evaluate.el import load_nif

    body = NIF_HEAD.replace("{text}", text) + garbage
    body += "".join(NIF_PHRASE.format(i=i, begin=b, end=e, qid=q) for i, (b, e, q) in enumerate(phrases))
    path = tmp_path / "corpus.ttl"
    path.write_text(body, encoding="utf-8")
    try:
        docs = load_nif(path)
    except InputError as exc:  # a parse error or a bad annotation, named with its line
        assert re.match(rf"{re.escape(str(path))}(:| line \d+: )", str(exc)), exc
        return
    for doc in docs:
        assert all(0 <= m.start <= m.end <= len(doc.text) for m in doc.mentions)


@FUZZ
@given(lines=st.lists(st.one_of(odd_lines, json_values.map(lambda v: json.dumps({"text": "Paris", "labels": v})
                                                            .encode())).map(lambda b: b.replace(b"\n", b" ")),
                      min_size=1, max_size=5))
def test_elevant_reader(tmp_path, lines):
    from glinker.evaluate.el import load_elevant

    path = tmp_path / "x.benchmark.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    try:
        docs = load_elevant(path)
    except InputError as exc:
        assert re.match(rf"{re.escape(str(path))} line \d+: ", str(exc)), exc
        return
    for doc in docs:
        assert isinstance(doc.text, str) and all(0 <= m.start <= m.end <= len(doc.text) for m in doc.mentions)


argv_items = st.one_of(
    st.text(max_size=12),
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(["text", "+text", "++text", "~text", "texts", "input"]),
              st.text(max_size=12)),
)


@FUZZ
@given(argv=st.lists(argv_items, max_size=6))
def test_take_verbatim_text(argv):
    from glinker.link import take_verbatim_text

    rest, text = take_verbatim_text(argv)
    texts = [a.split("=", 1)[1] for a in argv if a.split("=", 1)[0] in ("text", "+text", "++text") and "=" in a]
    assert rest == [a for a in argv if not ("=" in a and a.split("=", 1)[0] in ("text", "+text", "++text"))]
    if not texts:
        assert text is None
    else:  # the last one, verbatim but for one pair of matching outer quotes
        last = texts[-1]
        quoted = len(last) >= 2 and last[0] == last[-1] and last[0] in "'\""
        assert text == (last[1:-1] if quoted else last)


option_values = st.one_of(st.sampled_from(["null", "true", "false", "-1", "0", "1", "2.5", "[1,2]", "{a: 1}", "''",
                                           "abc", "'${oops}'", "1e9", "5000000"]),
                          st.integers(-5, 10**7).map(str))


@settings(FUZZ, max_examples=25)  # a Hydra compose each: ~0.1 s
@given(key=st.sampled_from(["max_chars", "progress", "candidates", "batch_size", "output", "input", "engine"]),
       value=option_values, text=st.text(max_size=20))
def test_link_options(key, value, text):
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from glinker.config import CONF_DIR
    from glinker.link import read_options

    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="link", overrides=[f"{key}={value}"])
    except (HydraException, OmegaConfBaseException):
        assume(False)  # Hydra's own override errors: it reports them
    try:
        opts = read_options(cfg, text=text or None)
    except InputError as exc:
        assert str(exc).startswith((f"{key}=", f"{key}: ")) or "text=" in str(exc) or "input=" in str(exc), exc
        return
    assert opts.text == (text or None)  # verbatim: "${...}" is not an interpolation
    assert opts.max_chars is None or (isinstance(opts.max_chars, int) and opts.max_chars >= 1)
    assert isinstance(opts.candidates, int) and opts.candidates >= 0 and isinstance(opts.progress, bool)


def test_max_chars_skips_big_documents_and_names_them(tmp_path):
    path = tmp_path / "docs.jsonl"
    rows = [{"id": "a", "text": "short"}, {"id": "big", "text": "x" * 50}, {"id": "c", "text": "\u00e9" * 20}]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    items = list(read_documents(path, max_chars=20))
    assert [i.id for i in items if isinstance(i, Document)] == ["a", "c"]
    (err,) = [str(i) for i in items if isinstance(i, BadDocument)]
    assert err.startswith(f"{path} line 2: document 'big' is 50 characters, over the limit max_chars=20")
    assert "max_chars=null" in err
    assert len(list(read_documents(path, max_chars=None))) == 3


def test_max_chars_on_lines_and_files_too_long_to_read(tmp_path):
    # lines and files longer than any document within the limit can be are skipped without parsing
    path = tmp_path / "docs.jsonl"
    long_line = b'{"text": "' + b"y" * (2 << 20) + b'"}\n'  # past 12 bytes a character and 1 MiB for the rest
    path.write_bytes(long_line + b'{"text": "ok"}\n')
    items = list(read_documents(path, max_chars=10))
    assert f"line 1: the line is {len(long_line):,} bytes" in str(items[0]) and items[1].text == "ok"
    big = tmp_path / "big.txt"
    big.write_bytes(b"z" * 100)
    (item,) = read_documents(big, max_chars=10)
    assert isinstance(item, BadDocument) and "is 100 bytes" in str(item)
    (item,) = read_documents("-", stdin=io.BytesIO(b"w" * 100), max_chars=10)
    assert isinstance(item, BadDocument) and str(item).startswith("<stdin>: document 'stdin' is 100 bytes")


def test_link_run_skips_a_document_over_max_chars(tmp_path, tiny_kb, tiny_model_dir, caplog):
    from hydra import compose, initialize_config_dir

    from glinker.config import CONF_DIR
    from glinker.link import run

    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"id": i, "text": t}) + "\n"
                            for i, t in [("a", "Boston"), ("huge", "Boston " * 30), ("b", "Arnold")]))
    out = tmp_path / "out.jsonl"
    overrides = [f"kb_dir={tiny_kb}", f"detector.model={tiny_model_dir}", f"input={docs}",
                 f"output={out}", "max_chars=100", "progress=false"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        assert run(compose(config_name="link", overrides=overrides)) == 2
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == ["a", "b"]
    assert f"{docs} line 2: document 'huge' is 210 characters, over the limit max_chars=100" in caplog.text
