"""Mention detection with the GLiNER span bi-encoder.

Label vectors are computed once per label string and cached (in memory, and on
disk under ``label_cache_dir`` for big label sets), so a call's cost hardly
depends on how many labels there are. Only each span's best label is kept: up to
``label_index_min_labels`` labels, scores are taken block by block over the labels,
never a (spans × labels) tensor beyond ``score_budget`` elements; from there up, a
maximum-inner-product index over the label vectors (:mod:`glinker.detection.label_index`)
answers "which label scores highest for this span" without scoring every label, for all the
spans of an encoder batch in one search, and searches hard only for the spans that come near
the threshold.
"""

from __future__ import annotations

import bisect
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from glinker.detection.label_index import KINDS
from glinker.detection.labels import CATCH_ALL_LABELS, DEFAULT_LABELS, LabelScoring, _LabelSet
from glinker.errors import InputError
from glinker.model.checkpoint import BiEncoderBundle, load_checkpoint
from glinker.model.decode import ScoredSpan, SpanBoundaries, greedy_decode
from glinker.model.inputs import Window, Words, collate_windows, make_windows, split_words, word_token_ids
from glinker.model.label_tower import PRECISIONS, encode_label_texts, int8_label_model
from glinker.model.runtime import accelerated_model, check_runtime
from glinker.types import Mention

logger = logging.getLogger(__name__)

