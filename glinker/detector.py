"""Mention detection with the GLiNER span bi-encoder.

Label vectors are computed once per label string and cached (in memory, and on
disk under ``label_cache_dir`` for big label sets), so a call's cost hardly
depends on how many labels there are: scores are taken block by block over the
labels and only each span's best label is kept, never a (spans × labels) tensor
beyond ``score_budget`` elements.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from glinker.errors import InputError
from glinker.model.checkpoint import BiEncoderBundle, load_checkpoint
from glinker.model.decode import ScoredSpan, greedy_decode
from glinker.model.inputs import Window, Words, collate_windows, make_windows, split_words, word_token_ids
from glinker.types import Mention

logger = logging.getLogger(__name__)

DEFAULT_LABELS = ("person", "organization", "location", "film", "country", "city", "award", "event", "work of art")


class BiEncoderDetector:
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
        num_threads: torch intra-op threads (``None`` leaves torch's setting).
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
        num_threads: int | None = None,
    ) -> None:
        if model is None:
            from glinker.model.default import default_model_path

            model = default_model_path()
        self.bundle = model if isinstance(model, BiEncoderBundle) else load_checkpoint(model)
        self.model = self.bundle.model.eval()
        self.labels = list(labels)
        self.threshold = float(threshold)
        self.flat_ner = flat_ner
        self.batch_size = int(batch_size)
        cfg = self.bundle.config
        self.max_words = int(max_words or cfg.max_len)
        positions = getattr(self.model.token_rep_layer.bert_layer.model.config, "max_position_embeddings", 512)
        self.max_tokens = int(max_tokens or min(512, positions))
        self.overlap = min(2 * cfg.max_width, self.max_words // 2)
        self.label_cache_dir = Path(label_cache_dir) if label_cache_dir else None
        self.disk_cache_min_labels = disk_cache_min_labels
        self.score_budget = int(score_budget)
        self._label_cache: dict[str, np.ndarray] = {}
        if num_threads:
            torch.set_num_threads(int(num_threads))
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
        return self.encode_texts_pooled(texts, batch_size, max_length)[0]

    @torch.inference_mode()
    def encode_texts_pooled(
        self, texts: Sequence[str], batch_size: int = 64, max_length: int = 128
    ) -> tuple[np.ndarray, np.ndarray]:
        """(P, E): span-space vectors and the label tower's mean-pooled sentence embeddings.

        E (before ``prompt_rep_layer``) is a sentence embedding in the label encoder's own
        space (all-MiniLM-L6-v2 for the default model), used for context similarity.
        """
        p_out = np.zeros((len(texts), self.dim), dtype=np.float32)
        e_out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return p_out, e_out
        tok = self.bundle.labels_tokenizer
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            enc = tok([texts[i] for i in idx], padding=True, truncation=True, max_length=max_length, return_tensors="pt")
            emb = self.model.label_embeddings(enc["input_ids"], enc["attention_mask"])
            p_out[idx] = self.model.label_reps(emb).float().numpy()
            e_out[idx] = emb.float().numpy()
        return p_out, e_out

    def label_vectors(self, labels: Sequence[str]) -> np.ndarray:
        """Cached P rows for ``labels`` (C, D)."""
        labels = list(labels)
        missing = [lab for lab in dict.fromkeys(labels) if lab not in self._label_cache]
        if missing:
            vecs = self._disk_cached(missing)
            self._label_cache.update(zip(missing, vecs))
        return np.stack([self._label_cache[lab] for lab in labels]) if labels else np.zeros((0, self.dim), np.float32)

    def _disk_cached(self, labels: list[str]) -> np.ndarray:
        if self.label_cache_dir is None or len(labels) < self.disk_cache_min_labels:
            return self.encode_texts(labels)
        key = hashlib.sha256(("\n".join(labels) + self.fingerprint).encode()).hexdigest()[:20]
        path = self.label_cache_dir / f"labels-{key}.npy"
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

    # --- text side -------------------------------------------------------------------
    @torch.inference_mode()
    def detect(self, texts: Sequence[str], labels: Sequence[str] | None = None) -> list[list[Mention]]:
        """Detect mentions in each text.

        Returns one list per text, sorted by position; each :class:`Mention` carries
        its span vector (``vector``) for dense retrieval.
        """
        labels = list(labels) if labels is not None else self.labels
        if not labels:
            raise InputError("no labels given: pass labels=[...] (e.g. person, organization, location)")
        label_p = torch.from_numpy(self.label_vectors(labels))
        words, doc_windows = self._windows(texts)
        windows = [w for ws in doc_windows for w in ws]
        per_doc: list[list[ScoredSpan]] = [[] for _ in texts]
        vectors: list[np.ndarray] = []
        windows.sort(key=lambda w: len(w.token_ids))
        pad_id = self.bundle.tokenizer.pad_token_id or 0
        logit_cut = math.log(self.threshold / (1.0 - self.threshold))
        for s in range(0, len(windows), self.batch_size):
            chunk = windows[s : s + self.batch_size]
            batch = collate_windows(chunk, pad_id)
            states = self.model.word_states(batch.input_ids, batch.attention_mask, batch.words_mask, batch.num_words)
            spans = self.model.span_reps(states)  # (B, L, K, D)
            best, arg = self._best_labels(spans, label_p)
            for b, win in enumerate(chunk):
                n = batch.lengths[b]
                width = self.model.max_width
                valid = torch.zeros_like(best[b], dtype=torch.bool)
                for k in range(width):
                    valid[: max(0, n - k), k] = True
                core = torch.zeros_like(valid)
                core[win.core_start - win.start : win.core_end - win.start] = True
                keep = (best[b] > logit_cut) & valid & core
                for i, k in torch.nonzero(keep).tolist():
                    ref = len(vectors)
                    vectors.append(spans[b, i, k].float().numpy().copy())
                    score = float(torch.sigmoid(best[b, i, k]))
                    per_doc[win.doc].append(ScoredSpan(win.start + i, win.start + i + k, int(arg[b, i, k]), score, ref))
        results: list[list[Mention]] = []
        for d, cands in enumerate(per_doc):
            w = words[d]
            mentions = []
            for sp in greedy_decode(cands, flat=self.flat_ner):
                start, end = w.starts[sp.start], w.ends[sp.end]
                mentions.append(Mention(start, end, texts[d][start:end], labels[sp.label], sp.score, vectors[sp.ref]))
            results.append(mentions)
        return results

    @torch.inference_mode()
    def encode_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], labels: Sequence[str] | None = None
    ) -> list[list[Mention]]:
        """Mentions for given character spans (gold mentions): span vector, best label and its score.

        Spans are widened to whole words; a span longer than ``max_width`` words is
        represented by its first ``max_width`` words.
        """
        labels = list(labels) if labels is not None else self.labels
        label_p = torch.from_numpy(self.label_vectors(labels))
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
            states = self.model.word_states(batch.input_ids, batch.attention_mask, batch.words_mask, batch.num_words)
            reps = self.model.span_reps(states)
            best, arg = self._best_labels(reps, label_p)
            for b, key in enumerate(keys):
                win = windows[key]
                for j, i, k in wanted[key]:
                    cs, ce = spans[win.doc][j]
                    results[win.doc][j] = Mention(cs, ce, texts[win.doc][cs:ce], labels[int(arg[b, i, k])],
                                                  float(torch.sigmoid(best[b, i, k])), reps[b, i, k].float().numpy().copy())
        # spans that cover no word (whitespace only) get a mention without a vector
        return [[m if m is not None else Mention(cs, ce, texts[d][cs:ce], labels[0], 0.0)
                 for m, (cs, ce) in zip(results[d], spans[d])] for d in range(len(texts))]

    def _best_labels(self, spans: torch.Tensor, label_p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per span, the best label's logit and index, scoring labels in bounded blocks."""
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

    @torch.inference_mode()
    def span_logits(self, text: str, labels: Sequence[str]) -> tuple[list[str], torch.Tensor]:
        """All span×label logits of a short text in one window: (words, (L, K, C)).

        For tests and analysis; raises if the text needs more than one window.
        """
        (words,), (wins,) = self._windows([text])
        if len(wins) != 1:
            raise InputError("span_logits needs a text that fits one window")
        batch = collate_windows(wins, self.bundle.tokenizer.pad_token_id or 0)
        states = self.model.word_states(batch.input_ids, batch.attention_mask, batch.words_mask, batch.num_words)
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
