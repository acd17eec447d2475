"""Checks and names settled before a run does any work: its directory's name, whether its head fits this
machine, whether its training data keep enough images per class, and a feature cache against the data
options given beside it."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re

from ..config import PAPER_EVALUATIONS, PAPER_HIDDEN_UNITS, PRESETS, SECTIONS, ExperimentConfig
from ..errors import ConfigError, FeatureCacheError

WHERE_ONLY = {
    "data": ("features", "dataset", "images", "test_images", "name"),
    "head": ("engine",),
    "ga": ("encoding",),
    "run": ("seed", "out", "workers", "scheduler"),
}
"""Keys a run's directory name leaves out of its suffix: the source, encoding and seed are its stem, and
where heads train (workers, scheduler, engine) never changes the results."""
CACHE_KEYS = (
    "backbone",
    "weights",
    "image_size",
    "split_seed",
    "val_fraction",
    "test_fraction",
    "train_subset",
)
"""[data] keys a feature cache fixes (they are the cache's own, see :func:`check_against_cache`)."""
LABELS = {
    "image_size": "px",
    "split_seed": "split",
    "val_fraction": "val",
    "test_fraction": "test",
    "train_subset": "subset",
    "holdout_fraction": "holdout",
    "ood_max_images": "oodmax",
    "hidden_units": "h",
    "max_epochs": "epochs",
    "learning_rate": "lr",
    "batch_size": "batch",
    "population": "pop",
    "evaluations": "evals",
    "mutation_prob": "mut",
    "init_density": "density",
    "in_flight": "inflight",
    "ood_temperature": "T",
    "folds": "cv",
    "reevaluate": "reeval",
    "protocol": "protocol-",
    "weights": "weights-",
    "ood_dataset": "ood-",
    "ood_images": "ood-",
    "ood_features": "ood-",
}
"""Short prefixes of a value in a run directory's suffix (other keys: ``<key><value>``; backbone, fitness
seeds, objectives and OOD score: the value alone)."""
BARE = ("backbone", "seeds", "objectives", "ood_score")
MOST_LABELS = 3


def _resolved(tables: dict, encoding: str) -> dict:
    """Config tables with the widths and budget the encoding resolves to."""
    tables = {name: dict(table) for name, table in tables.items()}
    tables["head"]["hidden_units"] = list(tables["head"]["hidden_units"] or PAPER_HIDDEN_UNITS[encoding])
    tables["ga"]["evaluations"] = tables["ga"]["evaluations"] or PAPER_EVALUATIONS[encoding]
    return tables


def _preset_tables(preset: str) -> dict:
    """A preset's tables over the defaults (not validated: only compared)."""
    tables = {name: {f.name: f.default for f in dataclasses.fields(cls)} for name, cls in SECTIONS.items()}
    for name, values in PRESETS[preset].items():
        tables[name].update(values)
    return tables


def _differences(config: ExperimentConfig, preset: str) -> list:
    encoding = config.ga.encoding
    base, mine = _resolved(_preset_tables(preset), encoding), _resolved(config.to_dict(), encoding)
    found, skipped = [], {table: set(keys) for table, keys in WHERE_ONLY.items()}
    if config.data.features is not None:
        skipped["data"] |= set(CACHE_KEYS)
    for table, values in mine.items():
        for key, value in values.items():
            if key not in skipped.get(table, ()) and value != base[table].get(key):
                found.append((key, value))
    return found


def _label(key: str, value) -> str:
    if isinstance(value, (list, tuple)):
        value = ("x" if key == "hidden_units" else "-").join(map(str, value))
    elif isinstance(value, str) and key in ("weights", "ood_images", "ood_features"):
        value = os.path.splitext(os.path.basename(os.path.normpath(value)))[0]
    elif isinstance(value, bool) or value is None:
        value = str(value).lower()
    text = str(value) if key in BARE else LABELS.get(key, key) + str(value)
    return re.sub(r"[^A-Za-z0-9.+-]+", "-", text)


def run_suffix(config: ExperimentConfig) -> str:
    """What a run's directory name adds to ``<source>_<encoding>_seed<seed>``: ``""`` for a preset's own
    settings, else the preset (``paper``) and what differs from it, e.g. ``_split1``, ``_inflight2``,
    ``_common_repeats3``, ``_paper``; more than three differences: the first two and a hash of all."""
    presets = sorted(PRESETS, key=lambda name: (len(_differences(config, name)), name != "quick"))
    differences = _differences(config, presets[0])
    labels = ([presets[0]] if presets[0] != "quick" else []) + [_label(k, v) for k, v in differences]
    if len(labels) > MOST_LABELS or len("_".join(labels)) > 48:
        digest = hashlib.sha256(json.dumps([presets[0], differences], default=str).encode()).hexdigest()
        labels = labels[:2] + [digest[:8]]
    return "".join("_" + label for label in labels)


def check_head_fits(config: ExperimentConfig, n_features: int, n_classes: int, n_train: int) -> None:
    """Refuse a head that would not fit this machine's memory (half of it, or of a GPU's free memory),
    naming the widest head of this depth that fits."""
    from ..head.trainer import head_bytes

    widths = tuple(config.hidden_units)
    limit = _memory_limit(config)
    if limit is None:
        return

    def need(width_list):
        return head_bytes((n_features, *width_list, n_classes), n_train, config.head.batch_size)

    if need(widths) <= limit:
        return
    low, high = 1, max(widths)
    while low < high:  # the widest equal widths that fit
        middle = (low + high + 1) // 2
        low, high = (middle, high) if need((middle,) * len(widths)) <= limit else (low, middle - 1)
    fits = ",".join([str(low)] * len(widths))
    raise ConfigError(
        f"hidden_units={list(widths)}: training one head of {n_features} -> "
        f"{' -> '.join(map(str, widths))} -> {n_classes} takes about {need(widths) / 2**30:.1f} GB, more "
        f"than this machine allows per head ({limit / 2**30:.1f} GB: half its memory, shared by the "
        f"workers training at once); use at most --hidden-units {fits}."
    )


def _memory_limit(config: ExperimentConfig) -> int | None:
    """Bytes one head may take: half a GPU's free memory, or half this machine's memory shared by the local
    workers that train a head each at once; None where it cannot be known (a remote --scheduler)."""
    import jax

    from ..evaluation.setup import resolve_workers

    if config.run.scheduler is not None:
        return None
    stats = jax.devices()[0].memory_stats() or {}
    if "bytes_limit" in stats:
        return int(0.5 * (stats["bytes_limit"] - stats.get("bytes_in_use", 0)))
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not Linux: nothing to check against
        return None
    return int(0.5 * memory / resolve_workers(config.run.workers))


MIN_TRAIN_PER_CLASS = 2
"""Training images each class keeps after the hold-out (a head learns nothing of a class it never sees)."""


def check_training_images(config: ExperimentConfig, feature_set) -> None:
    """Refuse a hold-out that leaves a class with fewer than :data:`MIN_TRAIN_PER_CLASS` training images."""
    import numpy as np

    fraction = config.data.holdout_fraction
    if fraction == 0:
        return
    for split in feature_set.splits:
        counts = np.bincount(feature_set.labels[split.train], minlength=feature_set.n_classes)
        if counts.min() < MIN_TRAIN_PER_CLASS:
            name = feature_set.class_names[int(counts.argmin())]
            raise ConfigError(
                f"holdout_fraction={fraction} leaves class {name!r} {int(counts.min())} training "
                f"image(s) (at least {MIN_TRAIN_PER_CLASS} must train); lower --holdout-fraction "
                "(e.g. 0.15) or use more images."
            )


def check_against_cache(config: ExperimentConfig, given: set, metadata: dict) -> ExperimentConfig:
    """With ``[data] features``, the [data] keys ``given`` (on the command line) must agree
    with the cache; the config returned holds the cache's values, so its config.toml says what the run used.

    Raises
    ------
    FeatureCacheError
        A given key that contradicts the cache, or one a cache makes meaningless (images, dataset...).
    """
    key = metadata.get("key", {})
    cached = {
        "backbone": metadata.get("backbone", key.get("backbone")),
        "image_size": key.get("image_size", metadata.get("image_size")),
        "split_seed": key.get("seed"),
        "val_fraction": key.get("val_fraction"),
        "test_fraction": key.get("test_fraction"),
        "weights": key.get("weights"),
    }
    path = config.data.features
    for name in ("dataset", "images", "test_images", "train_subset", "name"):
        if name in given:
            option = "--" + name.replace("_", "-")
            raise FeatureCacheError(
                f"{option} has no effect with --features {path!r}: the cache's images were chosen when "
                f"it was extracted; drop {option}, or drop --features to extract from it."
            )
    for name, value in cached.items():
        if name in given and value is not None and getattr(config.data, name) != _comparable(name, value):
            option = "--" + name.replace("_", "-")
            raise FeatureCacheError(
                f"{option} {getattr(config.data, name)} contradicts --features {path!r}, made with "
                f"{name} = {value!r}; drop {option} (the cache decides), or extract a cache with it."
            )
    used = {name: _comparable(name, value) for name, value in cached.items() if value is not None}
    used.update(dataset=None, images=None, test_images=None, train_subset=None, name=None)
    return config.replace(data=used)


def _comparable(name: str, value):
    """A cache key's value as the config holds it (``imagenet`` weights are the config's default)."""
    if name == "weights" and value == "imagenet":
        return None
    return value
