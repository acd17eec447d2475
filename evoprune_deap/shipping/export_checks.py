"""What ``evoprune export`` refuses before anything loads: its options, the run, the heads and the files.

Each check raises one error naming the bad value and the fix (see
:mod:`evoprune_deap.errors`); :func:`~evoprune_deap.shipping.export.export_model`
runs them before it loads a feature cache or builds a backbone.
"""

from __future__ import annotations

import os

from ..errors import BackboneError, ConfigError, RunDirectoryError
from ..records.directory import RunDirectory

FORMATS = {"keras": ".keras", "litert": ".tflite"}
QUANTIZE = ("none", "int8", "dynamic", "float16")
UNPRUNED = "unpruned"
MAX_INPUT_SIDE = 4096
"""Largest image side an exported model takes (a 4K frame); its resize grows with the input's size."""


def parse_input_size(text: str | None) -> tuple | None:
    """``"300x300"`` -> (300, 300) (height x width); None stays None."""
    if text is None:
        return None
    try:
        height, width = (int(part) for part in str(text).lower().split("x"))
    except ValueError:
        raise ConfigError(
            f"--input-size {text!r} is not HEIGHTxWIDTH in pixels; write e.g. 300x300."
        ) from None
    if min(height, width) < 1 or max(height, width) > MAX_INPUT_SIDE:
        raise ConfigError(
            f"--input-size {text!r} needs sides in [1, {MAX_INPUT_SIDE}] pixels (the model resizes them "
            "to the backbone's size); write e.g. 300x300."
        )
    return height, width


def check_out(out: str, run_dir: str, force: bool) -> None:
    """An existing ``out`` is overwritten only if it is this run's own earlier export (its sidecar says
    so) or with ``force``; an unrelated file is refused."""
    import json

    if force or not os.path.lexists(out):
        return
    try:
        with open(out + ".json") as stream:
            record = json.load(stream)
    except (OSError, ValueError):
        record = {}
    mine = isinstance(record, dict) and os.path.abspath(str(record.get("run_dir"))) == os.path.abspath(
        run_dir
    )
    if not (mine and os.path.abspath(str(record.get("model"))) == os.path.abspath(out)):
        raise ConfigError(
            f"--out {out!r} exists and is not an export of run {run_dir!r}; pass another --out, or add "
            "--force to overwrite it."
        )


def check_options(
    format: str, quantize: str, out: str | None, member: str | None, selected: str | None
) -> None:
    """Refuse a bad combination before any work (each message names the value and the fix)."""
    if format not in FORMATS:
        raise ConfigError(f"--format {format!r} is not one of {', '.join(FORMATS)}.")
    if quantize not in QUANTIZE:
        raise ConfigError(f"--quantize {quantize!r} is not one of {', '.join(QUANTIZE)}.")
    if quantize != "none" and format != "litert":
        raise ConfigError(f"--quantize {quantize} needs --format litert (a .keras model stays float32).")
    if out is not None and not out.endswith(FORMATS[format]):
        raise ConfigError(
            f"--out {out!r} does not end with {FORMATS[format]}, the suffix of --format {format}; "
            f"pass e.g. --out model{FORMATS[format]}."
        )
    if member is not None and selected is not None:
        raise ConfigError("Pass --member or --selected, not both.")
    if selected is not None and not os.path.exists(selected):
        raise ConfigError(
            f"--selected {selected!r} does not exist; pass a file that `evoprune select` or `evoprune "
            "ensemble` wrote (RUN_DIR/selected/*.keras, RUN_DIR/ensemble/*.keras)."
        )
    if selected is not None and not (selected.endswith(".keras") and os.path.isfile(selected)):
        raise ConfigError(
            f"--selected {selected!r} is not a .keras file written by `evoprune select` or "
            "`evoprune ensemble`; pass one of those (RUN_DIR/selected/*.keras, RUN_DIR/ensemble/*.keras)."
        )


