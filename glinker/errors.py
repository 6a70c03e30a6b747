"""Errors that carry a user-facing message: what went wrong, where, what to do."""

from __future__ import annotations


class GlinkerError(Exception):
    """Base class for errors reported to the user as one clear line and a non-zero exit."""


class InputError(GlinkerError):
    """Bad user input: a document file, a JSONL line, an option."""


class KBError(GlinkerError):
    """A knowledge base is missing, corrupt, or incompatible with the detector."""


class DumpError(GlinkerError):
    """A Wikidata dump cannot be read (corrupt or truncated stream, too many malformed lines)."""


class ModelError(GlinkerError):
    """A model checkpoint is missing, malformed or unsupported."""
