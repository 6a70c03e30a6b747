"""Entity embedding on a Ray cluster (``kb_build engine=ray``): Ray Data ``map_batches`` over an actor pool.

Embedding is the step of a KB build that grows past one machine first (docs/benchmark-history.md, "Cost model":
2.9 of the 5.4 hours of a full-Wikidata build on 16 cores). With :class:`RayEmbedder`,
:func:`kb_build.build.build_kb` still reads the dump and writes the LMDB store on the driver,
but only *stages* the entity texts (Parquet shards of ``row, text``); when the dump is read,
a Ray Data dataset of the shard paths (one block per shard) goes through a pool of actors,
each of which loads the model once and embeds one shard per call, and the driver writes every
returned row into the KB's vector files at its row number (so the order in which shards come
back does not matter). FAISS indexing and publishing then run as in a local build.

On one machine ``address=None`` starts a local Ray instance with the given number of actors.
On a cluster, ``address="auto"`` (or ``"ray://head:10001"``) joins it; every node must have
glinker installed (the actors load the model as ``glinker.detection.bi_encoder.BiEncoderDetector(model)``)
and ``stage_dir`` must be a shared filesystem path every node can read (e.g. NFS).
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from glinker.errors import KBError

logger = logging.getLogger(__name__)


class _EmbedActor:
    """One Ray actor: loads the encoder once, embeds the batches Ray Data hands it."""

    def __init__(self, model: str | None, num_threads: int, fingerprint: str, precision: str,
                 batch_size: int) -> None:
        from glinker.detection.bi_encoder import BiEncoderDetector

        self.encoder = BiEncoderDetector(model, num_threads=num_threads)
        if self.encoder.fingerprint != fingerprint:
            # a node with other weights under the same path would silently mix two embedding spaces
            raise KBError(f"Ray worker's model {model or '(packaged default)'} has fingerprint "
                          f"{self.encoder.fingerprint}, the build's is {fingerprint}: install the same model on "
                          "every node")
        self.precision = precision
        self.batch_size = batch_size

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import pyarrow.parquet as pq

        rows, vecs, pooled = [], [], []
        for path in batch["path"]:
            table = pq.read_table(str(path))
            texts = [str(t) for t in table.column("text").to_pylist()]
            v, p = self.encoder.encode_texts_pooled(texts, batch_size=self.batch_size, precision=self.precision)
            rows.append(table.column("row").to_numpy().astype(np.int64))
            vecs.append(np.asarray(v, dtype=np.float16))
            pooled.append(np.asarray(p, dtype=np.float16))
        return {"row": np.concatenate(rows), "vec": np.concatenate(vecs), "pooled": np.concatenate(pooled)}


class RayEmbedder:
    """Embeds a build's entity texts with Ray Data instead of in the reading process.

    Args:
        model: Checkpoint folder every actor loads (``None``: the packaged default model); it
            must be the model of the build's encoder (checked by fingerprint in each actor).
        address: Ray address (``None``: start a local instance; ``"auto"``: the running cluster).
        actors: Size of the actor pool (each holds one copy of the model).
        cpus_per_actor: CPUs Ray reserves per actor; also the actor's torch thread count.
        shard_rows: Entity texts per staged Parquet shard = per actor call (the unit of work;
            smaller shards spread a small KB over more actors, larger ones cost less overhead).
        stage_dir: Where the texts are staged (``None``: inside the build's temporary folder).
            On a multi-machine cluster, a shared filesystem path every node reads.
    """

    engine = "ray"

    def __init__(self, model: str | None = None, *, address: str | None = None, actors: int = 2,
                 cpus_per_actor: int = 1, shard_rows: int = 10_000, stage_dir: str | None = None) -> None:
        try:
            import pyarrow  # noqa: F401
            import ray  # noqa: F401
            import ray.data  # noqa: F401
        except ImportError as exc:
            raise KBError(f"engine=ray needs Ray Data ({exc}): pip install 'glinker-wikidata[distributed]'") from None
        if actors < 1 or cpus_per_actor < 1 or shard_rows < 1:
            raise KBError("ray.actors, ray.cpus_per_actor and ray.shard_rows must be ≥ 1")
        self.model = None if model is None else str(model)
        self.address = address
        self.actors = int(actors)
        self.cpus_per_actor = int(cpus_per_actor)
        self.shard_rows = int(shard_rows)
        self.stage_root = stage_dir
        self._dir: Path | None = None
        self._first_row = 0  # row of self._texts[0]: rows are staged in order, so a shard is a row range
        self._texts: list[str] = []
        self._shards = 0
        self._job: dict[str, Any] = {}

    def settings(self) -> dict[str, Any]:
        """What the manifest records about this engine."""
        return {"engine": self.engine, "address": self.address, "actors": self.actors,
                "cpus_per_actor": self.cpus_per_actor, "shard_rows": self.shard_rows}

    def start(self, build_dir: Path, *, fingerprint: str, precision: str, batch_size: int) -> None:
        """Begin staging for one build (``build_dir``: the build's temporary folder)."""
        root = Path(self.stage_root) if self.stage_root else build_dir
        self._dir = root / f"ray-texts-{uuid.uuid4().hex[:12]}"
        self._dir.mkdir(parents=True)
        self._first_row, self._texts, self._shards = 0, [], 0
        self._job = {"fingerprint": fingerprint, "precision": precision, "batch_size": batch_size}

    def stage(self, first_row: int, texts: Sequence[str]) -> None:
        """Queue ``texts`` as rows ``first_row …``; they are written out in Parquet shards."""
        if first_row != self._first_row + len(self._texts):
            raise KBError(f"internal: rows staged out of order (got row {first_row}, expected "
                          f"{self._first_row + len(self._texts)})")
        self._texts.extend(texts)
        if len(self._texts) >= self.shard_rows:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self._texts:
            return
        assert self._dir is not None
        rows = np.arange(self._first_row, self._first_row + len(self._texts), dtype=np.int64)
        table = pa.table({"row": pa.array(rows), "text": pa.array(self._texts, pa.string())})
        tmp = self._dir / f".part-{self._shards:06d}.parquet"
        pq.write_table(table, tmp)
        tmp.rename(self._dir / f"part-{self._shards:06d}.parquet")  # readers never see a half-written shard
        self._shards += 1
        self._first_row += len(self._texts)
        self._texts = []

    def embed_into(self, vectors: np.ndarray, sentences: np.ndarray) -> None:
        """Embed every staged row into ``vectors`` / ``sentences`` (``(n_rows, dim)`` arrays, e.g. memmaps)."""
        import ray

        self._flush()
        n_rows = vectors.shape[0]
        if self._first_row != n_rows:  # after the flush, every staged row is in a shard
            raise KBError(f"internal: {self._first_row} texts staged for {n_rows} rows")
        started_here = not ray.is_initialized()
        if started_here:
            kwargs: dict[str, Any] = {"address": self.address, "include_dashboard": False,
                                      "log_to_driver": False, "ignore_reinit_error": True}
            if self.address is None:
                # one CPU beyond the actors' for Ray Data's own tasks: with file reads feeding the pool, the
                # actors held every CPU and the reads were never scheduled (a hang, seen with read_parquet)
                kwargs["num_cpus"] = self.actors * self.cpus_per_actor + 1
            ray.init(**kwargs)
        done = np.zeros(n_rows, dtype=bool)
        try:
            shards = sorted(str(f) for f in self._dir.glob("part-*.parquet"))
            # one block per shard: Ray Data hands whole blocks to actors, so this is the parallelism
            ds = ray.data.from_items([{"path": f} for f in shards], override_num_blocks=len(shards))
            out = ds.map_batches(
                _EmbedActor,
                fn_constructor_kwargs={"model": self.model, "num_threads": self.cpus_per_actor, **self._job},
                batch_size=1, batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=self.actors), num_cpus=self.cpus_per_actor,
            )
            for batch in out.iter_batches(batch_size=None, batch_format="numpy"):
                rows = batch["row"]
                vectors[rows] = batch["vec"]
                sentences[rows] = batch["pooled"]
                done[rows] = True
        except KBError:
            raise
        except Exception as exc:  # Ray wraps worker errors in its own types; say what failed, keep the cause
            raise KBError(f"embedding on Ray failed: {type(exc).__name__}: {exc}") from exc
        finally:
            if started_here:
                ray.shutdown()
            shutil.rmtree(self._dir, ignore_errors=True)
        missing = int((~done).sum())
        if missing:
            raise KBError(f"embedding on Ray returned no vector for {missing} of {n_rows} entities")
        logger.info("embedded %d entities on Ray (%d actors)", n_rows, self.actors)

    def abort(self) -> None:
        """Remove staged texts after a failed build."""
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
