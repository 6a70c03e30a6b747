"""Natural-language names for every corpus tag, and which names must not be negatives of one another.

A tag maps to one or more names, each true of every entity the tag covers ("MusicalWork" -> "musical
work" / "song or album" / "music recording"; never "song" alone, which is false of albums). The
trainer samples one name per occurrence (:func:`name_spans`), so the model learns a type as a
meaning rather than as one string.

Two names are *compatible* when one can be true of an entity the other names: names of the same tag,
and a fine name and its coarse family ("politician" and "person"). A span labelled with one is neither
a positive nor a negative for the other (:func:`compatible_names`): corpora annotate at different
granularities, and a CoNLL person who is a politician must not teach that "politician" is wrong.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from glinker.train.data import NerExample, natural_label

# Coarse families; a fine tag names its family so that the two are compatible.
PERSON, LOCATION, ORGANIZATION, WORK, PRODUCT = "person", "location", "organization", "creative work", "product"
FAMILY_NAMES = {
    PERSON: ("person",),
    LOCATION: ("location", "place"),
    ORGANIZATION: ("organization",),
    WORK: ("creative work", "work"),
    PRODUCT: ("product",),
}

# (corpus, tag) -> (names, family). Tags not listed fall back to natural_label(tag), no family.
TAGS: dict[tuple[str, str], tuple[tuple[str, ...], str | None]] = {}


def _add(corpus: str, table: dict[str, tuple[tuple[str, ...], str | None]]) -> None:
    for tag, spec in table.items():
        TAGS[(corpus, tag)] = spec


_add("multiconer", {
    "Artist": (("artist", "artist or performer", "creative artist"), PERSON),
    "Athlete": (("athlete", "sportsperson", "sports player"), PERSON),
    "Politician": (("politician",), PERSON),
    "Scientist": (("scientist", "researcher"), PERSON),
    "Cleric": (("cleric", "religious leader"), PERSON),
    "SportsManager": (("sports manager", "sports coach"), PERSON),
    "OtherPER": (("person",), PERSON),
    "HumanSettlement": (("human settlement", "city or town", "populated place"), LOCATION),
    "Facility": (("facility", "building or facility"), LOCATION),
    "Station": (("station", "railway station"), LOCATION),
    "OtherLOC": (("location", "geographical feature"), LOCATION),
    "ORG": (("organization",), ORGANIZATION),
    "MusicalGRP": (("band", "musical group"), ORGANIZATION),
    "SportsGRP": (("sports team", "sports club"), ORGANIZATION),
    "PublicCorp": (("company", "public company", "corporation"), ORGANIZATION),
    "PrivateCorp": (("company", "private company"), ORGANIZATION),
    "CarManufacturer": (("car manufacturer", "automaker"), ORGANIZATION),
    "AerospaceManufacturer": (("aerospace manufacturer",), ORGANIZATION),
    "VisualWork": (("visual work", "film or television series", "film or TV show"), WORK),
    "WrittenWork": (("written work", "literary work", "book or publication"), WORK),
    "MusicalWork": (("musical work", "song or album", "music recording"), WORK),
    "ArtWork": (("artwork", "work of art"), WORK),
    "Software": (("software", "computer program", "software product"), PRODUCT),
    "Vehicle": (("vehicle",), PRODUCT),
    "Clothing": (("clothing", "garment"), PRODUCT),
    "Food": (("food", "dish"), PRODUCT),
    "Drink": (("drink", "beverage"), PRODUCT),
    "OtherPROD": (("product",), PRODUCT),
    "Medication/Vaccine": (("medication", "drug", "medication or vaccine"), None),
    "MedicalProcedure": (("medical procedure",), None),
    "AnatomicalStructure": (("anatomical structure", "body part"), None),
    "Symptom": (("symptom",), None),
    "Disease": (("disease", "medical condition", "illness"), None),
})

_add("bio", {
    "Chemical": (("chemical", "chemical compound", "chemical substance"), None),
    "Simple_chemical": (("chemical", "chemical compound", "chemical substance"), None),
    "CHEBI": (("chemical", "chemical entity"), None),
    "Disease": (("disease", "medical condition"), None),
    "Cancer": (("cancer", "disease"), None),
    "GENE": (("gene or protein", "gene or gene product"), None),
    "GGP": (("gene or gene product", "gene or protein"), None),
    "Gene_or_gene_product": (("gene or gene product", "gene or protein"), None),
    "Protein": (("protein", "gene product"), None),
    "Complex": (("protein complex",), None),
    "Anatomy": (("anatomical structure", "anatomical entity"), None),
    "Multi-tissue_structure": (("anatomical structure",), None),
    "Organ": (("organ", "anatomical structure"), None),
    "Tissue": (("tissue",), None),
    "Cell": (("cell type", "cell"), None),
    "CL": (("cell type", "cell"), None),
    "Cellular_component": (("cellular component",), None),
    "Species": (("species", "organism", "taxon"), None),
    "Organism": (("organism", "species"), None),
    "Taxon": (("taxon", "organism"), None),
    "Organism_substance": (("bodily substance",), None),
    "Pathological_formation": (("pathological formation",), None),
    "Amino_acid": (("amino acid",), None),
    "Immaterial_anatomical_entity": (("anatomical entity",), None),
    "Organism_subdivision": (("body part",), None),
    "Anatomical_system": (("anatomical system",), None),
    "Developing_anatomical_structure": (("developing anatomical structure",), None),
    "Regulon-operon": (("operon",), None),
    "SO": (("sequence feature", "genomic sequence feature"), None),
    "GO": (("biological process or cellular component",), None),
})

_add("litbank", {
    "PER": (("person", "character"), PERSON),
    "LOC": (("location", "place"), LOCATION),
    "GPE": (("geopolitical entity", "country or city"), LOCATION),
    "FAC": (("facility", "building"), LOCATION),
    "ORG": (("organization",), ORGANIZATION),
    "VEH": (("vehicle",), PRODUCT),
})

_add("gum", {
    "person": (("person",), PERSON),
    "place": (("location", "place"), LOCATION),
    "organization": (("organization",), ORGANIZATION),
    "event": (("event",), None),
    "object": (("object", "thing"), None),
    "abstract": (("abstract concept", "concept"), None),
    "time": (("time", "date or time"), None),
    "substance": (("substance",), None),
    "animal": (("animal",), None),
    "plant": (("plant",), None),
})

_add("re3d", {
    "Organisation": (("organization",), ORGANIZATION),
    "Location": (("location",), LOCATION),
    "Person": (("person",), PERSON),
    "Temporal": (("date or time", "time expression"), None),
    "Nationality": (("nationality",), None),
    "Quantity": (("quantity",), None),
    "Weapon": (("weapon",), PRODUCT),
    "Vehicle": (("vehicle",), PRODUCT),
    "MilitaryPlatform": (("military platform", "military vehicle"), PRODUCT),
    "DocumentReference": (("document reference",), None),
    "Money": (("money", "monetary amount"), None),
    "Coordinate": (("coordinate", "geographic coordinate"), None),
    "CommsIdentifier": (("communications identifier",), None),
    "Frequency": (("frequency",), None),
})

for _corpus in ("btc",):
    _add(_corpus, {"PER": (("person",), PERSON), "ORG": (("organization",), ORGANIZATION),
                   "LOC": (("location",), LOCATION)})

# Names the older corpora's tags become (glinker.train.data.natural_label) and their families.
_COARSE_FAMILY = {"person": PERSON, "location": LOCATION, "organization": ORGANIZATION, "corporation": ORGANIZATION,
                  "group": ORGANIZATION, "creative work": WORK, "product": PRODUCT,
                  "geopolitical entity": LOCATION, "facility": LOCATION}


def names_for(corpus: str, tag: str) -> tuple[str, ...]:
    """The names a tag of ``corpus`` may be shown as (at least one)."""
    spec = TAGS.get((corpus, tag))
    return spec[0] if spec else (natural_label(tag),)


def family_of(corpus: str, tag: str) -> str | None:
    """The coarse family (person, location, ...) a tag of ``corpus`` belongs to, if any."""
    spec = TAGS.get((corpus, tag))
    return spec[1] if spec else None


def name_spans(examples: Iterable[NerExample], corpus: str, rng: random.Random,
               family_positives: bool = False) -> list[NerExample]:
    """Copies of ``examples`` with each span's tag replaced by one of its names, drawn per occurrence.

    With ``family_positives`` a span of a fine tag also gets its family's coarse name ("politician" ->
    also "person"): both are true of it, and label sets that hold only the coarse name (CoNLL's) must
    still find it. The trainer may demote the coarse one where the fine one is offered.
    """
    out = []
    for ex in examples:
        spans = {(s, e, rng.choice(names_for(corpus, tag))) for s, e, tag in ex.spans}
        if family_positives:
            for s, e, tag in ex.spans:
                family = family_of(corpus, tag)
                if family:
                    spans.add((s, e, FAMILY_NAMES[family][0]))
        out.append(NerExample(ex.tokens, sorted(spans)))
    return out


def compatible_names() -> dict[str, frozenset[str]]:
    """For each name, the other names that may be true of the same entity (never its negatives).

    Names of one tag are compatible with each other; every name of a family (person, location, ...)
    is compatible with the family's coarse names, both ways.
    """
    groups: list[set[str]] = []
    family_members: dict[str, set[str]] = {f: set(n) for f, n in FAMILY_NAMES.items()}
    for names, family in TAGS.values():
        groups.append(set(names))
        if family:
            family_members[family].update(names)
    for name, family in _COARSE_FAMILY.items():
        family_members[family].add(name)
    out: dict[str, set[str]] = {}
    for group in groups:
        for n in group:
            out.setdefault(n, set()).update(group - {n})
    for family, members in family_members.items():
        coarse = set(FAMILY_NAMES[family]) | {n for n, f in _COARSE_FAMILY.items() if f == family}
        for n in members:
            out.setdefault(n, set()).update(coarse - {n})
        for c in coarse:
            out.setdefault(c, set()).update(members - {c})
    return {k: frozenset(v) for k, v in out.items()}