def check_weights_file(weights: str | None, sha256: str | None = None) -> None:
    if weights not in (None, "imagenet", "none") and not os.path.isfile(weights):
        raise BackboneError(
            f"The run's backbone weights file {weights!r} is gone; put it back"
            + (f" (sha256 {sha256})" if sha256 else "")
            + " to export this run."
        )


def check_rebuildable(weights, run_dir: str) -> None:
    """Random backbone weights (``--weights none``) are drawn anew each time: no export can rebuild them."""
    if isinstance(weights, str) and weights.lower() == "none":  # None: the default (ImageNet) weights
        raise BackboneError(
            f"Run {run_dir!r} was made with --weights none: its backbone had random weights that no file "
            "keeps, so an exported model would compute other features; make the run with --weights FILE "
            "(or imagenet) to export it."
        )


def check_sources(config, quantize: str, run_dir: str) -> None:
    """What the export rebuilds from the run's config: its backbone, and for ``int8`` its training images."""
    check_rebuildable(config.data.weights, run_dir)
    if quantize == "int8" and config.data.features is not None:
        raise ConfigError(
            f"--quantize int8 calibrates on the run's training images, and run {run_dir!r} was made from a "
            f"feature cache ({config.data.features}) alone; use --quantize float16 or dynamic."
        )


def _check_member(directory: RunDirectory, member: str | None) -> None:
    """``--member HASH`` must name a member of the run's front: checked before anything loads."""
    if member is None or member == UNPRUNED:
        return
    if not directory.has(RunDirectory.FRONT):
        raise RunDirectoryError(
            f"Run {directory.path!r} has no front.csv (a single-objective run); pass no "
            f"--member to export its best head, or --member {UNPRUNED}."
        )
    hashes = directory.read_front()["mask_hash"].tolist()
    if member not in hashes:
        raise ConfigError(
            f"--member {member!r} is not in {directory.file(RunDirectory.FRONT)}; pass one of its "
            f"mask_hash values ({', '.join(hashes[:6])}{', ...' if len(hashes) > 6 else ''}) "
            f"or {UNPRUNED}."
        )


def check_heads(directory: RunDirectory, member: str | None, selected: str | None) -> None:
    """The heads to export exist and are whole, checked before anything loads: ``--member`` names a front
    member, and the ``--selected`` file or the run's best head is no truncated zip."""
    _check_member(directory, member)
    if selected is not None:
        check_model_file(selected, "write it again with `evoprune select` or `evoprune ensemble`")
    elif member is None and directory.has(RunDirectory.BEST_HEAD):
        check_model_file(
            directory.file(RunDirectory.BEST_HEAD),
            f"restore it, or export a head retrained from the run's seed instead (--member {UNPRUNED}, or "
            "--member HASH of a multi-objective run)",
        )


def check_model_file(path: str, fix: str) -> None:
    """A saved ``.keras`` model is a zip: a truncated or corrupt one is refused at once, naming ``fix``,
    rather than by Keras after the backbone has loaded."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        bad = f"{exc.__class__.__name__}: {exc}"
    else:
        bad = None if bad is None else f"member {bad!r} fails its CRC"
    if bad is not None:
        raise RunDirectoryError(f"Model file {path!r} is truncated or corrupt ({bad}); {fix}.")


def finished_run(run_dir: str) -> RunDirectory:
    """``run_dir`` as a finished run, or the error that names what it is and the fix."""
    directory = RunDirectory(run_dir)
    if not directory.is_started:
        error = str(directory.not_a_run())
        raise RunDirectoryError(
            error.replace("nothing to resume.", "pass a finished run directory (`evoprune run` prints it).")
        )
    if not directory.is_finished:
        raise RunDirectoryError(
            f"Run {run_dir!r} is not finished (no summary.json); finish it with "
            f"`evoprune run --resume {run_dir}` before exporting."
        )
    return directory
