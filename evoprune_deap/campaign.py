"""Campaigns: seeds x encodings of one dataset, each GA run followed by its baselines.

One run directory per combination, ``<out>/<encoding>/seed<k>``. A finished
combination (``summary.json`` and ``baselines.csv`` present) is skipped, so a
long campaign can be stopped and continued; an unfinished GA run is resumed.
The experiment scripts in ``experiments/`` are a few lines over :func:`main`.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys

import pandas as pd

from .config import ENCODINGS, load_config
from .errors import DatasetError, EvopruneError

logger = logging.getLogger(__name__)


def run_combination(config, feature_set, run_dir: str, n_random: int) -> str:
    """GA run (unless finished) then baselines (unless done) in ``run_dir``."""
    import json

    from .baselines import run_baselines
    from .encodings import Encoding, mask_from_hex
    from .experiment import run_experiment

    if not os.path.exists(os.path.join(run_dir, "summary.json")):
        resumable = os.path.exists(os.path.join(run_dir, "config.toml"))
        if os.path.isdir(run_dir) and not resumable:
            shutil.rmtree(run_dir)
        if resumable:
            logger.warning("Resuming unfinished run %s", run_dir)
        run_experiment(config, feature_set, run_dir=run_dir, resume=resumable)
    baselines_path = os.path.join(run_dir, "baselines.csv")
    if not os.path.exists(baselines_path):
        with open(os.path.join(run_dir, "best_mask.json")) as stream:
            best = mask_from_hex(json.load(stream)["hex"])
        encoding = Encoding(config.ga.encoding, feature_set.n_features, config.head.hidden_units)
        rows = run_baselines(feature_set, encoding, config.head, config.run.protocol, config.run.seed,
                             best, n_random=n_random)
        frame = pd.DataFrame(rows)
        frame.to_csv(baselines_path + ".tmp", index=False)
        os.replace(baselines_path + ".tmp", baselines_path)
    return run_dir


def run_campaign(config_path: str, seeds, encodings, out: str, overrides: dict | None = None,
                 n_random: int = 3, progress=print) -> list[str]:
    """Run every (encoding, seed) of a dataset; return the run directories."""
    from .experiment import load_feature_set

    base = load_config(config_path, overrides=overrides)
    _check_data(base, config_path)
    feature_set = load_feature_set(base)
    run_dirs = []
    for encoding in encodings:
        for seed in seeds:
            ga = {"encoding": encoding}
            hidden = base.head.hidden_units
            config = base.replace(ga=ga, run={"seed": seed})
            if encoding == "fs" and len(hidden) == 2 and base.ga.encoding != "fs":
                config = config.replace(head={"hidden_units": list(hidden)})
            run_dir = os.path.join(out, encoding, f"seed{seed}")
            done = os.path.exists(os.path.join(run_dir, "baselines.csv"))
            progress(f"{'skip' if done else 'run '} {run_dir}")
            run_dirs.append(run_combination(config, feature_set, run_dir, n_random))
    return run_dirs


DATA_HINTS = {
    "srsmas": "the SRSMAS coral dataset (14 classes, 5 folds): put fold folders 0..4 with class subfolders",
    "rps": "tensorflow-datasets rock_paper_scissors manual files rps.zip and rps-test-set.zip",
    "leaves": "tensorflow-datasets citrus_leaves manual file Citrus.zip (5 folds are made from it)",
    "painting": "the PAINTING dataset (5 classes) as an image folder with class subfolders",
    "cataract": "the CATARACT fundus dataset (4 classes) as an image folder with class subfolders",
    "plants": "PlantDoc (27 classes) with train/ and test/ class folders",
}


def _check_data(config, config_path: str) -> None:
    images = config.data.images
    if images is None or config.data.features is not None:
        return
    missing = [p for p in (images, config.data.test_images) if p is not None and not os.path.exists(p)]
    if missing:
        name = os.path.splitext(os.path.basename(config_path))[0]
        hint = DATA_HINTS.get(name, "the dataset's images")
        raise DatasetError(
            f"Data for {name!r} not found at {missing[0]!r}: download {hint}, then pass its "
            f"location with --images PATH (and --test-images PATH), or edit {config_path}."
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Run an EvoPruneDeepTL campaign: seeds x encodings + baselines")
    parser.add_argument("--config", required=True, help="the dataset's TOML config")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--encodings", nargs="+", default=list(ENCODINGS), choices=ENCODINGS)
    parser.add_argument("--out", default=None, help="campaign folder (default results/<dataset>)")
    parser.add_argument("--images", default=None, help="dataset location (overrides the config)")
    parser.add_argument("--test-images", default=None)
    parser.add_argument("--features", default=None, help="a feature cache to use instead of extracting")
    parser.add_argument("--population", type=int, default=None)
    parser.add_argument("--evaluations", type=int, default=None)
    parser.add_argument("--max-epochs", type=int, default=None)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--random-draws", type=int, default=3)
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    overrides: dict = {}
    for key, table, name in (("images", "data", "images"), ("test_images", "data", "test_images"),
                             ("features", "data", "features"), ("population", "ga", "population"),
                             ("evaluations", "ga", "evaluations"), ("max_epochs", "head", "max_epochs"),
                             ("workers", "run", "workers")):
        if getattr(args, key) is not None:
            overrides.setdefault(table, {})[name] = getattr(args, key)
    if "images" in overrides.get("data", {}):
        overrides["data"]["dataset"] = None
    name = os.path.splitext(os.path.basename(args.config))[0]
    out = args.out or os.path.join("results", name)
    try:
        run_campaign(args.config, args.seeds, args.encodings, out, overrides, args.random_draws)
    except EvopruneError as exc:
        if args.debug:
            raise
        print(f"{os.path.basename(sys.argv[0])}: error: {exc}", file=sys.stderr)
        return 2
    return 0