class BiEncoderDetector(LabelScoring):
    """Detects typed mentions and returns them with their span vectors.

    Args:
        model: A checkpoint folder path, or an already loaded :class:`BiEncoderBundle`.
            ``None`` loads the project's default model.
        labels: Default label set used when :meth:`detect` gets none.
        threshold: Minimum sigmoid score of a span.
        flat_ner: Reject overlapping spans (else only partial overlaps).
        batch_size: Windows per encoder call.
        max_words: Word budget of one window (default: the checkpoint's ``max_len``).
        max_tokens: Sub-token budget of one window (default: the encoder's positions).
        label_cache_dir: Folder for on-disk label vector caches (used from
            ``disk_cache_min_labels`` labels up).
        score_budget: Largest number of span×label scores held at once.
        label_index_min_labels: From this many labels up, each span's best label comes
            from a maximum-inner-product index over the label vectors instead of
            scoring every label. Blocked scoring grows linearly with the label count: at
            10^4 labels it took 120-190 µs per span against 24-29 for the index, 0.55× the
            1-label throughput against 0.8× (``benchmarks/bench_labels.py`` measures both).
        label_index: ``"hnsw"`` (approximate: a shallow graph walk per span, a deep one for
            the few near the threshold; it can miss a span's best label, measured by
            ``benchmarks/bench_label_index.py``), ``"ivf"`` (exact for every span above the
            threshold; spans and label lists that cannot pass it are skipped by a bound, fast
            only where that bound is tight) or ``"flat"`` (exact, no faster than blocked
            scoring). Built once per label set; with ``label_cache_dir`` it is cached on disk
            next to the label vectors.
        label_index_ef_search: HNSW search depth of the deep walk (``"hnsw"`` only). 64 found
            the exact best label for 99.0 % of the spans above threshold (10^5 real labels, 38k
            CoNLL spans); 128 gives 99.6 %, and costs little since few spans walk deep.
        num_threads: torch intra-op threads (``None`` leaves torch's setting).
        span_boundaries: Refuse spans across brackets, quotes, line breaks and sentence ends
            (:class:`~glinker.model.decode.SpanBoundaries`); off reproduces GLiNER's decoding exactly.
        broad_labels: Label names (case-insensitive) that may yield to a narrower label (see
            ``specific_ratio``). Default: the catch-alls only (miscellaneous, misc, else, other, entity,
            thing; ``CATCH_ALL_LABELS``), as linking uses them: with person, organization and location
            broad too (``BROAD_LABELS``, what ``glinker.evaluate ner`` uses, where CrossNER asks for
            "politician" beside "person"), a person becomes a "film" whenever both are asked for, since
            their label vectors lie at cosine 0.64.
        specific_ratio: Prefer specific labels. A span whose best label is broad takes the best
            label that narrows it (see ``specific_similarity``) when that label's probability is
            at least this fraction of the broad one's (``None`` or 0: always the best label,
            GLiNER's rule). Spans are scored independently per label, and a broad label is
            learned from far more examples than "politician" or "political party", so it wins
            for spans the user would call by the narrower name; when both are offered, the
            narrower one is what was asked for. Which spans are kept and their ``score`` (the
            best label's probability) do not change, only the label. Label sets large enough
            for a label index are not affected.
        specific_similarity: A specific label narrows a broad one when their label vectors'
            cosine is at least this: with the default model "politician", "writer",
            "scientist" lie at 0.72-0.85 from "person", "political party" and "university"
            at 0.64-0.69 from "organization", while "group", "corporation" and "product"
            (WNUT-17, not kinds of person) lie at 0.42-0.47. Chosen on CrossNER dev with the
            ratio: ratio 0.1 / similarity 0.55 gave 32.5 average F1 on 400 sentences per
            domain against 17.6 with argmax decoding (no similarity gate: 29.3, and WNUT-17
            lost two thirds of its F1); label sets with no broad or no specific label are unchanged.
        runtime: How the text tower runs: ``"torch"`` or ``"onnx"`` (ONNX Runtime, an optional
            dependency; see :mod:`glinker.model.runtime`).
        quantize: ``None`` (fp32) or ``"int8"`` (dynamic int8 linear layers of the text tower).
        label_runtime: How the label tower runs when it encodes mention names and the reranker's
            context windows (``encode_texts_pooled`` without ``precision``).
        label_quantize: ``None`` or ``"int8"`` for those encodings. Label vectors (``encode_texts``)
            and explicit ``precision`` requests always use the torch model as asked.
        onnx_cache_dir: Folder of the ONNX exports (default ``cache_dir()/onnx``).

    Pass a label set that does not change between calls as a tuple: its prepared
    vectors / index are then found by identity, without comparing 10^6 strings.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | BiEncoderBundle | None = None,
        labels: Sequence[str] = DEFAULT_LABELS,
        threshold: float = 0.5,
        flat_ner: bool = True,
        batch_size: int = 8,
        max_words: int | None = None,
        max_tokens: int | None = None,
        label_cache_dir: str | os.PathLike[str] | None = None,
        disk_cache_min_labels: int = 10_000,
        score_budget: int = 16_000_000,
        label_index_min_labels: int = 10_000,
        label_index: str = "hnsw",
        label_index_ef_search: int = 128,
        num_threads: int | None = None,
        span_boundaries: bool = False,
        broad_labels: Sequence[str] = CATCH_ALL_LABELS,
        specific_ratio: float | None = 0.1,
        specific_similarity: float = 0.55,
        runtime: str = "torch",
        quantize: str | None = None,
        label_runtime: str = "torch",
        label_quantize: str | None = None,
        onnx_cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if model is None:
            from glinker.model.default import default_model_path

            model = default_model_path()
        self.bundle = model if isinstance(model, BiEncoderBundle) else load_checkpoint(model)
        self.model = self.bundle.model.eval()
        self.labels = list(labels)
        self.threshold = float(threshold)
        self.flat_ner = flat_ner
        self.span_boundaries = bool(span_boundaries)
        self.broad_labels = frozenset(lab.strip().lower() for lab in broad_labels)
        self.specific_ratio = float(specific_ratio or 0.0)
        if not 0.0 <= self.specific_ratio <= 1.0:
            raise InputError(f"detector specific_ratio must be in [0, 1] (or null), got {specific_ratio}")
        self.specific_similarity = float(specific_similarity)
        self.batch_size = int(batch_size)
        cfg = self.bundle.config
        self.max_words = int(max_words or cfg.max_len)
        positions = getattr(self.model.token_rep_layer.bert_layer.model.config, "max_position_embeddings", 512)
        self.max_tokens = int(max_tokens or min(512, positions))
        self.overlap = min(2 * cfg.max_width, self.max_words // 2)
        self.label_cache_dir = Path(label_cache_dir) if label_cache_dir else None
        self.disk_cache_min_labels = disk_cache_min_labels
        self.score_budget = int(score_budget)
        if label_index not in KINDS:
            raise InputError(f"detector label_index must be one of {', '.join(KINDS)}, got {label_index!r}")
        self.label_index_min_labels = int(label_index_min_labels)
        self.label_index = label_index
        self.label_index_ef_search = int(label_index_ef_search)
        self._label_cache: dict[str, np.ndarray] = {}
        self._int8_label_model: torch.nn.Module | None = None
        self._label_sets: list[_LabelSet] = []  # most recently used first
        if num_threads:
            torch.set_num_threads(int(num_threads))  # before the runtimes: ONNX Runtime takes the same count
        self.runtime = (runtime, check_runtime(runtime, quantize))
        self.label_runtime = (label_runtime, check_runtime(label_runtime, label_quantize, "detector label"))
        self.onnx_cache_dir = onnx_cache_dir
        # span scoring runs on this copy (the same weights, the text tower as configured)
        self._text_model = accelerated_model(self.model, {"text": self.runtime}, onnx_cache_dir)
        self._context_model: torch.nn.Module | None = None
        if not 0.0 < self.threshold < 1.0:
            raise InputError(f"detector threshold must be in (0, 1), got {threshold}")

    # --- identity -----------------------------------------------------------------
    @property
    def name(self) -> str:
        """Display name of the loaded checkpoint."""
        return self.bundle.name

    @property
    def fingerprint(self) -> str:
        """Hash of all weights: a KB's embeddings are valid only for the same value."""
        return self.bundle.fingerprint

    @property
    def dim(self) -> int:
        """Width of span and label vectors."""
        return self.bundle.config.hidden_size

    # --- label side ------------------------------------------------------------------
    @torch.inference_mode()
    def encode_texts(self, texts: Sequence[str], batch_size: int = 64, max_length: int = 128) -> np.ndarray:
        """Label-tower vectors P (after ``prompt_rep_layer``) for arbitrary strings.

        Used for labels and for entity texts (``"{label}: {description}"``).
        Texts are sorted by length so batches carry little padding.
        """
        return self.encode_texts_pooled(texts, batch_size, max_length, precision="fp32")[0]

    def encode_texts_pooled(
        self, texts: Sequence[str], batch_size: int = 64, max_length: int = 128, precision: str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(P, E): span-space vectors and the label tower's mean-pooled sentence embeddings.

        E (before ``prompt_rep_layer``) is a sentence embedding in the label encoder's own
        space (all-MiniLM-L6-v2 for the default model), used for context similarity.
        Texts are batched by token length (see :mod:`glinker.model.label_tower`).
        ``precision="int8"`` uses a dynamically quantised copy of the label encoder:
        faster, lossy (for bulk KB embedding when exactness can be traded). ``None``: the
        detector's ``label_runtime`` / ``label_quantize`` (mention names, context windows).
        """
        if precision is None:
            if self._context_model is None:
                self._context_model = accelerated_model(self.model, {"label": self.label_runtime},
                                                        self.onnx_cache_dir)
            model = self._context_model
        elif precision == "fp32":
            model = self.model
        elif precision == "int8":
            if self._int8_label_model is None:
                self._int8_label_model = int8_label_model(self.model)
            model = self._int8_label_model
        else:
            raise InputError(f"unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
        return encode_label_texts(model, self.bundle.labels_tokenizer, texts, batch_size=batch_size,
                                  max_length=max_length)

    @torch.inference_mode()
    def detect(self, texts: Sequence[str], labels: Sequence[str] | None = None) -> list[list[Mention]]:
        """Detect mentions in each text.

        Returns one list per text, sorted by position; each :class:`Mention` carries
        its span vector (``vector``) for dense retrieval.
        """
        lset = self._label_set(labels)
        words, doc_windows = self._windows(texts)
        windows = [w for ws in doc_windows for w in ws]
        per_doc: list[list[ScoredSpan]] = [[] for _ in texts]
        vectors: list[np.ndarray] = []
        windows.sort(key=lambda w: len(w.token_ids))
        pad_id = self.bundle.tokenizer.pad_token_id or 0
        logit_cut = math.log(self.threshold / (1.0 - self.threshold))
        bounds = ([SpanBoundaries(t, w.tokens, w.starts, w.ends) for t, w in zip(texts, words)]
                  if self.span_boundaries else None)
        for s in range(0, len(windows), self.batch_size):
            chunk = windows[s : s + self.batch_size]
            batch = collate_windows(chunk, pad_id)
            states = self._text_model.word_states(batch.input_ids, batch.attention_mask, batch.words_mask,
                                                  batch.num_words)
            # only spans inside the text and starting in their window's core are scored: padding
            # and overlap slots would cost hidden rows and label scores (index queries) for nothing
            owned = self._owned_spans(chunk, batch.lengths, states.shape[1], self.model.max_width)
            if bounds is not None:  # nor are the spans the boundary rule refuses (most, in tables and lists)
                owned &= torch.from_numpy(np.stack([bounds[w.doc].allows_grid(w.start, *owned.shape[1:])
                                                    for w in chunk]))
            spans_at = torch.nonzero(owned)  # (N, 3): b, i, k
            hidden = self.model.span_hidden_at(states, spans_at)  # (N, 4D): span vectors are one Linear away
            if lset.vectors is not None and 3 * lset.vectors.shape[0] < 4 * self.dim:
                # few labels: score the hidden rows against P·W_out (C, 4D) and build span vectors
                # only for the kept spans, instead of a (4D -> D) Linear over every span
                best, arg = self._best_labels_from_hidden(hidden, lset.vectors)
                keep = best > logit_cut
                kept_vecs = self.model.span_out(hidden[keep]).float().numpy()
            else:
                spans = self.model.span_out(hidden)
                best, arg = self._best_labels(spans, lset, logit_cut)
                keep = best > logit_cut
                kept_vecs = spans[keep].float().numpy()
            kept_best = best[keep]
            kept_arg = self._prefer_specific(torch.from_numpy(kept_vecs), kept_best, arg[keep], lset)
            for (b, i, k), lab, score, vec in zip(spans_at[keep].tolist(), kept_arg.tolist(),
                                                  torch.sigmoid(kept_best).tolist(), kept_vecs):
                win = chunk[b]
                per_doc[win.doc].append(ScoredSpan(win.start + i, win.start + i + k, lab, score, len(vectors)))
                vectors.append(vec.copy())
        results: list[list[Mention]] = []
        for d, cands in enumerate(per_doc):
            w = words[d]
            mentions = []
            for sp in greedy_decode(cands, flat=self.flat_ner):
                start, end = w.starts[sp.start], w.ends[sp.end]
                mentions.append(Mention(start, end, texts[d][start:end], lset.names[sp.label], sp.score,
                                        vectors[sp.ref]))
            results.append(mentions)
        return results

    @staticmethod
    def _owned_spans(chunk: list[Window], lengths: list[int], n_words: int, width: int) -> torch.Tensor:
        """(B, L, K) mask of the spans each window scores: inside its words, starting in its core."""
        i = torch.arange(n_words).view(1, -1, 1)
        k = torch.arange(width).view(1, 1, -1)
        n = torch.tensor(lengths).view(-1, 1, 1)
        lo = torch.tensor([w.core_start - w.start for w in chunk]).view(-1, 1, 1)
        hi = torch.tensor([w.core_end - w.start for w in chunk]).view(-1, 1, 1)
        return (i + k < n) & (i >= lo) & (i < hi)

    @torch.inference_mode()
    def encode_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], labels: Sequence[str] | None = None
    ) -> list[list[Mention]]:
        """Mentions for given character spans (gold mentions): span vector, best label and its score.

        Spans are widened to whole words; a span longer than ``max_width`` words is
        represented by its first ``max_width`` words.
        """
        lset = self._label_set(labels)
        words, per_doc_windows = self._windows(texts)
        wanted: dict[int, list[tuple[int, int, int]]] = {}  # window index -> (span index, word i, width k)
        windows = []
        results: list[list[Mention | None]] = [[None] * len(s) for s in spans]
        for d, doc_windows in enumerate(per_doc_windows):
            w = words[d]
            for j, (cs, ce) in enumerate(spans[d]):
                first = bisect.bisect_right(w.ends, cs)  # first word ending after the span starts
                last = bisect.bisect_left(w.starts, ce) - 1  # last word starting before it ends
                if first > last:
                    continue
                for win in doc_windows:
                    if win.core_start <= first < win.core_end:
                        key = len(windows) + doc_windows.index(win)
                        width = min(last - first, self.model.max_width - 1, win.end - 1 - first)
                        wanted.setdefault(key, []).append((j, first - win.start, width))
                        break
            windows.extend(doc_windows)
        order = sorted(wanted)
        pad_id = self.bundle.tokenizer.pad_token_id or 0
        for s in range(0, len(order), self.batch_size):
            keys = order[s : s + self.batch_size]
            chunk = [windows[k] for k in keys]
            batch = collate_windows(chunk, pad_id)
            states = self._text_model.word_states(batch.input_ids, batch.attention_mask, batch.words_mask,
                                                  batch.num_words)
            reps = self.model.span_reps(states)
            where = [(b, j, i, k) for b, key in enumerate(keys) for j, i, k in wanted[key]]
            sel = reps[[w[0] for w in where], [w[2] for w in where], [w[3] for w in where]]  # (n, D)
            best, arg = self._best_labels(sel, lset)
            arg = self._prefer_specific(sel, best, arg, lset)
            for (b, j, _, _), lab, score, vec in zip(where, arg.tolist(), torch.sigmoid(best).tolist(),
                                                     sel.float().numpy()):
                doc = windows[keys[b]].doc
                cs, ce = spans[doc][j]
                results[doc][j] = Mention(cs, ce, texts[doc][cs:ce], lset.names[lab], score, vec.copy())
        # spans that cover no word (whitespace only) get a mention without a vector
        return [[m if m is not None else Mention(cs, ce, texts[d][cs:ce], lset.names[0], 0.0)
                 for m, (cs, ce) in zip(results[d], spans[d])] for d in range(len(texts))]

    @torch.inference_mode()
    def span_logits(self, text: str, labels: Sequence[str]) -> tuple[list[str], torch.Tensor]:
        """All span×label logits of a short text in one window: (words, (L, K, C)).

        For tests and analysis; raises if the text needs more than one window.
        """
        (words,), (wins,) = self._windows([text])
        if len(wins) != 1:
            raise InputError("span_logits needs a text that fits one window")
        batch = collate_windows(wins, self.bundle.tokenizer.pad_token_id or 0)
        states = self._text_model.word_states(batch.input_ids, batch.attention_mask, batch.words_mask,
                                              batch.num_words)
        spans = self.model.span_reps(states)[0]
        p = torch.from_numpy(self.label_vectors(labels))
        return words.tokens, torch.einsum("lkd,cd->lkc", spans, p)

    def _windows(self, texts: Sequence[str]) -> tuple[list[Words], list[list[Window]]]:
        """Words of each text and the encoder windows covering it."""
        words = [split_words(t) for t in texts]
        tok_ids = word_token_ids(self.bundle.tokenizer, [w.tokens for w in words])
        windows = [
            make_windows(d, ids, self.bundle.tokenizer, max_words=self.max_words, max_tokens=self.max_tokens,
                         overlap=self.overlap, pooling=self.bundle.config.subtoken_pooling)
            for d, ids in enumerate(tok_ids)
        ]
        return words, windows
