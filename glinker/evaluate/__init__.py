"""Evaluation: ``python -m glinker.evaluate ner ...`` (zero-shot NER)."""
