"""One EvoPruneDeepTL run: config -> features -> fitness -> GA -> run directory.

See :mod:`evoprune_deap.records.directory` for the files a run writes.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

from ..config import ExperimentConfig
from ..data.features import FeatureSet
from ..data.loading import check_folds, load_feature_set
from ..errors import FeatureCacheError, RunInterrupted
from ..evaluation.setup import cluster_description, cluster_for, make_fitness
from ..records.directory import RunDirectory
from ..records.summary import RunSummary
from ..search.evaluator import GAState
from ..version import __version__
from .evolution import evolve
from .finish import BestWeights, finish_front, finish_run
from .preflight import check_head_fits, check_training_images, run_suffix


@dataclass
class RunResult:
    """What a run produced (also on disk in ``run_dir``)."""

    run_dir: str
    best_mask: np.ndarray
    summary: RunSummary
    evaluations: object  # pandas DataFrame of evaluations.csv
    state: GAState
    model: object  # the best head as a Keras model taking the full feature vector


def default_run_dir(config: ExperimentConfig, feature_set: FeatureSet) -> str:
    """``<run.out>/<source>_<encoding>_seed<seed>``, with a suffix naming what differs from the preset
    (:func:`~evoprune_deap.run.preflight.run_suffix`): another configuration gets its own directory."""
    name = feature_set.metadata.get("source", "features")
    return os.path.join(
        config.run.out, f"{name}_{config.ga.encoding}_seed{config.run.seed}{run_suffix(config)}"
    )


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
        created = not os.path.isdir(directory.path)
        directory.create()
    try:
        summary, model, state = _search_and_finish(
            config, feature_set, directory, callbacks, resume, client, artifacts, started
        )
    except RunInterrupted:  # its message names the resume command
        raise
    except BaseException:  # a crash before the first evaluation leaves no folder that blocks the next run
        if not resume:
            directory.discard_if_unused(created)
        raise
    return RunResult(
        directory.path, directory.read_best_mask(), summary, directory.read_evaluations(), state, model
    )


def _search_and_finish(config, feature_set, directory, callbacks, resume, client, artifacts, started):
    """The locked part of :func:`run_experiment`: search, then write the files; (summary, model, state)."""
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
    return summary, model, state


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
    check_training_images(config, feature_set)
    check_folds(config, feature_set)  # features given from Python (or the estimator) come by here only
    check_head_fits(config, feature_set.n_features, feature_set.n_classes, feature_set.splits[0].train.size)
