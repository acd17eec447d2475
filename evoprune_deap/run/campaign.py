"""Campaigns: seeds x encodings of one dataset, each GA run followed by its baselines.

One run directory per combination, ``<out>/<encoding>/seed<k>``. A finished
combination (``summary.json`` and ``baselines.csv`` present) is skipped, so a
long campaign can be stopped and continued; an unfinished GA run is resumed.
``evoprune campaign`` runs it; the scripts in ``experiments/`` are a few lines over that command.
"""

from __future__ import annotations

import logging
import os
import shutil
import warnings
from concurrent.futures import ThreadPoolExecutor

from ..compare.baselines import run_baselines
from ..config import ExperimentConfig
from ..data.loading import load_feature_set
from ..errors import DatasetError, RunDirectoryError
from ..evaluation.setup import cluster_for
from ..head.masks import Encoding
from ..head.scoring import HeadScore
from ..records.directory import RunDirectory
from .experiment import check_features, run_experiment

logger = logging.getLogger(__name__)


def run_combination(config, feature_set, run_dir: str, n_random: int, client=None) -> str:
    """GA run (unless finished; resumed if started) then baselines (unless done) in ``run_dir``.

    With ``client``, the heads and the baselines train on that Dask cluster.
    """
    directory = RunDirectory(run_dir)
    if not directory.is_finished:
        resumable = directory.is_started
        if os.path.isdir(run_dir) and not resumable:
            shutil.rmtree(run_dir)
        if resumable:
            logger.warning("Resuming unfinished run %s", run_dir)
        run_experiment(config, feature_set, run_dir=run_dir, resume=resumable, client=client)
    if not directory.has(RunDirectory.BASELINES):
        encoding = Encoding(config.ga.encoding, feature_set.n_features, config.hidden_units)
        reference = None  # a run made before unpruned_head.npz existed: trained again by the same rule
        if directory.has(RunDirectory.UNPRUNED):
            summary = directory.read_summary()
            reference = HeadScore(
                summary.unpruned_val_accuracy,
                summary.unpruned_test_accuracy,
                0,
                0.0,
                directory.read_unpruned(),
                summary.unpruned_holdout_accuracy,
            )
        args = (
            encoding,
            config.head,
            config.run.protocol,
            config.run.seed,
            directory.read_best_mask(),
            n_random,
            True,
            reference,
            config.fitness,
            config.data.split_seed,
        )
        if client is None:
            rows = run_baselines(feature_set, *args)
        else:
            with warnings.catch_warnings():  # the features travel once with the task, on purpose
                warnings.simplefilter("ignore", UserWarning)
                rows = client.submit(run_baselines, feature_set, *args, pure=False).result()
        directory.write_baselines(rows)
    return run_dir


AUDIT_HOLDOUT_FRACTION = 0.15
"""Share of train held out when a campaign compares protocols and the config sets none."""


