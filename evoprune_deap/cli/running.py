"""``evoprune extract``, ``run`` and ``campaign``: features, one GA run, seeds x encodings."""

from __future__ import annotations

import os
import shlex
import sys

from ..errors import EvopruneError
from ..storage import cache_root, check_file, check_folder
from .options import CONFIG_OPTIONS, config_from_args
from .progress import ProgressBar, extraction_bar

_RUN_DIR = None  # the run directory of `evoprune run`, once known: named by the Ctrl-C hint


def current_run_dir() -> str | None:
    """The run directory of the `evoprune run` in progress once it is known (None before, or for another
    command): where a Ctrl-C tells the user to resume from."""
    return _RUN_DIR


def check_cache(config) -> None:
    """Extraction writes to the cache folder: refuse an unusable one before the work starts."""
    if (
        config.data.features is None
        or config.data.ood_dataset is not None
        or config.data.ood_images is not None
    ):
        check_folder(cache_root(), "The cache folder ($EVOPRUNE_CACHE_DIR)")


def load_features(config, out: str | None = None, force: bool = False, expect_key: dict | None = None):
    from ..data.loading import load_feature_set

    if out is not None:
        check_file(out, "--out")
    else:
        check_cache(config)
    bar = extraction_bar(config)
    try:
        return load_feature_set(
            config,
            progress=None if bar is None else bar.update,
            out=out,
            reuse=not force,
            expect_key=expect_key,
        )
    finally:
        if bar is not None:
            bar.close()


def extract(args) -> int:
    if args.out is not None and not args.out.endswith(".npz"):
        raise EvopruneError(
            f"--out {args.out!r} is not a .npz file; a feature cache is written as .npz: give e.g. "
            f"--out {shlex.quote(os.path.splitext(args.out)[0] + '.npz')}."
        )
    config = config_from_args(args)
    feature_set = load_features(config, out=args.out, force=args.force)
    state = "reused cache" if feature_set.metadata.get("cache_hit") else "extracted"
    split = feature_set.splits[0]
    print(
        f"{state}: {feature_set.metadata['cache_path']}\n  {feature_set.n_samples} images x "
        f"{feature_set.n_features} features, {feature_set.n_classes} classes, {len(feature_set.splits)} "
        f"split(s); split 0: train {split.train.size} / val {split.val.size} / test {split.test.size}"
    )
    return 0


def run(args) -> int:
    from ..evaluation.setup import cluster_for, resolve_workers
    from ..records.directory import RunDirectory
    from ..run.experiment import check_features, default_run_dir, recorded_features_key, run_experiment

    if args.resume is not None:
        config, run_dir = _resumed_config(args), args.resume
    else:
        config, run_dir = config_from_args(args, run={"out": args.out} if args.out else {}), args.run_dir
    check_folder(run_dir if run_dir is not None else config.run.out, "--run-dir" if run_dir else "--out")
    resolve_workers(config.run.workers)
    if args.tensorboard:
        check_folder(args.tensorboard, "--tensorboard")
    if args.resume is None and run_dir is not None:  # before any extraction (the default name needs it)
        RunDirectory(run_dir).check_new()
    features = load_features(
        config, expect_key=None if args.resume is None else recorded_features_key(args.resume)
    )
    check_features(config, features)  # the head fits, each class keeps training images
    global _RUN_DIR
    _RUN_DIR = run_dir or default_run_dir(config, features)
    if args.resume is None:
        RunDirectory(_RUN_DIR).check_new()
    callbacks = []
    if args.tensorboard:
        from ..run.tracking import TensorBoardLogger

        callbacks.append(
            TensorBoardLogger(os.path.join(args.tensorboard, os.path.basename(os.path.normpath(_RUN_DIR))))
        )
    with cluster_for(config) as client:  # connected: the notice cannot be followed by a refusal's line
        if args.resume is None and args.preset == "quick" and args.config is None and not args.quiet:
            print(
                f"evoprune: quick preset (reduced budget: population {config.ga.population}, "
                f"{config.ga.budget} evaluations, at most {config.head.max_epochs} epochs); "
                "use --preset paper for the paper's budget",
                file=sys.stderr,
            )
        result = run_experiment(
            config,
            features,
            run_dir=run_dir,
            callbacks=[ProgressBar(client), *callbacks],
            resume=args.resume is not None,
            client=client,
        )
    _print_result(result)
    return 0


RESUME_OPTIONS = ("workers", "scheduler")
"""The options a resumed run takes: where heads train never changes what they are."""


def _resumed_config(args):
    """The run's own config, with only --workers and --scheduler taken from the command line.

    Any other option would contradict the run (its config.toml decides), so it is refused.
    """
    from ..records.directory import RunDirectory

    given = [
        name
        for name in CONFIG_OPTIONS
        if getattr(args, name, None) is not None and name not in RESUME_OPTIONS
    ]
    given += [
        flag
        for flag, value in (
            ("preset", args.preset != "quick"),
            ("config", args.config),
            ("out", args.out),
            ("run-dir", args.run_dir),
        )
        if value
    ]
    if given:
        option = "--" + given[0].replace("_", "-")
        raise EvopruneError(
            f"{option} cannot be used with --resume: a resumed run keeps the config it started "
            f"with ({os.path.join(args.resume, RunDirectory.CONFIG)}); drop {option}, or start a "
            "new run (only --workers, --scheduler, -q and -v may change on resume)."
        )
    config = RunDirectory(args.resume).read_config()
    where = {key: getattr(args, key) for key in RESUME_OPTIONS if getattr(args, key, None) is not None}
    if config.run.workers is None and "workers" not in where:  # a run started from Python
        where["workers"] = 0
    return config.replace(run=where) if where else config


def _replayed(summary) -> str:
    """``"; 27 trained by an earlier process"`` for a resumed run (its wall time is this process's)."""
    return (
        f"; {summary.replayed_evaluations} trained by an earlier process"
        if summary.replayed_evaluations
        else ""
    )


def _print_result(result) -> None:
    s = result.summary
    print(
        f"run directory: {result.run_dir}\n"
        f"  best head: {s.n_active}/{s.n_bits} active ({s.active_percent:.1f}%), "
        f"val {s.val_accuracy:.4f}, test {s.test_accuracy:.4f}\n"
        f"  unpruned : val {s.unpruned_val_accuracy:.4f}, test {s.unpruned_test_accuracy:.4f}\n"
        + (
            f"  hold-out : best {s.holdout_accuracy:.4f}, unpruned {s.unpruned_holdout_accuracy:.4f} "
            f"(optimism of the reported test accuracy: {s.optimism:+.4f})\n"
            if s.holdout_accuracy is not None
            else ""
        )
        + f"  {s.evaluations} evaluations ({s.stop_reason}{_replayed(s)}), {s.wall_seconds:.0f} s, "
        f"parameters -{s.parameter_reduction_percent:.1f}%"
    )


def campaign(args) -> int:
    from ..run.campaign import run_campaign

    name = os.path.splitext(os.path.basename(args.campaign_config))[0]
    base = config_from_args(args, config_path=args.campaign_config)
    out = args.out or os.path.join("results", name)
    check_folder(out, "--out")
    check_cache(base)
    run_campaign(
        base,
        args.seeds,
        args.encodings,
        out,
        n_random=args.random_draws,
        name=name,
        progress=(lambda line: None) if args.quiet else print,
        parallel_runs=args.parallel_runs,
        protocols=args.protocols,
    )
    return 0
