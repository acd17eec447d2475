"""The parser of ``evoprune``, built from one table: each subcommand's help, handler and options, in order.

An entry of a command's options is an :class:`Option` (one ``add_argument``), a :class:`Group` of mutually
exclusive options, or :class:`ConfigOptions` (the options of :data:`~.options.CONFIG_OPTIONS` it takes).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Callable

from ..config import ENCODINGS, PROTOCOLS
from . import reporting, running, shipping
from .options import CONFIG_OPTIONS, SOURCE_OPTIONS, add_config_options, at_least_zero

DESCRIPTION = "The ``evoprune`` command (also ``python -m evoprune_deap``)."


class Option:
    """One ``add_argument(*flags, **settings)``."""

    def __init__(self, *flags: str, **settings):
        self.flags, self.settings = flags, settings


@dataclass(frozen=True)
class Group:
    """Mutually exclusive options (one of them required when ``required``)."""

    options: tuple
    required: bool = False


@dataclass(frozen=True)
class ConfigOptions:
    """``--preset``, ``--config`` and these options of :data:`~.options.CONFIG_OPTIONS`."""

    names: tuple


@dataclass(frozen=True)
class Command:
    """A subcommand: its one-line help, the function it runs, its options in the order ``--help`` lists."""

    help: str
    handler: Callable
    options: tuple = ()


RUN_DIR = Option("run_dir", metavar="RUN_DIR", help="a finished run with --objectives (it has front.csv)")

LOUDNESS = (
    Option("--debug", action="store_true", help="show tracebacks"),
    Group(
        (
            Option("-v", "--verbose", action="store_true", help="log progress details"),
            Option(
                "-q",
                "--quiet",
                action="store_true",
                help="errors and results only: no progress bars, notices or warnings",
            ),
        )
    ),
)
"""The options of ``evoprune`` itself, before the subcommand."""

COMMANDS = {
    "extract": Command(
        "turn an image dataset into a cached FeatureSet",
        running.extract,
        (
            ConfigOptions(SOURCE_OPTIONS),
            Option("--out", default=None, help="cache file (.npz; default in ~/.cache/evoprune-deap)"),
            Option("--force", action="store_true", help="rebuild even if a matching cache exists"),
        ),
    ),
    "run": Command(
        "evolve pruning masks (EvoPruneDeepTL) and save the best head",
        running.run,
        (
            ConfigOptions(tuple(CONFIG_OPTIONS)),
            Option("--out", default=None, help="parent folder of run directories (default runs/)"),
            Option(
                "--resume",
                metavar="RUN_DIR",
                default=None,
                help="continue a run that was killed or interrupted (its own config is used)",
            ),
            Option(
                "--tensorboard",
                metavar="DIR",
                default=None,
                help="log each evaluation to TensorBoard under DIR/<run name> (tensorboard --logdir DIR)",
            ),
            Option(
                "--run-dir",
                default=None,
                help="exact run directory (default OUT/<source>_<encoding>_seed<seed>)",
            ),
        ),
    ),
    "campaign": Command(
        "seeds x encodings of one dataset, each with its baselines",
        running.campaign,
        (
            Option("campaign_config", metavar="CONFIG.toml", help="the dataset's TOML config"),
            ConfigOptions(tuple(n for n in CONFIG_OPTIONS if n not in ("encoding", "seed"))),
            Option("--seeds", type=int, nargs="+", default=[0, 1, 2]),
            Option("--encodings", nargs="+", default=list(ENCODINGS), choices=ENCODINGS),
            Option("--out", default=None, help="campaign folder (default results/<config name>)"),
            Option("--random-draws", type=int, default=3, help="random-mask baseline draws per run"),
            Option(
                "--protocols",
                nargs="+",
                choices=PROTOCOLS,
                default=None,
                help="run every combination under each protocol (<out>/<protocol>/...), with a "
                "hold-out carved from train first: the optimism audit",
            ),
            Option(
                "--parallel-runs",
                type=at_least_zero,
                default=0,
                help="runs at once on the cluster (default 0: enough to keep every worker busy)",
            ),
        ),
    ),
    "select": Command(
        "export one member of a multi-objective run's front as a .keras head",
        shipping.select,
        (
            RUN_DIR,
            Group(
                (
                    Option(
                        "--max-active",
                        metavar="PERCENT",
                        help="the most accurate member with at most this share of units active, e.g. 30%%",
                    ),
                    Option(
                        "--min-accuracy",
                        type=float,
                        metavar="A",
                        help="the sparsest member with accuracy >= A (the GA's: validation under the honest "
                        "protocol)",
                    ),
                    Option("--knee", action="store_true", help="the knee of the accuracy/active front"),
                ),
                required=True,
            ),
            Option(
                "--out", default=None, help="the .keras file (default RUN_DIR/selected/<rule>_<hash>.keras)"
            ),
        ),
    ),
    "ensemble": Command(
        "majority-vote ensemble of a front's members, saved as one Keras model",
        shipping.ensemble,
        (
            RUN_DIR,
            Option(
                "--window",
                default="85-95",
                help="members whose accuracy lies between these percentiles of the front's (default 85-95)",
            ),
            Option(
                "--out",
                default=None,
                help="the .keras file (default RUN_DIR/ensemble/ensemble_<window>.keras)",
            ),
        ),
    ),
    "export": Command(
        "one image-to-class model (raw RGB uint8 images -> class "
        "probabilities) of a finished run, as .keras or LiteRT .tflite",
        shipping.export,
        (
            Option("run_dir", metavar="RUN_DIR", help="a finished run"),
            Group(
                (
                    Option(
                        "--member",
                        metavar="HASH",
                        help="a mask_hash of the run's front.csv (retrained from the run's "
                        "seed), or 'unpruned' (the run's unpruned reference); default the run's best head",
                    ),
                    Option(
                        "--selected",
                        metavar="FILE",
                        help="a .keras file written by `evoprune select` or `evoprune ensemble`",
                    ),
                )
            ),
            Option("--format", default="keras", choices=["keras", "litert"]),
            Option(
                "--quantize",
                default="none",
                choices=["none", "int8", "dynamic", "float16"],
                help="with --format litert: int8 (full-integer, calibrated on the run's training images), "
                "dynamic (dynamic-range int8 weights) or float16 weights",
            ),
            Option(
                "--input-size",
                metavar="HxW",
                default=None,
                help="the images' size, resized in the model as the features were (PIL's antialiasing "
                "bilinear); default any size for keras, the backbone's own size for litert",
            ),
            Option(
                "--out",
                default=None,
                help="the model file, .keras or .tflite (default "
                "RUN_DIR/export/<best|HASH|file name>[_int8|_dynamic|_fp16].keras|.tflite)",
            ),
            Option(
                "--force",
                action="store_true",
                help="overwrite an existing --out that is not this run's own export",
            ),
        ),
    ),
    "report": Command(
        "result tables (Markdown, CSV, LaTeX) from run directories",
        reporting.report,
        (
            Option("run_dirs", nargs="+", metavar="RUN_DIR", help="run or campaign directories"),
            Option("--out", default=None, help="folder for the tables (default: report/ beside the runs)"),
            Option("--caption", default="", help="caption of the LaTeX tables"),
        ),
    ),
    "plot": Command(
        "convergence, active %% and kept-unit plots from run directories",
        reporting.plot,
        (
            Option("run_dirs", nargs="+", metavar="RUN_DIR"),
            Option("--out", default=None, help="folder for the PNG files (default: plots/ beside the runs)"),
        ),
    ),
}
"""Every subcommand, in the order ``evoprune --help`` lists them."""


class _Parser(argparse.ArgumentParser):
    """argparse with the CLI's one-line errors (exit 2), pointing at ``--help`` instead of printing the
    usage."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, allow_abbrev=False, **kwargs)  # `--encoding` is not `--encodings`

    def error(self, message):
        self.exit(2, f"evoprune: error: {message}; see `{self.prog} --help`.\n")


def _add(parser, entries) -> None:
    """Add a table's entries to a parser (or to a group of one), in order."""
    for entry in entries:
        if isinstance(entry, Group):
            _add(parser.add_mutually_exclusive_group(required=entry.required), entry.options)
        elif isinstance(entry, ConfigOptions):
            add_config_options(parser, entry.names)
        else:
            parser.add_argument(*entry.flags, **entry.settings)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``evoprune`` and its subcommands, from :data:`LOUDNESS` and :data:`COMMANDS`."""
    parser = _Parser(prog="evoprune", description=DESCRIPTION)
    _add(parser, LOUDNESS)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, command in COMMANDS.items():
        subparser = commands.add_parser(name, help=command.help)
        _add(subparser, command.options)
        subparser.set_defaults(handler=command.handler)
    return parser