def run_campaign(
    base: ExperimentConfig,
    seeds,
    encodings,
    out: str,
    n_random: int = 3,
    progress=print,
    name: str = "the dataset",
    parallel_runs: int = 0,
    protocols=None,
) -> list[str]:
    """Run every (encoding, seed) of a dataset; return the run directories.

    Each combination is ``base`` with ``[ga] encoding`` and ``[run] seed``
    replaced; the head and budget follow the encoding unless ``base`` sets
    them (``PAPER_HIDDEN_UNITS``, ``PAPER_EVALUATIONS``). ``name`` (the
    config's file name) picks the download hint when the images are missing.

    ``protocols`` (e.g. ``["honest", "paper"]``) runs every combination under
    each protocol, in ``<out>/<protocol>/<encoding>/seed<k>``: the optimism
    audit. Both see the same training data, from which a hold-out
    (``[data] holdout_fraction``, :data:`AUDIT_HOLDOUT_FRACTION` if the config
    sets none) is carved first; every head is scored on it too. Without
    ``protocols``, runs go to ``<out>/<encoding>/seed<k>`` under ``[run] protocol``.

    On a cluster (``[run] workers`` > 1 or ``[run] scheduler``), up to
    ``parallel_runs`` combinations run at once on the same workers (0: enough
    to keep every worker busy, ``ceil(workers / (2 * in_flight))``); each keeps
    its own log and resumes on its own.
    """
    _check_data(base, name)
    if protocols and base.data.holdout_fraction == 0:
        base = base.replace(data={"holdout_fraction": AUDIT_HOLDOUT_FRACTION})
        progress(f"holding out {AUDIT_HOLDOUT_FRACTION:.0%} of train from every run, for the optimism audit")
    feature_set = load_feature_set(base)
    plan = []
    for protocol in protocols or [None]:
        for encoding in encodings:
            for seed in seeds:
                run_dir = os.path.join(out, *([protocol] if protocol else []), encoding, f"seed{seed}")
                changes = {"seed": seed, **({"protocol": protocol} if protocol else {})}
                config = base.replace(ga={"encoding": encoding}, run=changes)
                check_features(config, feature_set)
                check_same_run(RunDirectory(run_dir), config, feature_set.metadata.get("key"), out)
                plan.append((config, run_dir))
    for _config, run_dir in plan:
        progress(f"{'skip' if RunDirectory(run_dir).has(RunDirectory.BASELINES) else 'run '} {run_dir}")
    with cluster_for(base) as client:
        if client is None:
            return [run_combination(config, feature_set, run_dir, n_random) for config, run_dir in plan]
        n_workers = len(client.scheduler_info()["workers"])
        at_once = parallel_runs or max(1, -(-n_workers // (2 * base.ga.in_flight)))
        with ThreadPoolExecutor(at_once) as threads:
            futures = [
                threads.submit(run_combination, config, feature_set, run_dir, n_random, client)
                for config, run_dir in plan
            ]
            return [future.result() for future in futures]


PLACE_ONLY = (("run", "out"), ("run", "workers"), ("run", "scheduler"), ("head", "engine"))
"""Config keys that say where a run's heads train or its files go, never what it computes."""


def check_same_run(directory: RunDirectory, config: ExperimentConfig, features_key, out: str) -> None:
    """A run the campaign would skip or resume must be the run it would make: the same config (but where
    heads train) and the same features; else RunDirectoryError, before any work."""
    if not directory.is_started:
        return
    made = directory.read_config()
    recorded, planned = made.to_dict(), config.to_dict()
    # an unset [head] hidden_units means the encoding's paper widths: compare the widths each run trains
    recorded["head"]["hidden_units"], planned["head"]["hidden_units"] = made.hidden_units, config.hidden_units
    for table, key in PLACE_ONLY:
        recorded[table].pop(key, None), planned[table].pop(key, None)
    differs = [
        f"[{table}] {key} = {recorded[table].get(key)!r} there, {value!r} here"
        for table, values in planned.items()
        for key, value in values.items()
        if recorded[table].get(key) != value
    ]
    env = directory.read_environment() if directory.has(RunDirectory.ENVIRONMENT) else {}
    made_on = env.get("features", {}).get("key")
    if not differs and features_key is not None and made_on is not None and made_on != features_key:
        differs = ["its features were made from other data"]
    if differs:
        raise RunDirectoryError(
            f"--out {out!r}: {directory.path!r} holds a run this campaign would not make ({differs[0]}); "
            "pass another --out, or delete that folder to run it again."
        )


DATA_HINTS = {
    "srsmas": "the SRSMAS coral dataset (14 classes, 5 folds): put fold folders 0..4 with class subfolders",
    "rps": "tensorflow-datasets rock_paper_scissors manual files rps.zip and rps-test-set.zip",
    "leaves": "tensorflow-datasets citrus_leaves manual file Citrus.zip (5 folds are made from it)",
    "painting": "the PAINTING dataset (5 classes) as an image folder with class subfolders",
    "cataract": "the CATARACT fundus dataset (4 classes) as an image folder with class subfolders",
    "plants": "PlantDoc (27 classes) with train/ and test/ class folders",
}


def _check_data(config: ExperimentConfig, name: str) -> None:
    images = config.data.images
    if images is None or config.data.features is not None:
        return
    missing = [p for p in (images, config.data.test_images) if p is not None and not os.path.exists(p)]
    if missing:
        hint = DATA_HINTS.get(name, "the dataset's images")
        raise DatasetError(
            f"Data for {name!r} not found at {missing[0]!r}: download {hint}, then pass its "
            f"location with --images PATH (and --test-images PATH), or edit its config."
        )
