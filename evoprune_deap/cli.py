"""The ``evoprune`` command (also ``python -m evoprune_deap``).

Errors a user can cause (:class:`EvopruneError`) print as one line on stderr
with exit code 2; the traceback appears only with ``--debug``.
"""

from __future__ import annotations

import argparse
import logging
import sys

from .algorithms import Callback
from .errors import EvopruneError
from .persistent import RunInterrupted

logger = logging.getLogger("evoprune_deap")


def _add_source_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("image source")
    group.add_argument("--dataset", default=None,
                       help="built-in dataset: elpv (default) or fashion-mnist")
    group.add_argument("--images", metavar="DIR", default=None,
                       help="image folder: DIR/<class>/*.png, or fold folders DIR/0/<class>/...")
    group.add_argument("--test-images", metavar="DIR", default=None,
                       help="test image folder with the same class subfolders as --images")
    group.add_argument("--backbone", default="efficientnet_lite0",
                       help="efficientnet_lite0 (default, offline), resnet50, densenet121, vgg19")
    group.add_argument("--weights", default=None,
                       help="backbone weights: a local file, 'imagenet' (download) or 'none'")
    group.add_argument("--image-size", type=int, default=224, help="input side in pixels (default 224)")
    group.add_argument("--val-fraction", type=float, default=0.15,
                       help="validation share carved from train (default 0.15)")
    group.add_argument("--test-fraction", type=float, default=0.2,
                       help="test share when the source has no test split (default 0.2)")


def _extract(args) -> int:
    from tqdm import tqdm

    from .datasets import load_source
    from .extraction import default_cache_path, extract_features

    source = load_source(args.dataset, args.images, args.test_images)
    out = args.out or default_cache_path(source.name, args.backbone, args.image_size)
    with tqdm(total=source.n_samples, unit="img", desc=f"extract {source.name}",
              disable=None, file=sys.stderr) as bar:
        feature_set = extract_features(
            source, backbone=args.backbone, image_size=args.image_size, weights=args.weights,
            seed=args.seed, val_fraction=args.val_fraction, test_fraction=args.test_fraction,
            out=out, reuse=not args.force, progress=bar.update,
        )
    state = "reused cache" if feature_set.metadata.get("cache_hit") else "extracted"
    split = feature_set.splits[0]
    print(
        f"{state}: {out}\n  {feature_set.n_samples} images x {feature_set.n_features} features, "
        f"{feature_set.n_classes} classes, {len(feature_set.splits)} split(s); split 0: "
        f"train {split.train.size} / val {split.val.size} / test {split.test.size}"
    )
    return 0


RUN_OPTIONS = {  # command-line flag -> (config table, key)
    "encoding": ("ga", "encoding"),
    "population": ("ga", "population"),
    "evaluations": ("ga", "evaluations"),
    "mutation_prob": ("ga", "mutation_prob"),
    "init_density": ("ga", "init_density"),
    "max_epochs": ("head", "max_epochs"),
    "seed": ("run", "seed"),
    "protocol": ("run", "protocol"),
    "workers": ("run", "workers"),
    "out": ("run", "out"),
    "features": ("data", "features"),
    "dataset": ("data", "dataset"),
    "images": ("data", "images"),
    "test_images": ("data", "test_images"),
    "backbone": ("data", "backbone"),
    "weights": ("data", "weights"),
    "image_size": ("data", "image_size"),
}


class ProgressBar(Callback):
    """GA callback drawing a tqdm bar: evaluations, best fitness, best active %."""

    def on_start(self, state):
        from tqdm import tqdm

        self.bar = tqdm(total=state.max_evaluations, unit="eval", desc="evolve", file=sys.stderr, disable=None)

    def on_evaluation(self, evaluation, state):
        record = state.logbook[-1]
        self.bar.update(1)
        self.bar.set_postfix(best=f"{record['best']:.4f}",
                             active=f"{100 * record['best_active'] / evaluation.mask.size:.1f}%")

    def on_end(self, state):
        self.bar.close()


def _extraction_bar(config):
    """A tqdm callback for extract_features, or None when the features are a file."""
    from tqdm import tqdm

    if config.data.features is not None:
        return None
    return tqdm(unit="img", desc="extract", file=sys.stderr, disable=None)


def _run(args) -> int:
    from .config import load_config
    from .experiment import load_feature_set, run_experiment

    if args.resume is not None:
        from .experiment import resume_run

        result = resume_run(args.resume, callbacks=[ProgressBar()])
        _print_result(result)
        return 0
    overrides: dict = {}
    for flag, (table, key) in RUN_OPTIONS.items():
        value = getattr(args, flag)
        if value is not None:
            overrides.setdefault(table, {})[key] = value
    config = load_config(args.config, preset=args.preset, overrides=overrides)
    if args.preset == "quick" and args.config is None:
        print(f"evoprune: quick preset (reduced budget: population {config.ga.population}, "
              f"{config.ga.evaluations} evaluations, at most {config.head.max_epochs} epochs); "
              "use --preset paper for the paper's budget", file=sys.stderr)
    bar = _extraction_bar(config)
    try:
        feature_set = load_feature_set(config, progress=None if bar is None else bar.update)
    finally:
        if bar is not None:
            bar.close()
    result = run_experiment(config, feature_set, run_dir=args.run_dir, callbacks=[ProgressBar()])
    _print_result(result)
    return 0


