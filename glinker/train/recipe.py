"""One training run end to end: read corpora, add weak labels, prepare, train, export.

Plain arguments only; ``glinker/train/__main__.py`` fills them from ``glinker/conf/train.yaml``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from glinker.errors import InputError
from glinker.model.checkpoint import load_checkpoint
from glinker.model.default import create_initial_checkpoint
from glinker.train.batching import prepare_examples
from glinker.train.data import NerExample, labels_of, read_examples
from glinker.train.loop import TrainSettings, export, set_trainable, train

logger = logging.getLogger(__name__)

# Evaluation sets (CrossNER, dev/test splits, EL benchmarks) are never trained on: refused unless allowed.
_HELD_OUT = re.compile(r"crossner|(^|[/_.-])(dev|test|val?id)([/_.-]|$)|emerging\.(dev|test)|/el/", re.I)
_ALLOWED = re.compile(r"wikineural_en/val\.conllu$")  # WikiNeural val is a training set here (its test is not)

# A few natural-language alternatives per coarse type (used with probability synonym_prob).
SYNONYMS = {
    "person": ["person", "people", "human", "individual"],
    "organization": ["organization", "organisation", "institution"],
    "location": ["location", "place", "geographical location"],
    "miscellaneous": ["miscellaneous", "misc", "other"],
    "corporation": ["corporation", "company", "business"],
    "creative work": ["creative work", "work of art", "title"],
}


# The corpora's own (coarse) types; finer weak labels may demote them (TrainSettings.demote_prob).
COARSE = ("person", "organization", "location", "miscellaneous", "corporation", "group", "product", "creative work")


def check_trainable(path: str) -> None:
    """Raise if ``path`` looks like an evaluation split."""
    norm = path.replace(os.sep, "/")
    if _HELD_OUT.search(norm) and not _ALLOWED.search(norm):
        raise InputError(
            f"refusing to train on {path}: it looks like an evaluation split (CrossNER, dev/test, EL). "
            "Set allow_eval_data=true only if you really mean it."
        )


def load_corpora(paths: Sequence[str], root: Path, allow_eval_data: bool = False) -> list[NerExample]:
    """Read every training file (relative paths are under ``root``); missing files are an error."""
    examples: list[NerExample] = []
    for p in paths:
        full = Path(p) if Path(p).is_absolute() else root / p
        if not allow_eval_data:
            check_trainable(str(p))
        exs = read_examples(full)
        logger.info("%s: %d sentences, %d spans, labels %s", p, len(exs), sum(len(e.spans) for e in exs),
                    labels_of(exs)[:12])
        examples.extend(exs)
    return examples


def run_training(
    *,
    datasets: Sequence[str],
    data_root: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    settings: TrainSettings,
    init: str | None = None,
    resume: bool = False,
    weak_dump: str | None = None,
    weak_popularity: str | None = None,
    weak_max_per_span: int = 2,
    weak_descriptions: bool = False,
    weak_concepts: bool = False,
    weak_roles: bool = False,
    silver_spacy: str | None = None,
    synthetic_items: int = 0,
    synthetic_per_text: int = 3,
    train_text_embeddings: bool = False,
    train_text_layers: bool = True,
    train_label_tower: bool = False,
    max_words: int = 128,
    max_tokens: int = 256,
    num_threads: int = 2,
    install: str | None = None,
    name: str = "glinker-minilm-bi-v0",
    allow_eval_data: bool = False,
    progress: bool = True,
    mixture: Sequence[Mapping] | None = None,
    family_positives: bool = False,
) -> dict:
    """Train a span bi-encoder and export it (fp16 delta) to ``out_dir/final`` (and ``install``).

    With ``mixture`` (a list of ``{name, format, files, weight}``, :mod:`glinker.train.mixture`) the
    examples are drawn from those corpora by weight, ``steps * batch_size`` in all, and ``datasets``
    is not used; compatible names (:func:`glinker.train.label_names.compatible_names`) are never
    each other's negatives.
    """
    torch.set_num_threads(num_threads)
    t0 = time.time()
    root = Path(data_root)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    compatible = None
    mixture_stats = None
    if mixture:
        from glinker.train.label_names import compatible_names
        from glinker.train.mixture import Source, build_mixture

        sources = [Source.from_mapping(m) for m in mixture]
        examples, mixture_stats = build_mixture(sources, root, settings.steps * settings.batch_size,
                                                seed=settings.seed,
                                                check=None if allow_eval_data else check_trainable,
                                                family_positives=family_positives)
        compatible = compatible_names()
    else:
        examples = load_corpora(datasets, root, allow_eval_data)
    dump = root / weak_dump if weak_dump else None  # root / an absolute path is that path
    pop = root / weak_popularity if weak_popularity else None
    if dump:
        from glinker.train.weak import add_weak_labels, load_class_index

        index = load_class_index(dump, pop, descriptions=weak_descriptions)
        examples, counts = add_weak_labels(examples, index, weak_max_per_span)
        logger.info("weak labels: %d spans added, %d class names", sum(counts.values()), len(counts))
        if weak_concepts:
            from glinker.train.weak import add_concept_spans

            concept_index = load_class_index(dump, pop, concepts=True)
            examples, counts = add_concept_spans(examples, concept_index, max_per_span=1)
            logger.info("concept spans: %d added, %s", sum(counts.values()), counts.most_common(8))
        if weak_roles:
            from glinker.train.weak import add_concept_spans, load_role_index

            examples, counts = add_concept_spans(examples, load_role_index(dump), max_per_span=1)
            logger.info("role spans: %d added", sum(counts.values()))
    if silver_spacy:
        from glinker.train.silver import add_silver_labels

        examples, counts = add_silver_labels(examples, silver_spacy)
    if synthetic_items:
        if not dump:
            raise InputError("synthetic.items needs a Wikidata dump: set weak_labels.dump")
        from glinker.train.synthetic import synthetic_examples

        synth, _ = synthetic_examples(dump, pop, max_items=synthetic_items, per_text=synthetic_per_text,
                                      seed=settings.seed)
        examples = examples + synth
    start = Path(init) if init else out / "init"
    if not init and not (start / "gliner_config.json").exists():
        create_initial_checkpoint(start, seed=settings.seed)
    bundle = load_checkpoint(start)
    set_trainable(bundle.model, train_text_embeddings=train_text_embeddings, train_text_layers=train_text_layers,
                  train_label_tower=train_label_tower)
    cfg = bundle.config
    data = prepare_examples(examples, bundle.tokenizer, max_width=cfg.max_width, max_words=max_words,
                            max_tokens=max_tokens, pooling=cfg.subtoken_pooling)
    pool = labels_of(examples)
    n_train = sum(p.numel() for p in bundle.model.parameters() if p.requires_grad)
    logger.info("%d training examples, %d label names, %d trainable parameters; setup %.0fs",
                len(data), len(pool), n_train, time.time() - t0)
    summary = train(bundle, data, out, settings, negative_pool=pool, synonyms=SYNONYMS, coarse=COARSE,
                    compatible=compatible, resume=resume,
                    progress=progress, export_name=name)
    final = export(bundle, out / "final", name)
    if install:
        card = Path(install) / "MODEL_CARD.md"
        text = card.read_text(encoding="utf-8") if card.is_file() else None
        export(bundle, install, name)  # replaces the folder
        if text is not None:
            card.write_text(text, encoding="utf-8")
    summary.update({"examples": len(data), "labels": len(pool), "trainable_parameters": n_train,
                    "wall_seconds": time.time() - t0, "export": str(final)})
    if mixture_stats is not None:
        summary["mixture"] = mixture_stats
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def export_from_state(init: str | os.PathLike[str], state_path: str | os.PathLike[str], out: str | os.PathLike[str],
                      *, name: str = "glinker-minilm-bi-v0", half: bool = True, omit_base_weights: bool = True):
    """Write a checkpoint folder from a training state file (``last.pt``) over its start checkpoint.

    ``half=False`` gives the fp32 weights (for the fp16-costs-nothing check);
    ``omit_base_weights=False`` a full checkpoint the reference ``gliner`` package loads without our loader.
    """
    from glinker.model.checkpoint import save_checkpoint

    bundle = load_checkpoint(init)
    state = torch.load(state_path, map_location="cpu", weights_only=True)
    bundle.model.load_state_dict(state["model"])
    bundle.model.eval()
    return save_checkpoint(bundle, out, omit_base_weights=omit_base_weights, half=half,
                           extra_config={"glinker_name": name})
