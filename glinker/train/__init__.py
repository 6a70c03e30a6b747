"""Training of the span bi-encoder: ``python -m glinker.train`` (see ``conf/train.yaml``)."""
