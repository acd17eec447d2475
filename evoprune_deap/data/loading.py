"""The features a config names: a cache file, or extracted and cached; the hold-out and OOD images
attached."""

from __future__ import annotations

import numpy as np

from ..config import ExperimentConfig
from ..errors import ConfigError, DatasetError, FeatureCacheError
from .features import FeatureSet


def load_feature_set(
    config: ExperimentConfig,
    progress=None,
    out: str | None = None,
    reuse: bool = True,
    expect_key: dict | None = None,
) -> FeatureSet:
    """The FeatureSet a config names: a cache file, or extracted (and cached at ``out``).

    With a hold-out fraction, the hold-out is carved; with a source of
    out-of-distribution images (``ood_features``, or ``ood_dataset`` /
    ``ood_images``, extracted with the same backbone, image size and weights
    and cached beside the others), they are attached
    (:meth:`~evoprune_deap.data.features.FeatureSet.with_ood`). ``progress``
    and ``reuse`` are passed to
    :func:`~evoprune_deap.data.extraction.extract_features`, and so is
    ``expect_key`` (a resumed run's recorded key: other data are refused
    before anything is extracted or cached).
    """
    data = config.data
    ood_cache = None if data.ood_features is None else FeatureSet.load(data.ood_features)
    feature_set = _run_features(config, ood_cache, progress, out, reuse, expect_key)
    feature_set = feature_set.with_holdout(data.holdout_fraction, data.split_seed)
    check_folds(config, feature_set)
    ood = ood_cache if ood_cache is not None else _ood_features(config, feature_set, progress, reuse)
    return feature_set if ood is None else feature_set.with_ood(ood, data.split_seed)


def _run_features(config: ExperimentConfig, ood_cache, progress, out, reuse, expect_key) -> FeatureSet:
    """The run's own features: the cache ``[data] features``, or extracted (an OOD cache made otherwise is
    refused before the run's images are extracted)."""
    data = config.data
    if data.features is not None:
        return FeatureSet.load(data.features)
    if ood_cache is not None:
        _check_ood_made_alike(ood_cache, data)
    source = dict(
        dataset=data.dataset,
        images=data.images,
        test_images=data.test_images,
        train_subset=data.train_subset,
        name=data.name,
    )
    return _extract(config, source, progress, out, reuse, expect_key=expect_key)


def _ood_features(config: ExperimentConfig, feature_set: FeatureSet, progress, reuse) -> FeatureSet | None:
    """OOD images' features, extracted as the run's were (their backbone, image size and weights); None
    without OOD images."""
    data = config.data
    if data.ood_dataset is None and data.ood_images is None:
        return None
    made = feature_set.metadata
    like = dict(
        backbone=made.get("backbone") or data.backbone,
        image_size=made.get("image_size") or data.image_size,
        weights=data.weights if made.get("weights") in (None, "imagenet") else made["weights"],
    )
    source = dict(dataset=data.ood_dataset, images=data.ood_images, sample=data.ood_max_images)
    try:
        return _extract(
            config,
            source,
            progress,
            None,
            reuse,
            check=lambda found: _check_ood_classes(found, feature_set),
            **like,
        )
    except DatasetError as exc:
        raise DatasetError(
            f"Out-of-distribution images: {exc} (OOD images are read like a dataset: two or "
            "more class subfolders, e.g. OOD/clothes/*.png, OOD/faces/*.png.)"
        ) from exc


def _extract(
    config: ExperimentConfig, source_args: dict, progress, out, reuse, check=None, expect_key=None, **like
) -> FeatureSet:
    """Extract (or reuse) the features of a source; ``check(source)`` runs before any image is read,
    ``like`` overrides the backbone, image size and weights of ``[data]``."""
    from .extraction import extract_features
    from .images.sources import load_source

    data = config.data
    source = load_source(**source_args, subset_seed=data.split_seed, sample_seed=data.split_seed)
    if check is not None:
        check(source)
    made = {"backbone": data.backbone, "image_size": data.image_size, "weights": data.weights, **like}
    return extract_features(
        source,
        **made,
        split_seed=data.split_seed,
        val_fraction=data.val_fraction,
        test_fraction=data.test_fraction,
        out=out,
        reuse=reuse,
        progress=progress,
        expect_key=expect_key,
        check_splits=None
        if check is not None
        else lambda splits: _check_folds_before(config, source, splits),
    )


def config_source(config: ExperimentConfig):
    """The image source of a config's data (its images, not the cached features): what the run was made
    from."""
    from .images.sources import load_source

    data = config.data
    return load_source(
        dataset=data.dataset,
        images=data.images,
        test_images=data.test_images,
        train_subset=data.train_subset,
        name=data.name,
        subset_seed=data.split_seed,
        sample_seed=data.split_seed,
    )


def _check_ood_classes(source, feature_set: FeatureSet) -> None:
    """OOD images must come from classes the head never learns: refuse shared class names before
    extracting."""
    shared = sorted({c.lower() for c in feature_set.class_names} & {c.lower() for c in source.class_names})
    if shared:
        raise DatasetError(
            f"they share the classes {shared} with {feature_set.metadata.get('source')!r}; OOD "
            "images must come from classes the head never learns. Remove those classes from the "
            "OOD folder."
        )


def check_folds(config: ExperimentConfig, feature_set: FeatureSet) -> None:
    """``[fitness] folds`` cross-validation folds need that many training and validation images of every
    class in every split (after the hold-out is carved).

    Raises
    ------
    ConfigError
        Naming the class, its count and the largest number of folds that fits.
    """
    folds = config.fitness.folds
    if folds <= 1:
        return
    for k, split in enumerate(feature_set.splits):
        pool = feature_set.labels[np.concatenate([split.train, split.val])]
        counts = np.bincount(pool, minlength=feature_set.n_classes)
        fewest = int(np.argmin(counts))
        if counts[fewest] < folds:
            fits = int(counts[fewest]) if counts[fewest] >= 2 else 1
            raise ConfigError(
                f"--cv-folds {folds} ([fitness] folds) needs at least {folds} training and validation images "
                f"of every class, but class {feature_set.class_names[fewest]!r} has {int(counts[fewest])} "
                f"(split {k}); pass --cv-folds {fits} or fewer (1: no cross-validation), or add images."
            )


def _check_folds_before(config: ExperimentConfig, source, splits) -> None:
    """:func:`check_folds` on a source's splits, before any image is read (a stand-in of zero features)."""
    if config.fitness.folds <= 1:
        return
    stand_in = FeatureSet(
        np.zeros((source.n_samples, 1), np.float32), source.labels, source.class_names, splits
    )
    check_folds(config, stand_in.with_holdout(config.data.holdout_fraction, config.data.split_seed))


def _check_ood_made_alike(ood: FeatureSet, data) -> None:
    """An OOD feature cache must come from the backbone and image size the run's images will be extracted
    with: checked before they are."""
    made = ood.metadata
    for name, wanted in (("backbone", data.backbone), ("image_size", data.image_size)):
        if made.get(name) is not None and made[name] != wanted:
            raise FeatureCacheError(
                f"The out-of-distribution features {data.ood_features!r} were made with {name} = "
                f"{made[name]!r}, the run uses {wanted!r}; extract the OOD images with the same backbone and "
                "image size (or pass --ood-images DIR and let the run extract them)."
            )
