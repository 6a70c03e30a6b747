"""Entity embedding in the building process, once the whole dump has been read (``kb_build engine=local``).

Why after reading rather than batch by batch while reading: a truncated or corrupt compressed
dump shows only at the end of its stream, and embedding is the expensive step (a half-cut
arnold dump used to fail after 370 s of embedding; a full-Wikidata build embeds for hours).
The reader verifies the stream end (:mod:`kb_build.dump`) before :meth:`LocalEmbedder.embed_into`
runs, so a damaged dump costs one extraction pass and no embedding.

The texts wait in a file of the build folder, one msgpack frame per extraction batch, so memory
stays bounded; each frame is embedded by one encoder call, as when embedding while reading, so
the vectors are the same.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import msgspec
import numpy as np
from tqdm.auto import tqdm

from glinker.errors import KBError

_FRAME = struct.Struct(">Q")  # byte length of the msgpack-encoded list of texts that follows
STAGE_FILE = "texts.staged"


class LocalEmbedder:
    """A :class:`kb_build.build.DeferredEmbedder` that stages texts on disk and embeds them with ``encoder``.

    Args:
        encoder: Embeds entity texts (``encode_texts_pooled``; a :class:`glinker.detection.BiEncoderDetector`).
        progress: Show a progress bar while embedding.
    """

    engine = "local"

    def __init__(self, encoder: Any, progress: bool = True) -> None:
        self.encoder = encoder
        self.progress = progress
        self._path: Path | None = None
        self._out: BinaryIO | None = None
        self._rows = 0
        self._job: dict[str, Any] = {}

    def settings(self) -> dict[str, Any]:
        """What the manifest records about the engine."""
        return {"engine": self.engine}

    def start(self, build_dir: Path, *, fingerprint: str, precision: str, batch_size: int) -> None:
        """Open the staging file in the build's temporary folder."""
        self._path = Path(build_dir) / STAGE_FILE
        self._out = open(self._path, "wb")
        self._rows = 0
        self._job = {"precision": precision, "batch_size": batch_size}

    def stage(self, first_row: int, texts: Sequence[str]) -> None:
        """Append the texts of rows ``first_row, first_row + 1, …`` as one frame."""
        if self._out is None:
            raise KBError("internal: LocalEmbedder.stage before start")
        if first_row != self._rows:
            raise KBError(f"internal: rows staged out of order (got row {first_row}, expected {self._rows})")
        blob = msgspec.msgpack.encode(list(texts))
        self._out.write(_FRAME.pack(len(blob)))
        self._out.write(blob)
        self._rows += len(texts)

    def embed_into(self, vectors: np.ndarray, sentences: np.ndarray) -> None:
        """Embed every staged frame into its rows of ``vectors`` / ``sentences``; remove the staging file."""
        if self._out is None or self._path is None:
            raise KBError("internal: LocalEmbedder.embed_into before start")
        self._out.close()
        if self._rows != vectors.shape[0]:
            raise KBError(f"internal: {self._rows} texts staged for {vectors.shape[0]} rows")
        decoder = msgspec.msgpack.Decoder(list[str])
        row = 0
        with open(self._path, "rb") as staged, tqdm(total=self._rows, desc="embedding", unit=" ent",
                                                     disable=not self.progress, mininterval=1.0) as bar:
            while header := staged.read(_FRAME.size):
                texts = decoder.decode(staged.read(_FRAME.unpack(header)[0]))
                vecs, pooled = self.encoder.encode_texts_pooled(texts, batch_size=self._job["batch_size"],
                                                                precision=self._job["precision"])
                vectors[row : row + len(texts)] = vecs
                sentences[row : row + len(texts)] = pooled
                row += len(texts)
                bar.update(len(texts))
        self._path.unlink()
        self._path = self._out = None

    def abort(self) -> None:
        """Close and remove the staging file after a failed build."""
        if self._out is not None:
            self._out.close()
        if self._path is not None:
            self._path.unlink(missing_ok=True)
        self._path = self._out = None
