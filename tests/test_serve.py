"""The HTTP server for real: demo KB, default model, uvicorn on 127.0.0.1, requests over TCP."""

from __future__ import annotations

import logging
import threading
import time

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")

from serve_helpers import demo_app, running  # noqa: E402

SENTENCE = "Arnold Schwarzenegger starred in The Terminator, directed by James Cameron."
LIMITS = ["limits.max_texts=8", "limits.max_text_chars=30000", "limits.max_body_bytes=200000",
          "limits.max_labels=5", "limits.max_candidates=5", "batching.window_ms=20"]


@pytest.fixture(scope="module")
def server():
    app = demo_app(*LIMITS)
    with running(app) as url:
        yield url, app


@pytest.fixture(scope="module")
def url(server):
    return server[0]


def post(url: str, path: str, **kw) -> httpx.Response:
    return httpx.post(url + path, timeout=120, **kw)


def test_health_ready_and_openapi(url):
    assert httpx.get(f"{url}/health").json() == {"status": "ok"}
    assert httpx.get(f"{url}/ready").json()["status"] == "ready"
    spec = httpx.get(f"{url}/openapi.json").json()
    assert {"/link", "/nif", "/render", "/entity/{qid}", "/health", "/ready"} <= set(spec["paths"])
    assert "swagger" in httpx.get(f"{url}/docs").text.lower()


def test_link_returns_the_cli_records(server):
    url, app = server
    r = post(url, "/link", json={"text": SENTENCE})
    assert r.status_code == 200
    got = r.json()
    qids = [m["qid"] for m in got["mentions"]]
    assert {"Q2685", "Q42574"} <= set(qids)
    # the JSONL line glinker.link writes for the same text (same pipeline, same serialisation)
    expected = app.state.glinker.pipeline.link_text(SENTENCE).to_dict()
    assert got == expected


def test_list_labels_candidates_threshold(url):
    texts = ["Angela Merkel visited Paris.", "Barack Obama was born in Hawaii."]
    r = post(url, "/link", json={"text": texts, "labels": ["person"], "candidates": 2})
    assert r.status_code == 200, r.text
    docs = r.json()
    assert [d["text"] for d in docs] == texts
    assert {m["label"] for d in docs for m in d["mentions"]} == {"person"}
    assert {m["qid"] for d in docs for m in d["mentions"]} >= {"Q567", "Q76"}
    assert all(1 <= len(m["candidates"]) <= 2 for d in docs for m in d["mentions"])
    strict = post(url, "/link", json={"text": texts[0], "threshold": 0.999}).json()
    assert len(strict["mentions"]) < len(post(url, "/link", json={"text": texts[0]}).json()["mentions"])


def test_given_spans_are_disambiguated_only(url):
    text = "Arnold moved to Graz."
    for spans in ([[0, 6], [16, 4]], [{"start": 0, "end": 6}, {"start": 16, "end": 20}]):
        doc = post(url, "/link", json={"text": text, "spans": spans}).json()
        assert [(m["start"], m["end"], m["qid"]) for m in doc["mentions"]] == [(0, 6, "Q2685"), (16, 20, "Q13298")]
    docs = post(url, "/link", json={"text": [text, "Merkel visited Paris."], "spans": [[[16, 4]], None]}).json()
    assert [m["text"] for m in docs[0]["mentions"]] == ["Graz"]
    assert "Merkel" in [m["text"] for m in docs[1]["mentions"]]


def test_long_text_is_linked_whole_in_windows(url):
    filler = "The weather was mild and nothing else happened that day. " * 200  # about 11,600 characters
    text = SENTENCE + " " + filler + "Angela Merkel visited Paris."
    assert len(text) > 10_000
    doc = post(url, "/link", json={"text": text}).json()
    assert doc["text"] == text
    found = {m["qid"]: m for m in doc["mentions"]}
    assert "Q2685" in found and "Q567" in found
    assert text[found["Q567"]["start"]:found["Q567"]["end"]] == "Angela Merkel"


