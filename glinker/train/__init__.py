"""Training of the span bi-encoder: ``python -m glinker.train`` (see ``glinker/conf/train.yaml``)."""
