"""The options shared by ``extract``, ``run`` and ``campaign``: one table, :data:`CONFIG_OPTIONS`, maps each
onto its config table and key, so their defaults come from one place (the config presets);
:func:`config_from_args` resolves the config they give.
"""

from __future__ import annotations

import argparse

from ..config import (
    ENCODINGS,
    ENGINES,
    FITNESS_SEEDS,
    OBJECTIVES,
    OOD_SCORES,
    PRESETS,
    PROTOCOLS,
    load_config,
)


def hidden_widths(text: str) -> list:
    """``--hidden-units 512,512`` -> [512, 512] (the config checks the widths themselves)."""
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not comma-separated integers; give e.g. 512,512"
        ) from None


def at_least_zero(text: str) -> int:
    """An integer >= 0 (``--parallel-runs``)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer >= 0; give e.g. 2 (0: as many as help)")
    return value


CONFIG_OPTIONS = {  # command-line option -> (config table, key, type, help)
    "dataset": ("data", "dataset", str, "built-in dataset: elpv (default) or fashion-mnist"),
    "images": ("data", "images", str, "image folder: DIR/<class>/*.png, or fold folders DIR/0/<class>/..."),
    "test_images": ("data", "test_images", str, "test image folder with the same class subfolders"),
    "features": ("data", "features", str, "a feature cache (.npz) from `evoprune extract`"),
    "backbone": (
        "data",
        "backbone",
        str,
        "efficientnet_lite0 (default, offline), resnet50, densenet121, vgg19",
    ),
    "weights": ("data", "weights", str, "backbone weights: a local file, 'imagenet' (download) or 'none'"),
    "image_size": ("data", "image_size", int, "input side in pixels (quick preset 128, paper 224)"),
    "split_seed": ("data", "split_seed", int, "seed of the stratified train/validation/test splits"),
    "val_fraction": ("data", "val_fraction", float, "validation share carved from train"),
    "test_fraction": ("data", "test_fraction", float, "test share when the source has no test split"),
    "name": (
        "data",
        "name",
        str,
        "the dataset's name in run directories and tables (default: the dataset's, "
        "or its folder's; the parent's for a folder called train)",
    ),
    "train_subset": ("data", "train_subset", int, "use a stratified subset of this many training images"),
    "holdout_fraction": (
        "data",
        "holdout_fraction",
        float,
        "share of train held out from selection and training, to measure optimism (default 0)",
    ),
    "ood_images": (
        "data",
        "ood_images",
        str,
        "out-of-distribution image folder (DIR/<class>/*.png) for the ood objective and the reported AUROC",
    ),
    "ood_dataset": (
        "data",
        "ood_dataset",
        str,
        "a built-in dataset as out-of-distribution images, e.g. fashion-mnist",
    ),
    "ood_features": (
        "data",
        "ood_features",
        str,
        "a feature cache of OOD images made with the same backbone and size",
    ),
    "ood_max_images": (
        "data",
        "ood_max_images",
        int,
        "OOD images drawn (stratified) for extraction (default 2000)",
    ),
    "encoding": ("ga", "encoding", str, f"one of {', '.join(ENCODINGS)} (default fc1)"),
    "population": ("ga", "population", int, "GA population size"),
    "evaluations": ("ga", "evaluations", int, "budget of new evaluations (paper: 200, 300 for both)"),
    "mutation_prob": ("ga", "mutation_prob", float, "probability that a pair of children is mutated"),
    "init_density": ("ga", "init_density", float, "fixed initial density (default p ~ U(0,1))"),
    "in_flight": (
        "ga",
        "in_flight",
        int,
        "pairs of children in flight (default 1: the paper's GA); more "
        "keep more workers busy, and the run still depends only on the seed",
    ),
    "objectives": (
        "ga",
        "objectives",
        lambda text: text.split(","),
        f"multi-objective NSGA-II on these objectives, from {', '.join(OBJECTIVES)} (e.g. "
        "accuracy,active,ood); default: the paper's single-objective GA",
    ),
    "ood_score": (
        "ga",
        "ood_score",
        str,
        f"confidence score of the ood objective: {' or '.join(OOD_SCORES)}",
    ),
    "ood_temperature": (
        "ga",
        "ood_temperature",
        float,
        "its temperature (default 1000, as MO-EvoPruneDeepTL)",
    ),
    "hidden_units": (
        "head",
        "hidden_units",
        hidden_widths,
        "hidden layer widths, e.g. 512,512 (default: the paper's head for the encoding)",
    ),
    "max_epochs": ("head", "max_epochs", int, "epochs per head at most"),
    "engine": (
        "head",
        "engine",
        str,
        f"heads per training program: {', '.join(ENGINES)} (auto: one on a CPU, batched on a GPU)",
    ),
    "fitness_seeds": (
        "fitness",
        "seeds",
        str,
        f"{' or '.join(FITNESS_SEEDS)}: each mask's training seed from "
        "its bits, or one seed for every mask (common random numbers; the paper preset's)",
    ),
    "repeats": ("fitness", "repeats", int, "trainings per mask, from derived seeds; fitness is their mean"),
    "cv_folds": (
        "fitness",
        "folds",
        int,
        "stratified k-fold cross-validation inside train + validation for "
        "the fitness (default 1: the validation split)",
    ),
    "reevaluate": (
        "fitness",
        "reevaluate",
        int,
        "after the search, train the K best distinct masks again from fresh seeds and ship the best "
        "mean (against the winner's curse; default 0: none, 5 with the paper preset)",
    ),
    "final_repeats": (
        "fitness",
        "final_repeats",
        int,
        "fresh trainings of each re-evaluated mask (default 3; needs --reevaluate)",
    ),
    "seed": ("run", "seed", int, "the run seed (GA and head training)"),
    "protocol": ("run", "protocol", str, f"{' or '.join(PROTOCOLS)}: fitness on validation / on test"),
    "workers": (
        "run",
        "workers",
        int,
        "local Dask workers training heads (0: one per core, or this process on a GPU; 1: this process)",
    ),
    "scheduler": (
        "run",
        "scheduler",
        str,
        "address of a running Dask scheduler to train on, e.g. "
        "tls://10.0.0.5:8786 (default: a local cluster on 127.0.0.1)",
    ),
}
SOURCE_OPTIONS = (
    "dataset",
    "images",
    "test_images",
    "backbone",
    "weights",
    "image_size",
    "split_seed",
    "val_fraction",
    "test_fraction",
    "name",
    "train_subset",
    "ood_images",
    "ood_dataset",
    "ood_max_images",
)


def add_config_options(parser: argparse.ArgumentParser, names) -> None:
    """``--preset``, ``--config`` and the options ``names`` of :data:`CONFIG_OPTIONS`, each defaulting to None
    (not given: the preset's or the TOML's value stands)."""
    parser.add_argument(
        "--preset",
        default="quick",
        choices=sorted(PRESETS),
        help="quick (default, minutes on 2 cores) or paper (the paper's budget)",
    )
    parser.add_argument(
        "--config", metavar="FILE.toml", default=None, help="TOML with [data] [head] [ga] [run] [fitness]"
    )
    for name in names:
        _table, _key, kind, text = CONFIG_OPTIONS[name]
        parser.add_argument("--" + name.replace("_", "-"), type=kind, default=None, help=text)


def config_from_args(args, config_path: str | None = None, **fixed):
    """The resolved config: preset, then TOML file, then the options given on the command line.

    Heads train on one local worker per core unless ``--workers`` or the TOML says otherwise. With
    ``--features``, the data options given on the command line must agree with the cache, and the config
    holds the cache's values (:func:`~evoprune_deap.run.preflight.check_against_cache`): a TOML's
    [data] table describes a dataset, which a feature cache of it stands in for (as the campaigns'
    ``experiments/*.toml`` with ``--features``).
    """
    overrides: dict = {}
    for name, (table, key, _kind, _help) in CONFIG_OPTIONS.items():
        value = getattr(args, name, None)
        if value is not None:
            overrides.setdefault(table, {})[key] = value
    given = set(overrides.get("data", {}))
    if "images" in overrides.get("data", {}):
        overrides["data"].setdefault("dataset", None)
    for table, values in fixed.items():
        overrides.setdefault(table, {}).update(values)
    path = config_path or args.config
    config = load_config(path, preset=args.preset, overrides=overrides)
    if config.run.workers is None:
        config = config.replace(run={"workers": 0})
    if config.data.features is None:
        return config
    from ..data.features import FeatureSet
    from ..run.preflight import check_against_cache

    return check_against_cache(config, given, FeatureSet.load(config.data.features).metadata)