@pytest.mark.parametrize("body,status,words", [
    (b'{"text": "unfinished', 400, "not valid JSON"),
    (b'{"labels": ["person"]}', 422, "text"),
    (b'{"text": 5}', 422, "text"),
    (b'{"text": []}', 422, "empty list"),
    (b'{"text": ["a", "b", "c", "d", "e", "f", "g", "h", "i"]}', 413, "max_texts=8"),
    (b'{"text": "a", "labels": ["a", "b", "c", "d", "e", "f"]}', 422, "max_labels=5"),
    (b'{"text": "a", "labels": []}', 422, "labels"),
    (b'{"text": "a", "candidates": 9}', 422, "max_candidates=5"),
    (b'{"text": "a", "threshold": 1.5}', 422, "threshold"),
    (b'{"text": "Graz", "spans": [[2, 9]]}', 422, "does not lie within"),
    (b'{"text": ["Graz"], "spans": [[0, 4]]}', 422, "one list of spans"),
    (b'{"text": "Graz", "colour": "red"}', 422, "colour"),
])
def test_bad_requests_get_clear_json_errors(url, body, status, words):
    r = post(url, "/link", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    err = r.json()
    assert err["status"] == status and words in err["error"]


def test_size_limits(url):
    r = post(url, "/link", json={"text": "x" * 30_001})
    assert r.status_code == 413 and "max_text_chars=30,000" in r.json()["error"]
    r = post(url, "/link", content=b'{"text": "' + b"x" * 250_000 + b'"}')
    assert r.status_code == 413 and "max_body_bytes" in r.json()["error"]

    def chunks():  # no content-length: the limit holds for a streamed body too
        yield b'{"text": "'
        for _ in range(30):
            yield b"y" * 10_000
        yield b'"}'

    r = post(url, "/link", content=chunks())
    assert r.status_code == 413


def test_blank_text_and_form_encoded_curl(url):
    assert post(url, "/link", json={"text": "   "}).json()["mentions"] == []
    # curl -d sends a form content type; the body is still JSON
    r = post(url, "/link", content=b'{"text": "Arnold moved to Graz."}',
             headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200 and "Q13298" in {m["qid"] for m in r.json()["mentions"]}


def test_entity(url):
    rec = httpx.get(f"{url}/entity/Q2685").json()
    assert rec["label"] == "Arnold Schwarzenegger" and "Q5" in rec["types"]
    assert {"description", "aliases", "popularity"} <= set(rec)
    r = httpx.get(f"{url}/entity/Q999999999")
    assert r.status_code == 404 and r.json()["status"] == 404 and "Q999999999" in r.json()["error"]
    r = httpx.get(f"{url}/no/such/route")
    assert r.status_code == 404 and "error" in r.json()


def test_concurrent_requests_share_batches_and_health_answers_meanwhile(server):
    url, app = server
    batcher = app.state.glinker.batcher
    before = batcher.batches
    texts = [f"{SENTENCE} Angela Merkel visited Paris {k} times." for k in range(8)]
    results: dict[int, int] = {}

    def one(k: int) -> None:
        results[k] = post(url, "/link", json={"text": texts[k]}).status_code

    threads = [threading.Thread(target=one, args=(k,)) for k in range(len(texts))]
    for t in threads:
        t.start()
    health = []
    while any(t.is_alive() for t in threads):
        started = time.perf_counter()
        assert httpx.get(f"{url}/health", timeout=5).status_code == 200
        health.append(time.perf_counter() - started)
        time.sleep(0.05)
    for t in threads:
        t.join()
    assert set(results.values()) == {200}
    assert batcher.batches - before < len(texts)  # some requests were linked in one pipeline batch
    assert health and max(health) < 2.0  # the event loop is free while a batch runs


def test_one_log_line_per_request_with_latency(url):
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())

    handler = Keep()
    log = logging.getLogger("glinker.serve")
    log.addHandler(handler)
    old = log.level
    log.setLevel(logging.INFO)
    try:
        post(url, "/link", json={"text": "Arnold moved to Graz."})
        httpx.get(f"{url}/entity/Q2685")
        # the line is written once the response is sent, so the client may read it first
        deadline = time.monotonic() + 5.0
        while len(lines) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        log.removeHandler(handler)
        log.setLevel(old)
    assert any(line.startswith("POST /link 200 ") and line.endswith(" ms") for line in lines)
    assert any(line.startswith("GET /entity/Q2685 200 ") for line in lines)


def test_timeout_and_full_queue(server):
    """A second server on the same loaded pipeline, with limits no request can meet."""
    from glinker.serve.app import create_app
    from glinker.serve.options import Limits, ServeOptions

    pipeline = server[1].state.glinker.pipeline
    tight = create_app(pipeline, ServeOptions(limits=Limits(timeout_s=0.001)))
    with running(tight) as url:
        r = post(url, "/link", json={"text": SENTENCE})
        assert r.status_code == 408 and "timeout_s" in r.json()["error"]
    full = create_app(pipeline, ServeOptions(limits=Limits(max_queue_docs=1)))
    with running(full) as url:
        r = post(url, "/link", json={"text": ["a b", "c d"]})
        assert r.status_code == 429 and "max_queue_docs=1" in r.json()["error"]


def test_nif_round_trip(url, tmp_path):
    from glinker.evaluate.el import load_nif

    ttl = """@prefix nif: <http://persistence.uni-leipzig.org/nlp2rdf/ontologies/nif-core#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
<http://example.org/a#char=0,48> a nif:Context, nif:String, nif:RFC5147String ;
    nif:beginIndex "0"^^xsd:nonNegativeInteger ; nif:endIndex "48"^^xsd:nonNegativeInteger ;
    nif:isString "Arnold Schwarzenegger starred in The Terminator." .
<http://example.org/b#char=0,21> a nif:Context, nif:String, nif:RFC5147String ;
    nif:isString "Arnold moved to Graz." .
<http://example.org/b#char=16,20> a nif:Phrase, nif:String, nif:RFC5147String ;
    nif:referenceContext <http://example.org/b#char=0,21> ;
    nif:beginIndex "16"^^xsd:nonNegativeInteger ; nif:endIndex "20"^^xsd:nonNegativeInteger ;
    nif:anchorOf "Graz" .
"""
    r = post(url, "/nif", content=ttl.encode(), headers={"content-type": "application/x-turtle"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/turtle")
    out = tmp_path / "out.ttl"
    out.write_bytes(r.content)
    docs = {d.id: d for d in load_nif(out)}
    a, b = docs["http://example.org/a#char=0,48"], docs["http://example.org/b#char=0,21"]
    assert (0, 21, "Q2685") in {(m.start, m.end, m.qid) for m in a.mentions} and len(a.mentions) >= 2
    assert [(m.start, m.end, m.qid) for m in b.mentions] == [(16, 20, "Q13298")]  # the given phrase only
    assert "http://www.wikidata.org/entity/Q2685" in r.text
    bad = post(url, "/nif", content=b"this is not turtle <<<")
    assert bad.status_code == 400 and "Turtle" in bad.json()["error"]


def test_render_escapes_markup(url):
    r = post(url, "/render", json={"text": "<script>alert(1)</script> Arnold Schwarzenegger lives in Graz."})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "<script>" not in r.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    assert 'href="https://www.wikidata.org/wiki/Q2685"' in r.text
    page = httpx.get(url + "/").text
    assert "<textarea" in page and "render" in page