def _print_result(result) -> None:
    s = result.summary
    print(
        f"run directory: {result.run_dir}\n"
        f"  best head: {s['n_active']}/{s['n_bits']} active ({s['active_percent']:.1f}%), "
        f"val {s['val_accuracy']:.4f}, test {s['test_accuracy']:.4f}\n"
        f"  unpruned : val {s['unpruned_val_accuracy']:.4f}, test {s['unpruned_test_accuracy']:.4f}\n"
        f"  {s['evaluations']} evaluations ({s['stop_reason']}), {s['wall_seconds']:.0f} s, "
        f"parameters -{s['parameter_reduction_percent']:.1f}%"
    )


def _report(args) -> int:
    from .reporting import to_markdown, write_report

    tables = write_report(args.run_dirs, args.out, args.caption)
    print(to_markdown(tables["paper_table"]))
    print(to_markdown(tables["method_table"]))
    print(f"tables written to {args.out}/ (runs.csv, summary.csv, paper_table.*, method_table.*)")
    return 0


def _plot(args) -> int:
    from .plots import write_plots

    for path in write_plots(args.run_dirs, args.out):
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evoprune", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    commands = parser.add_subparsers(dest="command", required=True)

    extract = commands.add_parser("extract", help="turn an image dataset into a cached FeatureSet")
    _add_source_arguments(extract)
    extract.add_argument("--seed", type=int, default=0, help="seed of the stratified splits")
    extract.add_argument("--out", default=None, help="cache file (.npz)")
    extract.add_argument("--force", action="store_true", help="rebuild even if a matching cache exists")
    extract.set_defaults(handler=_extract)

    run = commands.add_parser("run", help="evolve pruning masks (EvoPruneDeepTL) and save the best head")
    run.add_argument("--preset", default="quick", help="quick (default, minutes) or paper (full budget)")
    run.add_argument("--config", metavar="FILE.toml", default=None, help="TOML file with [data] [head] [ga] [run]")
    run.add_argument("--features", metavar="PATH", default=None, help="a feature cache from `evoprune extract`")
    run.add_argument("--dataset", default=None, help="built-in dataset to extract (default elpv)")
    run.add_argument("--images", metavar="DIR", default=None, help="image folder to extract")
    run.add_argument("--test-images", metavar="DIR", default=None)
    run.add_argument("--backbone", default=None)
    run.add_argument("--weights", default=None)
    run.add_argument("--image-size", type=int, default=None)
    run.add_argument("--encoding", default=None, help="fc1 (default), fc2, both or fs")
    run.add_argument("--population", type=int, default=None)
    run.add_argument("--evaluations", type=int, default=None, help="budget of new evaluations")
    run.add_argument("--mutation-prob", type=float, default=None)
    run.add_argument("--init-density", type=float, default=None, help="fixed initial density (default U(0,1))")
    run.add_argument("--max-epochs", type=int, default=None)
    run.add_argument("--seed", type=int, default=None)
    run.add_argument("--protocol", default=None, help="honest (default: fitness on validation) or paper (on test)")
    run.add_argument("--workers", type=int, default=None,
                     help="processes training heads (default 0: one per core, at most 2)")
    run.add_argument("--out", default=None, help="parent folder of run directories (default runs/)")
    run.add_argument("--resume", metavar="RUN_DIR", default=None,
                     help="continue a run that was killed or interrupted (its own config is used)")
    run.add_argument("--run-dir", default=None, help="exact run directory (default OUT/<source>_<encoding>_seed<seed>)")
    run.set_defaults(handler=_run)

    report = commands.add_parser("report", help="result tables (Markdown, CSV, LaTeX) from run directories")
    report.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run or campaign directories")
    report.add_argument("--out", default="report", help="folder for the tables (default report/)")
    report.add_argument("--caption", default="", help="caption of the LaTeX tables")
    report.set_defaults(handler=_report)

    plot = commands.add_parser("plot", help="convergence, active %% and kept-unit plots from run directories")
    plot.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    plot.add_argument("--out", default="plots", help="folder for the PNG files (default plots/)")
    plot.set_defaults(handler=_plot)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.handler(args)
    except RunInterrupted as exc:
        print(f"evoprune: {exc}", file=sys.stderr)
        return 130
    except EvopruneError as exc:
        if args.debug:
            raise
        print(f"evoprune: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("evoprune: interrupted; finished evaluations are saved: continue with "
              "`evoprune run --resume RUN_DIR`", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
