"""One EvoPruneDeepTL run: config -> features -> fitness -> GA -> run directory.

Files written to the run directory:

- ``config.toml``: the resolved configuration; ``environment.json``: seed,
  package versions, Keras backend, git commit;
- ``evaluations.csv``: one row per new evaluation, appended and fsynced as it
  finishes; ``logbook.json``: the DEAP Logbook;
- ``best_mask.json``: the best mask (bits and hex); ``best_head.keras``: the
  best head, taking the full feature vector (load it with
  ``keras.saving.load_model`` after ``import evoprune_deap``);
- ``summary.json``: validation/test accuracy of the best head and of the
  unpruned head trained the same way, % active, parameter and FLOP
  reduction, wall time; ``convergence.png``.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import rundir
from .algorithms import GAState
from .errors import FeatureCacheError, RunDirectoryError
from .config import ExperimentConfig, dump_toml
from .encodings import Encoding, mask_to_hex
from .features import FeatureSet
from .fitness import MaskFitness
from .head import count_flops, count_parameters
from .parallel import WorkerPool, available_cores
from .persistent import evolve

logger = logging.getLogger(__name__)


@dataclass
class RunResult:
    """What a run produced (also on disk in ``run_dir``)."""

    run_dir: str
    best_mask: np.ndarray
    summary: dict
    evaluations: pd.DataFrame
    state: GAState
    model: object


def load_feature_set(config: ExperimentConfig, progress=None) -> FeatureSet:
    """The FeatureSet a config names: a cache file, or extracted (and cached)."""
    data = config.data
    if data.features is not None:
        return FeatureSet.load(data.features)
    from .datasets import load_source
    from .extraction import extract_features

    source = load_source(data.dataset, data.images, data.test_images)
    return extract_features(source, backbone=data.backbone, image_size=data.image_size,
                            weights=data.weights, seed=data.split_seed, val_fraction=data.val_fraction,
                            test_fraction=data.test_fraction, progress=progress)


def resolve_workers(workers: int) -> int:
    """0 means one worker per available core, at most 2 (the two children of a step)."""
    return workers if workers > 0 else max(1, min(2, len(available_cores())))


def default_run_dir(config: ExperimentConfig, feature_set: FeatureSet) -> str:
    name = feature_set.metadata.get("source", "features")
    return os.path.join(config.run.out, f"{name}_{config.ga.encoding}_seed{config.run.seed}")


def run_experiment(config: ExperimentConfig, feature_set: FeatureSet | None = None,
                   run_dir: str | None = None, callbacks=(), resume: bool = False) -> RunResult:
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

    Raises
    ------
    EvopruneError
        Bad config, features or run directory; RunInterrupted after Ctrl-C.
    """
    started = time.perf_counter()
    feature_set = feature_set if feature_set is not None else load_feature_set(config)
    check_features(config, feature_set)
    encoding = Encoding(config.ga.encoding, feature_set.n_features, config.head.hidden_units)
    run_dir = run_dir or default_run_dir(config, feature_set)
    if not resume:
        rundir.prepare(run_dir)
    seed = config.run.seed
    n_workers = resolve_workers(config.run.workers)
    with rundir.RunLock(run_dir):
        if resume:
            _check_resumable(run_dir, feature_set)
        else:
            rundir.write_text(os.path.join(run_dir, "config.toml"), dump_toml(config))
            rundir.write_json(os.path.join(run_dir, "environment.json"),
                              {**rundir.environment(seed), "workers": n_workers, "features": feature_set.metadata})
        fitness = MaskFitness(feature_set, encoding, config.head, config.run.protocol, seed)
        pool = None
        if n_workers > 1:
            pool = WorkerPool(MaskFitness, (feature_set, encoding, config.head, config.run.protocol, seed),
                              n_workers)
        state = evolve(fitness, encoding.n_bits, config.ga, seed, run_dir, callbacks, pool=pool, resume=resume)
        search_seconds = time.perf_counter() - started
        return finish_run(config, feature_set, encoding, fitness, state, run_dir, started, search_seconds)


