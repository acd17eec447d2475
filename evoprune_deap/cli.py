"""The ``evoprune`` command (also ``python -m evoprune_deap``).

Subcommands: ``extract`` (images -> cached features), ``run`` (one GA run),
``campaign`` (seeds x encodings of a dataset, with baselines), ``report``
(tables) and ``plot`` (figures). ``extract``, ``run`` and ``campaign`` share
one set of options, mapped onto the config tables by :data:`CONFIG_OPTIONS`,
so their defaults come from one place (the config presets).

Errors a user can cause (:class:`EvopruneError`) print as one line on stderr
with exit code 2; the traceback appears only with ``--debug``.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import signal
import sys
import threading
import traceback
import warnings

from .config import ENCODINGS, ENGINES, FITNESS_SEEDS, OBJECTIVES, OOD_SCORES, PRESETS, PROTOCOLS, load_config
from .errors import EvopruneError, RunInterrupted
from .search.callbacks import Callback
from .storage import cache_root, check_file, check_folder


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


def _add_config_options(parser: argparse.ArgumentParser, names) -> None:
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
    from .data.features import FeatureSet
    from .run.preflight import check_against_cache

    return check_against_cache(config, given, FeatureSet.load(config.data.features).metadata)


_BARS_OFF = None  # tqdm's `disable`: None = off when stderr is not a terminal; True with -q


class ProgressBar(Callback):
    """GA callback drawing a tqdm bar: evaluations, best fitness and its active % (or hypervolume and
    front size), workers connected."""

    def __init__(self, client=None):
        self.client = client

    def on_start(self, state):
        from tqdm import tqdm

        self.bar = tqdm(
            total=state.max_evaluations, unit="eval", desc="evolve", file=sys.stderr, disable=_BARS_OFF
        )

    def on_evaluation(self, evaluation, state):
        record = state.logbook[-1]
        self.bar.update(1)
        workers = {} if self.client is None else {"workers": len(self.client.scheduler_info()["workers"])}
        if "hypervolume" in record:  # multi-objective
            shown = dict(hypervolume=f"{record['hypervolume']:.4f}", front=record["front_size"])
        else:
            shown = dict(
                best=f"{record['best']:.4f}",
                active=f"{100 * record['best_active'] / evaluation.mask.size:.1f}%",
            )
        self.bar.set_postfix(**shown, **workers)

    def on_end(self, state):
        self.bar.close()


def _extraction_bar(config, total=None):
    """A tqdm bar for feature extraction, or None when the features are a file."""
    from tqdm import tqdm

    if config.data.features is not None:
        return None
    return tqdm(total=total, unit="img", desc="extract", file=sys.stderr, disable=_BARS_OFF)


def _check_cache(config) -> None:
    """Extraction writes to the cache folder: refuse an unusable one before the work starts."""
    if (
        config.data.features is None
        or config.data.ood_dataset is not None
        or config.data.ood_images is not None
    ):
        check_folder(cache_root(), "The cache folder ($EVOPRUNE_CACHE_DIR)")


def _load_features(config, out: str | None = None, force: bool = False, expect_key: dict | None = None):
    from .data.loading import load_feature_set

    if out is not None:
        check_file(out, "--out")
    else:
        _check_cache(config)
    bar = _extraction_bar(config)
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


def _extract(args) -> int:
    if args.out is not None and not args.out.endswith(".npz"):
        raise EvopruneError(
            f"--out {args.out!r} is not a .npz file; a feature cache is written as .npz: give e.g. "
            f"--out {shlex.quote(os.path.splitext(args.out)[0] + '.npz')}."
        )
    config = config_from_args(args)
    feature_set = _load_features(config, out=args.out, force=args.force)
    state = "reused cache" if feature_set.metadata.get("cache_hit") else "extracted"
    split = feature_set.splits[0]
    print(
        f"{state}: {feature_set.metadata['cache_path']}\n  {feature_set.n_samples} images x "
        f"{feature_set.n_features} features, {feature_set.n_classes} classes, {len(feature_set.splits)} "
        f"split(s); split 0: train {split.train.size} / val {split.val.size} / test {split.test.size}"
    )
    return 0


def _run(args) -> int:
    from .evaluation.setup import cluster_for, resolve_workers
    from .records.directory import RunDirectory
    from .run.experiment import check_features, default_run_dir, recorded_features_key, run_experiment

    if args.resume is not None:
        config, run_dir = _resumed_config(args), args.resume
    else:
        config, run_dir = config_from_args(args, run={"out": args.out} if args.out else {}), args.run_dir
    check_folder(run_dir if run_dir is not None else config.run.out, "--run-dir" if run_dir else "--out")
    resolve_workers(config.run.workers)
    if args.tensorboard:
        check_folder(args.tensorboard, "--tensorboard")
    features = _load_features(
        config, expect_key=None if args.resume is None else recorded_features_key(args.resume)
    )
    check_features(config, features)  # the head fits, each class keeps training images
    global _RUN_DIR
    _RUN_DIR = run_dir or default_run_dir(config, features)
    if args.resume is None:
        RunDirectory(_RUN_DIR).check_new()
    callbacks = []
    if args.tensorboard:
        from .run.tracking import TensorBoardLogger

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
    from .records.directory import RunDirectory

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
        + f"  {s.evaluations} evaluations ({s.stop_reason}), {s.wall_seconds:.0f} s, "
        f"parameters -{s.parameter_reduction_percent:.1f}%"
    )


def _campaign(args) -> int:
    from .run.campaign import run_campaign

    name = os.path.splitext(os.path.basename(args.campaign_config))[0]
    base = config_from_args(args, config_path=args.campaign_config)
    out = args.out or os.path.join("results", name)
    check_folder(out, "--out")
    _check_cache(base)
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


def _check_run_paths(paths: list) -> None:
    """``report`` and ``plot`` take run directories (or folders of them): a file or a missing path is refused
    before a default ``--out`` is made from it."""
    for path in paths:
        if not os.path.exists(path) or os.path.isfile(path):
            what = "is a file, not a run directory" if os.path.exists(path) else "does not exist"
            raise EvopruneError(
                f"{path!r} {what}; pass run directories (`evoprune run` prints each) or the folder "
                "holding them, e.g. runs/."
            )


def _beside_runs(run_dirs: list, folder: str) -> str:
    """``folder`` inside the one directory given, or inside the directory the given ones share."""
    return os.path.join(os.path.commonpath([os.path.abspath(p) for p in run_dirs]), folder)


def _report(args) -> int:
    from .report.tables import to_markdown, write_report

    if args.out is None:  # the default --out is made from them: check them first
        _check_run_paths(args.run_dirs)
    args.out = args.out or _beside_runs(args.run_dirs, "report")
    check_folder(args.out, "--out")
    tables = write_report(args.run_dirs, args.out, args.caption)
    names = [
        name
        for name in (
            "paper_table",
            "method_table",
            "optimism_table",
            "pareto_table",
            "front_table",
            "export_table",
        )
        if name in tables
    ]
    for name in names:
        print(to_markdown(tables[name]))
    extra = ", front_differences.csv" if "front_table" in tables else ""
    print(
        f"tables written to {args.out}/ (runs.csv, summary.csv, differences.csv{extra}, "
        f"{', '.join(name + '.*' for name in names)})"
    )
    return 0


def _plot(args) -> int:
    from .report.plots import write_plots

    if args.out is None:  # the default --out is made from them: check them first
        _check_run_paths(args.run_dirs)
    args.out = args.out or _beside_runs(args.run_dirs, "plots")
    check_folder(args.out, "--out")
    for path in write_plots(args.run_dirs, args.out):
        print(path)
    return 0


def _select(args) -> int:
    from .shipping.members import export_member

    if args.out is not None:
        check_file(args.out, "--out")
    record = export_member(
        args.run_dir, max_active=args.max_active, min_accuracy=args.min_accuracy, knee=args.knee, out=args.out
    )
    print(
        f"{record['rule']}: member {record['mask_hash']}, {record['n_active']} active "
        f"({record['active_percent']:.1f}%), accuracy {record['accuracy']:.4f}; retrained: val "
        f"{record['val_accuracy']:.4f}, test {record['test_accuracy']:.4f}"
        + (f", test OOD AUROC {record['test_ood_auroc']:.4f}" if record["test_ood_auroc"] is not None else "")
        + f"\nsaved {record['model']} (and its .json)"
    )
    return 0


def _ensemble(args) -> int:
    from .report.tables import to_markdown
    from .shipping.members import build_ensemble

    if args.out is not None:
        check_file(args.out, "--out")
    record = build_ensemble(args.run_dir, window=args.window, out=args.out)
    print(to_markdown(record["table"]))
    print(f"saved {record['model']} (and its .json, .csv)")
    return 0


def _export(args) -> int:
    from .shipping.export import export_model

    record = export_model(
        args.run_dir,
        member=args.member,
        selected=args.selected,
        format=args.format,
        quantize=args.quantize,
        out=args.out,
        input_size=args.input_size,
        force=args.force,
    )
    costs = record["costs"]
    print(
        f"{record['source']}: {record['n_heads']} head(s) on {record['active_features']} of the backbone's features "
        f"({record['feature_selection']}); backbone {costs['backbone_parameters']:,} parameters "
        f"(-{costs['backbone_parameters_removed']:,}), head {costs['head_parameters']:,} "
        f"(-{costs['head_parameters_removed']:,}); {record['file_bytes'] / 2**20:.1f} MiB"
        f"\nsaved {record['model']} (and {record['model']}.json)"
    )
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse with the CLI's one-line errors (exit 2), pointing at ``--help`` instead of printing the usage."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, allow_abbrev=False, **kwargs)  # `--encoding` is not `--encodings`

    def error(self, message):
        self.exit(2, f"evoprune: error: {message}; see `{self.prog} --help`.\n")


_RUN_DIR = None  # the run directory of `evoprune run`, once known: named by the Ctrl-C hint


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="evoprune", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    loudness.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="errors and results only: no progress bars, notices or warnings",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    extract = commands.add_parser("extract", help="turn an image dataset into a cached FeatureSet")
    _add_config_options(extract, SOURCE_OPTIONS)
    extract.add_argument("--out", default=None, help="cache file (.npz; default in ~/.cache/evoprune-deap)")
    extract.add_argument("--force", action="store_true", help="rebuild even if a matching cache exists")
    extract.set_defaults(handler=_extract)

    run = commands.add_parser("run", help="evolve pruning masks (EvoPruneDeepTL) and save the best head")
    _add_config_options(run, CONFIG_OPTIONS)
    run.add_argument("--out", default=None, help="parent folder of run directories (default runs/)")
    run.add_argument(
        "--resume",
        metavar="RUN_DIR",
        default=None,
        help="continue a run that was killed or interrupted (its own config is used)",
    )
    run.add_argument(
        "--tensorboard",
        metavar="DIR",
        default=None,
        help="log each evaluation to TensorBoard under DIR/<run name> (tensorboard --logdir DIR)",
    )
    run.add_argument(
        "--run-dir", default=None, help="exact run directory (default OUT/<source>_<encoding>_seed<seed>)"
    )
    run.set_defaults(handler=_run)

    campaign = commands.add_parser(
        "campaign", help="seeds x encodings of one dataset, each with its baselines"
    )
    campaign.add_argument("campaign_config", metavar="CONFIG.toml", help="the dataset's TOML config")
    _add_config_options(campaign, [n for n in CONFIG_OPTIONS if n not in ("encoding", "seed")])
    campaign.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    campaign.add_argument("--encodings", nargs="+", default=list(ENCODINGS), choices=ENCODINGS)
    campaign.add_argument("--out", default=None, help="campaign folder (default results/<config name>)")
    campaign.add_argument("--random-draws", type=int, default=3, help="random-mask baseline draws per run")
    campaign.add_argument(
        "--protocols",
        nargs="+",
        choices=PROTOCOLS,
        default=None,
        help="run every combination under each protocol (<out>/<protocol>/...), with a "
        "hold-out carved from train first: the optimism audit",
    )
    campaign.add_argument(
        "--parallel-runs",
        type=at_least_zero,
        default=0,
        help="runs at once on the cluster (default 0: enough to keep every worker busy)",
    )
    campaign.set_defaults(handler=_campaign)

    select = commands.add_parser(
        "select", help="export one member of a multi-objective run's front as a .keras head"
    )
    select.add_argument(
        "run_dir", metavar="RUN_DIR", help="a finished run with --objectives (it has front.csv)"
    )
    rule = select.add_mutually_exclusive_group(required=True)
    rule.add_argument(
        "--max-active",
        metavar="PERCENT",
        help="the most accurate member with at most this share of units active, e.g. 30%%",
    )
    rule.add_argument(
        "--min-accuracy",
        type=float,
        metavar="A",
        help="the sparsest member with accuracy >= A (the GA's: validation under the honest protocol)",
    )
    rule.add_argument("--knee", action="store_true", help="the knee of the accuracy/active front")
    select.add_argument(
        "--out", default=None, help="the .keras file (default RUN_DIR/selected/<rule>_<hash>.keras)"
    )
    select.set_defaults(handler=_select)

    ensemble = commands.add_parser(
        "ensemble", help="majority-vote ensemble of a front's members, saved as one Keras model"
    )
    ensemble.add_argument(
        "run_dir", metavar="RUN_DIR", help="a finished run with --objectives (it has front.csv)"
    )
    ensemble.add_argument(
        "--window",
        default="85-95",
        help="members whose accuracy lies between these percentiles of the front's (default 85-95)",
    )
    ensemble.add_argument(
        "--out", default=None, help="the .keras file (default RUN_DIR/ensemble/ensemble_<window>.keras)"
    )
    ensemble.set_defaults(handler=_ensemble)

    export = commands.add_parser(
        "export",
        help="one image-to-class model (raw RGB uint8 images -> class "
        "probabilities) of a finished run, as .keras or LiteRT .tflite",
    )
    export.add_argument("run_dir", metavar="RUN_DIR", help="a finished run")
    chosen = export.add_mutually_exclusive_group()
    chosen.add_argument(
        "--member",
        metavar="HASH",
        help="a mask_hash of the run's front.csv (retrained from the run's "
        "seed), or 'unpruned' (the run's unpruned reference); default the run's best head",
    )
    chosen.add_argument(
        "--selected", metavar="FILE", help="a .keras file written by `evoprune select` or `evoprune ensemble`"
    )
    export.add_argument("--format", default="keras", choices=["keras", "litert"])
    export.add_argument(
        "--quantize",
        default="none",
        choices=["none", "int8", "dynamic", "float16"],
        help="with --format litert: int8 (full-integer, calibrated on the run's training images), "
        "dynamic (dynamic-range int8 weights) or float16 weights",
    )
    export.add_argument(
        "--input-size",
        metavar="HxW",
        default=None,
        help="the images' size, resized in the model as the features were (PIL's antialiasing "
        "bilinear); default any size for keras, the backbone's own size for litert",
    )
    export.add_argument(
        "--out",
        default=None,
        help="the model file, .keras or .tflite (default "
        "RUN_DIR/export/<best|HASH|file name>[_int8|_dynamic|_fp16].keras|.tflite)",
    )
    export.set_defaults(handler=_export)
    export.add_argument(
        "--force", action="store_true", help="overwrite an existing --out that is not this run's own export"
    )

    report = commands.add_parser("report", help="result tables (Markdown, CSV, LaTeX) from run directories")
    report.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run or campaign directories")
    report.add_argument(
        "--out", default=None, help="folder for the tables (default: report/ beside the runs)"
    )
    report.add_argument("--caption", default="", help="caption of the LaTeX tables")
    report.set_defaults(handler=_report)

    plot = commands.add_parser("plot", help="convergence, active %% and kept-unit plots from run directories")
    plot.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    plot.add_argument(
        "--out", default=None, help="folder for the PNG files (default: plots/ beside the runs)"
    )
    plot.set_defaults(handler=_plot)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR if args.quiet else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.quiet:
        warnings.simplefilter("ignore")
        global _BARS_OFF
        _BARS_OFF = True
    # Dask sets its own logger levels when it is first imported, from its configuration.
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "info" if args.verbose else "warning")
    from .tensorflow_worker import shared_tensorflow_worker

    on_main_thread = threading.current_thread() is threading.main_thread()
    if on_main_thread:  # a job scheduler's stop (SIGTERM) is handled as Ctrl-C
        previous_sigterm = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with shared_tensorflow_worker():  # a run's dataset and OOD images: one TensorFlow start-up
            return args.handler(args)
    except RunInterrupted as exc:
        print(f"evoprune: {exc}", file=sys.stderr)
        return 130
    except EvopruneError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"evoprune: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if _RUN_DIR is None:
            print(
                f"evoprune: interrupted; nothing of `evoprune {args.command}` is left half-written.",
                file=sys.stderr,
            )
        else:
            print(
                "evoprune: interrupted; finished evaluations are saved: continue with "
                f"`evoprune run --resume {shlex.quote(os.path.abspath(_RUN_DIR))}`",
                file=sys.stderr,
            )
        return 130
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous_sigterm)


if __name__ == "__main__":
    sys.exit(main())
