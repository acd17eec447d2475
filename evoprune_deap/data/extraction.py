"""Stream an :class:`ImageSource` through a backbone into a cached FeatureSet.

Images are decoded and embedded ``batch_size`` at a time, so memory does not
grow with the dataset. The backbone runs on the Keras backend that is fastest
for convolutions on CPU (TensorFlow, measured about 10x faster than JAX for
EfficientNet-Lite0 here); when the current process uses another backend, it
runs in the TensorFlow worker process (:mod:`evoprune_deap.tensorflow_worker`),
while the head training keeps its own. Inside
:func:`~evoprune_deap.tensorflow_worker.shared_tensorflow_worker` (every
``evoprune`` command, the test suite) the extractions of one process share
that worker and its last backbone.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import importlib.util
import itertools
import logging
import os
import time
from collections import deque
from typing import Callable

import numpy as np

from ..config import DataConfig
from ..errors import ConfigError, DatasetError, FeatureCacheError
from ..seeding import derive_seed, make_rng
from ..storage import cache_dir
from ..tensorflow_worker import BACKEND as CONVOLUTION_BACKEND
from ..tensorflow_worker import tensorflow_worker
from ..version import __version__
from .backbones import check_weights
from .features import FeatureSet
from .splits import make_splits

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 32

_worker_state: dict = {}  # in the worker: the source being extracted, and the last backbone built
_extractions = itertools.count()  # numbers each extraction, so the worker reopens the source of a new one


def default_cache_path(dataset: str, backbone: str, image_size: int, splits: DataConfig | None = None) -> str:
    """``$EVOPRUNE_CACHE_DIR`` (default ``~/.cache/evoprune-deap``)/features/<name>.npz.

    Splits other than the default (``splits``: its split seed, validation and test fractions) name their
    own cache, so a run with ``--split-seed 1`` never overwrites the cache every default run reads.
    """
    default, splits = DataConfig(), splits or DataConfig()
    suffix = "".join(
        f"-{label}{value:g}"
        for label, value, usual in (
            ("split", splits.split_seed, default.split_seed),
            ("val", splits.val_fraction, default.val_fraction),
            ("test", splits.test_fraction, default.test_fraction),
        )
        if value != usual
    )
    return cache_dir("features", f"{dataset}-{backbone}-{image_size}px{suffix}.npz")


def cache_key(
    source,
    backbone_name: str,
    weights: str | None,
    weights_sha256: str | None,
    image_size: int,
    seed: int,
    val_fraction: float,
    test_fraction: float,
) -> dict:
    """What must match for a cached FeatureSet to be reused."""
    return {
        "source": source.name,
        "source_fingerprint": source.fingerprint,
        "partition_kind": source.partition_kind,
        "backbone": backbone_name,
        "weights": weights or "imagenet",
        "weights_sha256": weights_sha256,
        "image_size": image_size,
        "seed": seed,
        "val_fraction": val_fraction,
        "test_fraction": test_fraction,
        "package_version": __version__,
    }


def _extract_in_worker(extraction: tuple, indices: np.ndarray) -> np.ndarray:
    """One batch of an extraction ``(number, spec, backbone, image_size, weights, weights_sha256)``.

    The source is opened at an extraction's first batch (its folder may have
    changed since the last one), so errors reach the user; the backbone is
    kept for the next extraction with the same name, size and weights file
    contents (``"none"``, random weights, is always built anew).
    """
    from .backbones import build_backbone
    from .images.sources import load_source

    number, spec, backbone, image_size, weights, weights_sha256 = extraction
    if _worker_state.get("number") != number:
        _worker_state.pop("source", None)
        _worker_state["source"], _worker_state["number"] = load_source(**spec), number
        net_key = (backbone, image_size, weights, weights_sha256)
        if _worker_state.get("net_key") != net_key or weights == "none":
            _worker_state.pop("net", None)  # one backbone in memory at a time
            _worker_state["net"], _worker_state["net_key"] = (
                build_backbone(backbone, image_size, weights),
                net_key,
            )
    return _worker_state["net"].extract(_worker_state["source"].load(indices, image_size))


def _use_worker(source) -> bool:
    if os.environ.get("KERAS_BACKEND") == CONVOLUTION_BACKEND or not source.spec:
        return False
    return importlib.util.find_spec(CONVOLUTION_BACKEND) is not None


def _batches(n_samples: int, batch_size: int):
    for begin in range(0, n_samples, batch_size):
        yield np.arange(begin, min(begin + batch_size, n_samples))


def embed_source(
    source,
    backbone: str,
    image_size: int,
    weights,
    batch_size: int,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, dict]:
    """Return features of shape (n_samples, n_features) and the backbone metadata."""
    from .backbones import build_backbone

    if not _use_worker(source):
        net = build_backbone(backbone, image_size, weights)
        features = np.empty((source.n_samples, net.n_features), dtype=np.float32)
        for index in _batches(source.n_samples, batch_size):
            features[index] = net.extract(source.load(index, image_size))
            if progress is not None:
                progress(len(index))
        return features, net.metadata()

    # The metadata is cheap to get here; the network itself lives in the worker.
    metadata = build_backbone_metadata(backbone, image_size, weights, None)
    extraction = (next(_extractions), source.spec, backbone, image_size, weights, metadata["weights_sha256"])
    features = None
    with tensorflow_worker() as worker:
        pending = deque()
        try:
            for index in _batches(source.n_samples, batch_size):
                pending.append((index, worker.submit(_extract_in_worker, extraction, index)))
                while len(pending) > 2 or (pending and index[-1] == source.n_samples - 1):
                    done_index, future = pending.popleft()
                    try:
                        batch = future.result()
                    except concurrent.futures.process.BrokenProcessPool as exc:
                        raise DatasetError(
                            f"The feature-extraction worker died ({exc}), most likely out of memory; run "
                            "the command again, with a smaller --image-size if it dies again."
                        ) from exc
                    if features is None:
                        features = np.empty((source.n_samples, batch.shape[1]), dtype=np.float32)
                    features[done_index] = batch
                    if progress is not None:
                        progress(len(done_index))
        finally:
            for _, future in pending:  # an error or Ctrl-C: the shared worker drops this extraction's batches
                future.cancel()
    return features, {**metadata, "n_features": features.shape[1]}


def build_backbone_metadata(backbone: str, image_size: int, weights, n_features: int) -> dict:
    """Metadata of a backbone built in another process (same keys as Backbone.metadata)."""
    from .backbones.efficientnet_lite0 import PREPROCESSING as EFFICIENTNET_PREPROCESSING
    from .backbones.efficientnet_lite0 import WEIGHTS_SHA256, file_sha256
    from .backbones.keras_applications import PREPROCESSING

    is_file = weights not in (None, "imagenet", "none") and os.path.isfile(str(weights))
    if backbone == "efficientnet_lite0":
        preprocessing = EFFICIENTNET_PREPROCESSING
        sha256 = file_sha256(weights) if is_file else WEIGHTS_SHA256
    else:
        preprocessing = PREPROCESSING[backbone]
        sha256 = file_sha256(weights) if is_file else None
    return {
        "backbone": backbone,
        "weights": weights or "imagenet",
        "weights_sha256": sha256,
        "image_size": image_size,
        "preprocessing": preprocessing,
        "n_features": n_features,
    }


def _check_overwritable(out: str) -> None:
    """The cache file may be replaced only if it is one (an .npz); any other file is the user's."""
    if not os.path.isfile(out):
        return
    with open(out, "rb") as stream:
        is_npz = stream.read(4) == b"PK\x03\x04"
    if not is_npz:
        raise FeatureCacheError(
            f"{out!r} exists and is not a feature cache (an .npz file), so it is not overwritten; "
            "write the cache to a new path (--out FEATURES.npz), or move that file away."
        )