def resume_run(run_dir: str, callbacks=()) -> RunResult:
    """Continue a run killed or interrupted at any point, from its own config.toml."""
    from .config import load_config

    path = os.path.join(run_dir, "config.toml")
    if not os.path.isfile(path):
        raise RunDirectoryError(f"{run_dir!r} is not a run directory (no config.toml); nothing to resume.")
    config = load_config(path)
    return run_experiment(config, run_dir=run_dir, callbacks=callbacks, resume=True)


def check_features(config: ExperimentConfig, feature_set: FeatureSet) -> None:
    """The features must be what the config says and made by this package version."""
    from . import __version__

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


def _check_resumable(run_dir: str, feature_set: FeatureSet) -> None:
    import json

    if os.path.exists(os.path.join(run_dir, "summary.json")):
        raise RunDirectoryError(f"Run {run_dir!r} already finished (summary.json exists); nothing to resume.")
    try:
        with open(os.path.join(run_dir, "environment.json")) as stream:
            recorded = json.load(stream).get("features", {}).get("key")
    except (OSError, ValueError):
        recorded = None
    if recorded is not None and recorded != feature_set.metadata.get("key"):
        raise RunDirectoryError(
            f"The features differ from those run {run_dir!r} started with; resume needs the same data."
        )


def finish_run(config, feature_set, encoding, fitness, state, run_dir, started, search_seconds) -> RunResult:
    """Score the best and unpruned heads, save the best head, write the summary."""
    import keras

    best = state.best
    best_mask = best.mask
    rundir.write_json(os.path.join(run_dir, "logbook.json"), list(state.logbook))
    rundir.write_json(os.path.join(run_dir, "best_mask.json"), {
        "encoding": encoding.name, "n_bits": encoding.n_bits, "n_active": int(best_mask.sum()),
        "hex": mask_to_hex(best_mask), "active_indices": np.flatnonzero(best_mask).tolist(),
    })
    best_score = fitness.score(best_mask, with_test=True, export=True)
    full_mask = encoding.full_mask()
    unpruned = fitness.score(full_mask, with_test=True)
    masks = encoding.head_masks(best_mask)
    model = best_score.model  # trained once: scored and saved from the same weights
    if model is not None:
        model.save(os.path.join(run_dir, "best_head.keras"))
    n_classes, bias = feature_set.n_classes, config.head.use_bias
    full_masks = encoding.head_masks(full_mask)
    params, params_full = count_parameters(masks, n_classes, bias), count_parameters(full_masks, n_classes, bias)
    flops, flops_full = count_flops(masks, n_classes), count_flops(full_masks, n_classes)
    evaluations = pd.read_csv(os.path.join(run_dir, "evaluations.csv"))
    summary = {
        "encoding": encoding.name,
        "protocol": config.run.protocol,
        "seed": config.run.seed,
        "source": feature_set.metadata.get("source"),
        "backbone": feature_set.metadata.get("backbone"),
        "n_classes": n_classes,
        "n_folds": len(feature_set.splits),
        "fitness": best.fitness.values[0],
        "val_accuracy": best_score.val_accuracy,
        "test_accuracy": best_score.test_accuracy,
        "unpruned_val_accuracy": unpruned.val_accuracy,
        "unpruned_test_accuracy": unpruned.test_accuracy,
        "n_bits": encoding.n_bits,
        "n_active": int(best_mask.sum()),
        "active_percent": 100.0 * float(best_mask.mean()),
        "parameters": params,
        "parameters_unpruned": params_full,
        "parameter_reduction_percent": 100.0 * (1 - params / params_full),
        "flops": flops,
        "flops_unpruned": flops_full,
        "flop_reduction_percent": 100.0 * (1 - flops / flops_full),
        "evaluations": state.n_evaluations,
        "cache_hits": state.cache_hits,
        "stop_reason": state.stop_reason,
        "search_seconds": search_seconds,
        "wall_seconds": time.perf_counter() - started,
        "keras_backend": keras.backend.backend(),
    }
    rundir.write_json(os.path.join(run_dir, "summary.json"), summary)
    from .plots import save_convergence

    save_convergence(evaluations, os.path.join(run_dir, "convergence.png"),
                     f"{summary['source']} {encoding.name} seed {config.run.seed}")
    return RunResult(run_dir, best_mask, summary, evaluations, state, model)
