"""Label sets for the span bi-encoder: label vectors (cached in memory and on disk), a label index for
big sets, the broad-to-specific label preference, and each span's best label.

:class:`LabelScoring` is the part of :class:`glinker.detection.BiEncoderDetector` that deals with labels;
it needs the detector's ``model``, ``label_cache_dir``, ``score_budget`` and label-index settings.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from glinker.detection.label_index import LabelIndex
from glinker.errors import InputError

logger = logging.getLogger(__name__)


DEFAULT_LABELS = ("person", "organization", "location", "film", "country", "city", "award", "event", "work of art",
                  "nationality", "miscellaneous")
# Labels that name a broad class rather than a kind of thing: with ``specific_ratio`` a span whose
# best label is one of these takes the user's more specific label instead when that one is plausible.
BROAD_LABELS = ("person", "people", "organization", "organisation", "location", "place", "miscellaneous", "misc",
                "else", "other", "entity", "thing")
# The catch-all ones only: BiEncoderDetector's default and what linking uses (glinker/conf/detector/bi_encoder.yaml,
# glinker.load). With the linking labels (DEFAULT_LABELS) "person" lies at cosine 0.64 from "film", so with every
# broad label a person would be relabelled a film ("Arnold Schwarzenegger" -> film); "miscellaneous" still narrows
# to event, award, ... BROAD_LABELS is for label sets of kinds of the broad classes (CrossNER: politician, writer).
CATCH_ALL_LABELS = ("miscellaneous", "misc", "else", "other", "entity", "thing")


@dataclass(eq=False)
class _Yields:
    """Which labels a broad label may yield to, stored for the broad labels only (a few rows), not as a
    labels × labels matrix, which would take gigabytes for a large label set."""

    rows: torch.Tensor  # (C,) long: a label's row in ``allowed``; -1 when it yields to no label
    allowed: torch.Tensor  # (B, C) bool: broad label row b may yield to label s

    def __getitem__(self, key: tuple[int, int]) -> bool:
        b, s = key
        row = int(self.rows[b])
        return row >= 0 and bool(self.allowed[row, s])


@dataclass(eq=False)
class _LabelSet:
    """A label set ready for scoring: its vectors P (blocked scoring) or a label index."""

    names: tuple[str, ...]
    source: Sequence[str]  # the object the caller passed (identity shortcut for tuples)
    vectors: torch.Tensor | None = None
    index: LabelIndex | None = None
    broad: torch.Tensor | None = None  # (C,) bool: the label is broad (see BROAD_LABELS)
    yields: _Yields | None = None  # which labels each label may yield to; None: no preference


class LabelScoring:
    """Label vectors, label sets and best-label scoring (mixed into the bi-encoder detector)."""

    def label_vectors(self, labels: Sequence[str]) -> np.ndarray:
        """Cached P rows for ``labels`` (C, D)."""
        labels = list(labels)
        if self.label_cache_dir is not None and len(labels) >= self.disk_cache_min_labels:
            return self._disk_cached(labels)  # one matrix on disk rather than 10^5+ small arrays in memory
        missing = [lab for lab in dict.fromkeys(labels) if lab not in self._label_cache]
        if missing:
            vecs = self._disk_cached(missing)
            self._label_cache.update(zip(missing, vecs))
        return np.stack([self._label_cache[lab] for lab in labels]) if labels else np.zeros((0, self.dim), np.float32)

    def _disk_cached(self, labels: list[str]) -> np.ndarray:
        if self.label_cache_dir is None or len(labels) < self.disk_cache_min_labels:
            return self.encode_texts(labels)
        path = self._cache_path(labels, ".npy")
        if path.exists():
            arr = np.load(path, allow_pickle=False)
            if arr.shape == (len(labels), self.dim):
                return arr
        arr = self.encode_texts(labels)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}.npy")
        np.save(tmp, arr, allow_pickle=False)
        os.replace(tmp, path)
        return arr

    def _cache_path(self, labels: Sequence[str], suffix: str) -> Path:
        """Cache file of a label set for this model (``label_cache_dir`` must be set)."""
        key = hashlib.sha256(("\n".join(labels) + self.fingerprint).encode()).hexdigest()[:20]
        return self.label_cache_dir / f"labels-{key}{suffix}"

    def _label_set(self, labels: Sequence[str] | None) -> _LabelSet:
        """The scoring-ready form of ``labels`` (default: ``self.labels``), kept for the last two sets."""
        labels = self.labels if labels is None else labels
        hit = next((e for e in self._label_sets if e.source is labels and isinstance(labels, tuple)), None)
        if hit is None:
            names = tuple(labels)
            hit = next((e for e in self._label_sets if e.names == names), None)
            if hit is None:
                if not names:
                    raise InputError("no labels given: pass labels=[...] (e.g. person, organization, location)")
                if len(names) >= self.label_index_min_labels:
                    hit = _LabelSet(names, labels, index=self._build_label_index(names))
                else:
                    hit = _LabelSet(names, labels, vectors=torch.from_numpy(self.label_vectors(names)))
                    hit.yields = self._yields(names, hit.vectors)
            hit.source = labels
        self._label_sets = [hit] + [e for e in self._label_sets if e is not hit][:1]
        return hit

    def _build_label_index(self, names: tuple[str, ...]) -> LabelIndex:
        """The label index of a big label set, from the disk cache when there is one."""
        path = self._cache_path(names, f".{self.label_index}.faiss") if self.label_cache_dir else None
        if path is not None and path.exists():
            index = LabelIndex.load(path, self.label_index_ef_search)
            if len(index) == len(names) and index.dim == self.dim and index.kind == self.label_index:
                return index
            logger.warning("ignoring stale label index %s", path)
        logger.info("building a %s label index over %d labels", self.label_index, len(names))
        index = LabelIndex.build(self.label_vectors(names), self.label_index, ef_search=self.label_index_ef_search)
        if path is not None:
            index.save(path)
        return index

    # --- text side -------------------------------------------------------------------
    def _yields(self, names: Sequence[str], vectors: torch.Tensor) -> _Yields | None:
        """Broad label b may yield to specific label s when their vectors' cosine is high enough."""
        if not self.specific_ratio:
            return None
        broad = torch.tensor([n.strip().lower() in self.broad_labels for n in names])
        if not bool(broad.any()) or bool(broad.all()):
            return None
        unit = torch.nn.functional.normalize(vectors.float(), dim=1)
        idx = torch.nonzero(broad).squeeze(1)
        allowed = (unit[idx] @ unit.T >= self.specific_similarity) & ~broad[None, :]  # (B, C)
        keep = allowed.any(dim=1)
        if not bool(keep.any()):
            return None
        rows = torch.full((len(names),), -1, dtype=torch.long)
        rows[idx[keep]] = torch.arange(int(keep.sum()))
        return _Yields(rows, allowed[keep])

    def _prefer_specific(self, vecs: torch.Tensor, best: torch.Tensor, arg: torch.Tensor, lset: _LabelSet
                         ) -> torch.Tensor:
        """Labels after the specific-label preference (see ``specific_ratio``).

        ``vecs`` (N, D) span vectors, ``best`` (N,) their best logit, ``arg`` (N,) its label.
        Only spans whose best label yields to some label are rescored, against those labels.
        """
        if not self.specific_ratio or lset.yields is None or arg.numel() == 0:
            return arg
        rows = lset.yields.rows[arg]
        sel = rows >= 0
        if not bool(sel.any()):
            return arg
        allowed = lset.yields.allowed[rows[sel]]  # (n, C)
        logits = (vecs[sel].float() @ lset.vectors.T).masked_fill(~allowed, -math.inf)
        s_best, s_arg = logits.max(dim=1)
        ok = torch.sigmoid(s_best) >= self.specific_ratio * torch.sigmoid(best[sel].float())
        out = arg.clone()
        out[torch.nonzero(sel).squeeze(1)[ok]] = s_arg[ok]
        return out

    def _best_labels_from_hidden(
        self, hidden: torch.Tensor, label_p: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per span hidden row (N, 4D), the best label's logit and index, without the span vectors.

        ``s·p = (W·h + b)·p = h·(Wᵀp) + b·p``: the same logits as scoring :meth:`SpanBiEncoder.span_out`
        vectors (up to float rounding), at 4D·C instead of 4D·D + D·C multiplications per span.
        """
        out = self.model.span_rep_layer.span_rep_layer.out_project[3]
        q = label_p @ out.weight  # (C, 4D)
        c = label_p @ out.bias  # (C,)
        block = max(1, self.score_budget // max(1, q.shape[0]))
        parts = [(hidden[s : s + block] @ q.T + c).max(dim=1) for s in range(0, hidden.shape[0], block)]
        if not parts:
            return torch.zeros(0), torch.zeros(0, dtype=torch.long)
        return torch.cat([v for v, _ in parts]), torch.cat([i for _, i in parts])

    def _best_labels(self, spans: torch.Tensor, lset: _LabelSet, cut: float | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per span vector (N, D), the best label's logit and index: (N,), (N,).

        With a label index, one batched maximum-inner-product search over all the spans; else
        labels are scored in blocks of at most ``score_budget`` span×label scores. ``cut``: only
        spans whose best logit exceeds it are wanted (the detection threshold): a label index
        may then skip the others, whose logit comes back at or below ``cut``.
        """
        if lset.index is not None:
            best, arg = lset.index.best(spans.float().numpy(), cut)
            return torch.from_numpy(best), torch.from_numpy(arg)
        label_p = lset.vectors
        flat = spans.reshape(-1, spans.shape[-1])
        n_spans = flat.shape[0]
        block = max(1, self.score_budget // max(1, n_spans))
        best = torch.full((n_spans,), -math.inf)
        arg = torch.zeros((n_spans,), dtype=torch.long)
        for c in range(0, label_p.shape[0], block):
            scores = flat @ label_p[c : c + block].T
            val, idx = scores.max(dim=1)
            better = val > best
            best = torch.where(better, val, best)
            arg = torch.where(better, idx + c, arg)
        return best.view(spans.shape[:-1]), arg.view(spans.shape[:-1])