_DEFAULTS = DataConfig()


def extract_features(
    source,
    backbone: str = _DEFAULTS.backbone,
    image_size: int = _DEFAULTS.image_size,
    weights: str | None = None,
    split_seed: int = _DEFAULTS.split_seed,
    val_fraction: float = _DEFAULTS.val_fraction,
    test_fraction: float = _DEFAULTS.test_fraction,
    out: str | None = None,
    reuse: bool = True,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
    expect_key: dict | None = None,
    check_splits: Callable[[tuple], None] | None = None,
) -> FeatureSet:
    """Turn an image source into a cached :class:`FeatureSet`.

    Parameters
    ----------
    source : ImageSource
        See :func:`evoprune_deap.data.images.sources.load_source`.
    backbone : str
        Name in :data:`evoprune_deap.config.BACKBONES`.
    image_size : int
        Images are resized to (image_size, image_size).
    weights : str or None
        Backbone weights (None: the default ImageNet weights).
    split_seed : int
        Seeds the stratified splits (not the run seed).
    val_fraction, test_fraction : float in (0, 1)
        Validation share of train; test share of all samples when the source
        has no test split.
    out : str or None
        Cache path; default :func:`default_cache_path`.
    reuse : bool
        Reuse a matching cache at ``out``; a cache made differently is rebuilt.
    batch_size : int
        Images decoded and embedded at a time (bounds memory).
    progress : callable or None
        Called with the number of images done after each batch; never called
        on a cache hit.
    expect_key : dict or None
        The cache key the caller needs (a resumed run's): if the source or
        settings give another, refuse before reading an image or touching
        the cache.
    check_splits : callable or None
        Called with the splits before any image is read (e.g. to refuse
        more cross-validation folds than a class has images).

    Returns
    -------
    FeatureSet
        ``metadata["cache_hit"]`` tells whether the cache was reused,
        ``metadata["cache_path"]`` where it is.

    Raises
    ------
    DatasetError, BackboneError, FeatureCacheError, ConfigError
    """
    data = DataConfig(  # validates every value
        backbone=backbone,
        weights=weights,
        image_size=image_size,
        split_seed=split_seed,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
    )
    _check_arguments(data, batch_size)
    seed = split_seed
    out = out or default_cache_path(source.name, backbone, image_size, data)
    planned = build_backbone_metadata(backbone, image_size, weights, n_features=0)
    key = cache_key(
        source, backbone, weights, planned["weights_sha256"], image_size, seed, val_fraction, test_fraction
    )

    _check_expected(key, expect_key, out)
    _check_overwritable(out)
    cached = _reusable(out, key) if reuse else None
    if cached is not None:
        return cached

    splits = _checked_splits(source, seed, val_fraction, test_fraction, check_splits)
    start = time.perf_counter()
    features, backbone_meta = embed_source(source, backbone, image_size, weights, batch_size, progress)
    seconds = time.perf_counter() - start
    if not np.isfinite(features).all():
        raise DatasetError(
            f"Backbone {backbone!r} produced NaN/Inf features for {source.name!r}; check the weights."
        )
    metadata = {
        "key": key,
        **backbone_meta,
        "source": source.name,
        "extract_seconds": round(seconds, 3),
        "images_per_second": round(source.n_samples / max(seconds, 1e-9), 2),
        "package_version": __version__,
    }
    feature_set = FeatureSet(
        features, source.labels.astype(np.int64), tuple(source.class_names), splits, metadata
    )
    feature_set.save(out)
    logger.info("Wrote feature cache %s (%d x %d)", out, *features.shape)
    return dataclasses.replace(feature_set, metadata={**metadata, "cache_hit": False, "cache_path": out})


