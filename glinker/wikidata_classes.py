"""Wikidata classes (QIDs) the span rules, retrievers and resolvers reason with, in one place.

Each tuple lists the P31 classes that make an item one kind of thing; the comments name them.
"""

from __future__ import annotations

# Instances of these are people (pronoun resolution: he/she).
HUMAN = "Q5"

# Wikidata classes of the places a demonym may name: country, sovereign state, continent,
# historical country, state, constituent country of the UK, US state, geographic region,
# historical region, state with limited recognition.
PLACE_TYPES = ("Q6256", "Q3624078", "Q5107", "Q3024240", "Q7275", "Q3336843", "Q35657", "Q82794", "Q1620908",
               "Q10711424")
# Classes of the religions an adjective of religion may name: religion, major religious group,
# Christian denomination, religious denomination, branch of Islam.
RELIGION_TYPES = ("Q9174", "Q6957341", "Q879146", "Q13414953", "Q1192063")

# Classes a qualifier may have: the demonym place classes plus first-level divisions and
# settlements: province of Canada, state of Germany, state of Australia, first-level
# administrative division, political territorial entity, federated state, territory of the US,
# county of the US, ceremonial county of England, region of France, prefecture of Japan, city,
# big city, capital, municipality, town, city of the US, island.
QUALIFIER_TYPES = PLACE_TYPES + ("Q11828004", "Q1221156", "Q5852411", "Q10864048", "Q1048835", "Q107390", "Q1352230",
                                 "Q47168", "Q180673", "Q36784", "Q50337", "Q515", "Q1549591", "Q5119", "Q15284",
                                 "Q3957", "Q1093829", "Q23442")
# First-level divisions a place is qualified with ("Muscatine, Iowa"): state of the United States,
# province of Canada, state of Australia, state of Germany, federated state, first-level
# administrative country subdivision, province.
FIRST_LEVEL_DIVISIONS = frozenset(("Q35657", "Q11828004", "Q5852411", "Q1221156", "Q107390", "Q10864048", "Q34876"))
# country, sovereign state
COUNTRIES = frozenset(("Q6256", "Q3624078"))
