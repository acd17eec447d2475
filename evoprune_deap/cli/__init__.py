"""The ``evoprune`` command (also ``python -m evoprune_deap``).

Subcommands: ``extract`` (images -> cached features), ``run`` (one GA run),
``campaign`` (seeds x encodings of a dataset, with baselines), ``report``
(tables) and ``plot`` (figures), ``select``, ``ensemble`` and ``export`` (models to ship).
``extract``, ``run`` and ``campaign`` share one set of options, mapped onto the config tables by
:data:`CONFIG_OPTIONS`, so their defaults come from one place (the config presets).

Errors a user can cause (:class:`EvopruneError`) print as one line on stderr
with exit code 2; the traceback appears only with ``--debug``.

The modules: ``options`` (the shared options' table, :func:`config_from_args`), ``parser`` (every
subcommand's options as one table, :func:`build_parser`), ``progress`` (the bars), and the commands:
``running`` (extract, run, campaign), ``reporting`` (report, plot), ``shipping`` (select, ensemble, export).
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import sys
import threading
import traceback
import warnings

from ..errors import EvopruneError, RunInterrupted
from .options import CONFIG_OPTIONS, SOURCE_OPTIONS, at_least_zero, config_from_args, hidden_widths
from .parser import build_parser
from .progress import ProgressBar, bars_off
from .running import RESUME_OPTIONS, current_run_dir

__all__ = [
    "CONFIG_OPTIONS",
    "RESUME_OPTIONS",
    "SOURCE_OPTIONS",
    "ProgressBar",
    "at_least_zero",
    "build_parser",
    "config_from_args",
    "hidden_widths",
    "main",
]


def main(argv=None) -> int:
    """Run ``evoprune`` on ``argv`` (default: the command line's); return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR if args.quiet else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    bars_off(args.quiet)  # this call's -q only (in-process callers make several calls)
    if args.quiet:
        warnings.simplefilter("ignore")
    # Dask sets its own logger levels when it is first imported, from its configuration.
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "info" if args.verbose else "warning")
    from ..tensorflow_worker import shared_tensorflow_worker

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
        if current_run_dir() is None:
            print(
                f"evoprune: interrupted; nothing of `evoprune {args.command}` is left half-written.",
                file=sys.stderr,
            )
        else:
            print(
                "evoprune: interrupted; finished evaluations are saved: continue with "
                f"`evoprune run --resume {shlex.quote(os.path.abspath(current_run_dir()))}`",
                file=sys.stderr,
            )
        return 130
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous_sigterm)
