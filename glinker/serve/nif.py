"""NIF 2.0 / Turtle in and out, as GERBIL's web-service annotators exchange them.

GERBIL posts one ``nif:Context`` (its ``nif:isString`` is the document) and, for disambiguation
tasks (D2KB), the ``nif:Phrase`` s to link. The answer is the same graph with one phrase per
linked mention: ``nif:beginIndex`` / ``nif:endIndex`` (Unicode code points, as Python counts),
``nif:anchorOf`` and ``itsrdf:taIdentRef`` — a Wikidata entity IRI, or for NIL an IRI in
GERBIL's emerging-entity namespace ``http://aksw.org/notInWiki/``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from glinker.errors import InputError

NIF = "http://persistence.uni-leipzig.org/nlp2rdf/ontologies/nif-core#"
ITSRDF = "http://www.w3.org/2005/11/its/rdf#"
WIKIDATA_ENTITY = "http://www.wikidata.org/entity/"
NOT_IN_WIKI = "http://aksw.org/notInWiki/"


@dataclass
class NifContext:
    """One ``nif:Context`` of a request: its IRI, its text, and the phrases given to disambiguate."""

    uri: object  # an rdflib node
    text: str
    phrases: dict[tuple[int, int], object] = field(default_factory=dict)  # (begin, end) -> phrase node

    @property
    def spans(self) -> list[tuple[int, int]] | None:
        """The given phrases' spans in text order, or ``None`` (detect mentions) when there are none."""
        return sorted(self.phrases) or None


def parse_nif(data: bytes | str):
    """The graph of a NIF/Turtle body and its contexts (document order as in the graph).

    Raises:
        InputError: the body is not Turtle, has no ``nif:isString`` context, or a phrase's indices
            do not lie within its context.
    """
    import rdflib

    graph = rdflib.Graph()
    try:
        graph.parse(data=data, format="turtle")
    except Exception as exc:  # rdflib raises several types for bad Turtle
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"the body is not valid Turtle: {reason}") from None
    nif = rdflib.Namespace(NIF)
    contexts = {ctx: NifContext(ctx, str(text)) for ctx, text in graph.subject_objects(nif.isString)}
    if not contexts:
        raise InputError("no nif:Context with a nif:isString in the body: nothing to link")
    for phrase, ctx in graph.subject_objects(nif.referenceContext):
        if ctx not in contexts:
            continue
        begin, end = graph.value(phrase, nif.beginIndex), graph.value(phrase, nif.endIndex)
        if begin is None or end is None:
            continue
        try:
            span = int(str(begin)), int(str(end))
        except ValueError:
            raise InputError(f"phrase <{phrase}>: begin/end index {str(begin)!r}, {str(end)!r} are not "
                             "whole numbers") from None
        if not 0 <= span[0] < span[1] <= len(contexts[ctx].text):
            raise InputError(f"phrase <{phrase}>: begin/end index {span[0]}, {span[1]} do not lie within its "
                             f"context's {len(contexts[ctx].text)} characters")
        contexts[ctx].phrases[span] = phrase
    return graph, list(contexts.values())


def _base(context_uri: str) -> str:
    """The document part of a context IRI (``http://x/doc1#char=0,120`` -> ``http://x/doc1``)."""
    return context_uri.split("#", 1)[0]


def annotate(graph, context: NifContext, mentions: list[dict]) -> None:
    """Add each linked mention (the CLI's mention objects) to ``graph`` as a phrase of ``context``.

    A given phrase gets its ``itsrdf:taIdentRef`` added; a detected mention becomes a new
    ``nif:Phrase`` at ``<document>#char=begin,end``.
    """
    from rdflib import RDF, XSD, Literal, Namespace, URIRef

    nif, its = Namespace(NIF), Namespace(ITSRDF)
    graph.bind("nif", nif)
    graph.bind("itsrdf", its)
    for m in mentions:
        start, end = int(m["start"]), int(m["end"])
        node = context.phrases.get((start, end))
        if node is None:
            node = URIRef(f"{_base(str(context.uri))}#char={start},{end}")
            graph.add((node, RDF.type, nif.Phrase))
            graph.add((node, RDF.type, nif.String))
            graph.add((node, RDF.type, nif.RFC5147String))
            graph.add((node, nif.referenceContext, context.uri))
            graph.add((node, nif.beginIndex, Literal(start, datatype=XSD.nonNegativeInteger)))
            graph.add((node, nif.endIndex, Literal(end, datatype=XSD.nonNegativeInteger)))
            graph.add((node, nif.anchorOf, Literal(context.text[start:end])))
        qid = m.get("qid")
        ref = WIKIDATA_ENTITY + qid if qid else NOT_IN_WIKI + quote(str(m.get("text", "")).replace(" ", "_"), safe="")
        graph.add((node, its.taIdentRef, URIRef(ref)))
        graph.add((node, its.taConfidence, Literal(round(float(m.get("link_score", 0.0)), 6), datatype=XSD.double)))


def serialize(graph) -> bytes:
    """The graph as Turtle."""
    return graph.serialize(format="turtle", encoding="utf-8")