def _checked_splits(source, seed: int, val_fraction: float, test_fraction: float, check_splits) -> tuple:
    """The source's splits, passed to ``check_splits``; then every image file is checked, so that a bad one
    is refused now, not after the backbone loads."""
    splits = make_splits(
        source.labels,
        source.partition,
        source.partition_kind,
        val_fraction,
        test_fraction,
        make_rng(derive_seed(seed, "splits")),
        source.class_names,
    )
    if check_splits is not None:
        check_splits(splits)
    source.check_files()
    return splits


def _check_arguments(data: DataConfig, batch_size) -> None:
    check_weights(data.weights, data.backbone)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer; got {batch_size!r}.")


def _check_expected(key: dict, expect_key: dict | None, out: str) -> None:
    """A resumed run's data must give the key it started with (fields added later, hold-out and OOD, are
    checked by the caller)."""
    changed = [] if expect_key is None else sorted(k for k in key if key[k] != expect_key.get(k))
    if changed:
        raise FeatureCacheError(
            f"The data differ from those the run started with ({', '.join(changed)} changed); nothing was "
            f"extracted and the cache {out!r} was left as it was. Restore the images (or settings) the run "
            "started with to resume it, or start a new run."
        )


def _reusable(out: str, key: dict) -> FeatureSet | None:
    """The cache at ``out`` if it was made with ``key``; None if it is missing or was made differently."""
    if not os.path.exists(out):
        return None
    cached = FeatureSet.load(out)
    if cached.metadata.get("key") != key:
        logger.info("Feature cache %s was made differently; rebuilding it", out)
        return None
    logger.info("Reusing feature cache %s", out)
    return dataclasses.replace(cached, metadata={**cached.metadata, "cache_hit": True, "cache_path": out})
