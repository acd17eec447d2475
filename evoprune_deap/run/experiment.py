"""One EvoPruneDeepTL run: config -> features -> fitness -> GA -> run directory.

See :mod:`evoprune_deap.records.directory` for the files a run writes.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass

import numpy as np

from ..config import ExperimentConfig
from ..data.features import FeatureSet
from ..errors import DatasetError, FeatureCacheError
from ..records.directory import RunDirectory
from ..records.summary import RunSummary
from ..search.encodings import Encoding
from ..search.evaluator import GAState
from ..version import __version__
from .cluster import ClusterFitness, check_workers, default_workers, open_client
from .evolution import evolve
from .finish import BestWeights, finish_front, finish_run
from .fitness import MaskFitness


@dataclass
class RunResult:
    """What a run produced (also on disk in ``run_dir``)."""

    run_dir: str
    best_mask: np.ndarray
    summary: RunSummary
    evaluations: object  # pandas DataFrame of evaluations.csv
    state: GAState
    model: object  # the best head as a Keras model taking the full feature vector


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
    if data.features is not None:
        feature_set = FeatureSet.load(data.features)
    else:
        feature_set = _extract(
            config,
            dict(
                dataset=data.dataset,
                images=data.images,
                test_images=data.test_images,
                train_subset=data.train_subset,
                name=data.name,
            ),
            progress,
            out,
            reuse,
            expect_key=expect_key,
        )
    feature_set = feature_set.with_holdout(data.holdout_fraction, data.split_seed)
    if data.ood_features is not None:
        ood = FeatureSet.load(data.ood_features)
    elif data.ood_dataset is not None or data.ood_images is not None:
        # The OOD images are extracted as the features were: their cache's backbone, image size and weights.
        made = feature_set.metadata
        like = dict(
            backbone=made.get("backbone") or data.backbone,
            image_size=made.get("image_size") or data.image_size,
            weights=data.weights if made.get("weights") in (None, "imagenet") else made["weights"],
        )
        try:
            ood = _extract(
                config,
                dict(dataset=data.ood_dataset, images=data.ood_images, sample=data.ood_max_images),
                progress,
                None,
                reuse,
                check=lambda source: _check_ood_classes(source, feature_set),
                **like,
            )
        except DatasetError as exc:
            raise DatasetError(
                f"Out-of-distribution images: {exc} (OOD images are read like a dataset: two or "
                "more class subfolders, e.g. OOD/clothes/*.png, OOD/faces/*.png.)"
            ) from exc
    else:
        return feature_set
    return feature_set.with_ood(ood, data.split_seed)


def _extract(
    config: ExperimentConfig, source_args: dict, progress, out, reuse, check=None, expect_key=None, **like
) -> FeatureSet:
    """Extract (or reuse) the features of a source; ``check(source)`` runs before any image is read,
    ``like`` overrides the backbone, image size and weights of ``[data]``."""
    from ..data.extraction import extract_features
    from ..data.sources import load_source

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
    )


def config_source(config: ExperimentConfig):
    """The image source of a config's data (its images, not the cached features): what the run was made from."""
    from ..data.sources import load_source

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
    """OOD images must come from classes the head never learns: refuse shared class names before extracting."""
    shared = sorted({c.lower() for c in feature_set.class_names} & {c.lower() for c in source.class_names})
    if shared:
        raise DatasetError(
            f"they share the classes {shared} with {feature_set.metadata.get('source')!r}; OOD "
            "images must come from classes the head never learns. Remove those classes from the "
            "OOD folder."
        )


def resolve_workers(workers: int) -> int:
    """0 means one worker per available core, or this process alone when JAX sees a GPU.

    On a GPU one process trains many heads at once (the ``batched`` engine),
    and worker processes would each claim the device's memory.
    """
    if workers > 0:
        return check_workers(workers)
    import jax

    return 1 if jax.default_backend() == "gpu" else default_workers()


def default_run_dir(config: ExperimentConfig, feature_set: FeatureSet) -> str:
    name = feature_set.metadata.get("source", "features")
    return os.path.join(config.run.out, f"{name}_{config.ga.encoding}_seed{config.run.seed}")


def run_experiment(
    config: ExperimentConfig,
    feature_set: FeatureSet | None = None,
    run_dir: str | None = None,
    callbacks=(),
    resume: bool = False,
    client=None,
    artifacts: bool = True,
) -> RunResult:
    """Run EvoPruneDeepTL and write the run directory.

    Parameters
    ----------
    config : ExperimentConfig
    feature_set : FeatureSet or None
        Default: :func:`load_feature_set` (config.data).
    run_dir : str or None
        Default: ``<run.out>/<source>_<encoding>_seed<seed>``; must be new or
        empty unless ``resume``.
    callbacks : sequence of Callback
        Extra GA callbacks (e.g. a progress bar).
    resume : bool
        Continue the run in ``run_dir`` (see :func:`resume_run`).
    client : distributed.Client or None
        Train heads on this Dask cluster. Default: a LocalCluster of
        ``[run] workers`` processes, or the cluster at ``[run] scheduler``;
        with one local worker, heads train in this process.
    artifacts : bool
        Also save ``best_head.keras`` and draw ``convergence.png`` (the
        estimators leave them out unless given a ``run_dir``); the model is
        returned either way.

    Raises
    ------
    EvopruneError
        Bad config, features or run directory; RunInterrupted after Ctrl-C.
    """
    started = time.perf_counter()
    feature_set = feature_set if feature_set is not None else load_feature_set(config)
    check_features(config, feature_set)
    directory = RunDirectory(run_dir or default_run_dir(config, feature_set))
    if not resume:
        directory.create()
    with directory.lock():
        if resume:
            directory.check_resumable(feature_set.metadata.get("key"))
        with cluster_for(config, client) as client:
            if not resume:
                directory.write_config(config)
                directory.write_environment(
                    config.run.seed, features=feature_set.metadata, **cluster_description(config, client)
                )
            fitness = make_fitness(config, feature_set, client)
            encoding, kept = fitness.encoding, BestWeights()
            state = evolve(
                fitness,
                encoding.n_bits,
                config.ga,
                config.run.seed,
                directory,
                [kept, *callbacks],
                resume=resume,
                with_ood=feature_set.ood is not None,
                with_spread=config.fitness.repeats > 1 or config.fitness.folds > 1,
                is_empty=lambda mask: encoding.head_masks(mask).is_empty(),
            )
            search_seconds = time.perf_counter() - started
            finish = finish_front if config.ga.objectives else finish_run
            summary, model = finish(
                config, fitness, state, directory, kept, started, search_seconds, artifacts
            )
    return RunResult(
        directory.path, directory.read_best_mask(), summary, directory.read_evaluations(), state, model
    )


def make_fitness(config: ExperimentConfig, feature_set: FeatureSet, client=None):
    """The run's fitness: a :class:`MaskFitness` here, or its :class:`ClusterFitness` form on ``client``."""
    encoding = Encoding(config.ga.encoding, feature_set.n_features, config.hidden_units)
    args = (feature_set, encoding, config.head, config.run.protocol, config.run.seed)
    options = dict(
        ood_score=config.ga.ood_score,
        ood_temperature=config.ga.ood_temperature,
        fitness_config=config.fitness,
        split_seed=config.data.split_seed,
    )
    return (
        MaskFitness(*args, **options)
        if client is None
        else ClusterFitness.for_masks(client, *args, **options)
    )


@contextlib.contextmanager
def cluster_for(config: ExperimentConfig, client=None):
    """The given client; else a new one (local cluster or ``[run] scheduler``); None to train here."""
    if client is not None:
        yield client
    elif config.run.scheduler is None and resolve_workers(config.run.workers) == 1:
        yield None
    else:
        with open_client(config.run.scheduler, resolve_workers(config.run.workers)) as opened:
            yield opened


def cluster_description(config: ExperimentConfig, client) -> dict:
    """How heads were trained, for environment.json (never changes the results)."""
    if client is None:
        return {"workers": 1, "scheduler": None}
    return {
        "workers": len(client.scheduler_info()["workers"]),
        "scheduler": config.run.scheduler,
        "in_flight": config.ga.in_flight,
    }


def resume_run(run_dir: str, callbacks=(), client=None) -> RunResult:
    """Continue a run killed or interrupted at any point, from its own config.toml."""
    config = RunDirectory(run_dir).read_config()
    feature_set = load_feature_set(config, expect_key=recorded_features_key(run_dir))
    return run_experiment(
        config, feature_set, run_dir=run_dir, callbacks=callbacks, resume=True, client=client
    )


def recorded_features_key(run_dir: str) -> dict | None:
    """The features key a run started with, once it is known to be resumable (before any extraction, so
    that other data are refused before the cache is touched: ``load_feature_set(expect_key=...)``)."""
    directory = RunDirectory(run_dir)
    directory.check_resumable(None)
    if not directory.has(directory.ENVIRONMENT):
        return None
    return directory.read_environment().get("features", {}).get("key")


def check_features(config: ExperimentConfig, feature_set: FeatureSet) -> None:
    """The features must be what the config says and made by this package version."""
    meta = feature_set.metadata
    made_by = meta.get("package_version")
    if made_by is not None and made_by != __version__:
        raise FeatureCacheError(
            f"Feature cache was made by evoprune-deap {made_by}, this is {__version__}; "
            "re-extract it with `evoprune extract --force`."
        )
    if config.data.features is not None and meta.get("backbone") not in (None, config.data.backbone):
        raise FeatureCacheError(
            f"Feature cache {config.data.features!r} holds {meta.get('backbone')!r} features but the config "
            f"says backbone = {config.data.backbone!r}; fix [data] backbone or use the right cache."
        )
