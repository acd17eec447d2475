"""``evoprune export``: a finished run's pruned network as one image-to-class model, Keras or LiteRT.

The model (:func:`~evoprune_deap.head.image_model.image_classifier`) takes raw
RGB uint8 images of any size and returns class probabilities; its heads are
the run's best head (``best_head.keras``), a front member retrained from the
run's seed (``member``, as ``evoprune select`` does), the unpruned reference
(``member="unpruned"``), or a file written by ``evoprune select`` or
``evoprune ensemble`` (``selected``). A JSON sidecar beside the model (``<model>.json``) records
the class names, image size, backbone and its weights' checksum, the mask
hashes, the run seed, and the parameters and multiply-adds removed.

LiteRT conversion runs TensorFlow's converter (through Keras' public
``model.export(format="litert")``, built-in ops only) in a child process
with the TensorFlow backend (:mod:`evoprune_deap.shipping.litert`), since the
toolkit itself runs Keras on JAX.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from ..errors import BackboneError, ConfigError, RunDirectoryError
from ..records.directory import RunDirectory
from ..search.bits import mask_hash
from ..storage import check_file, write_json
from ..version import __version__

FORMATS = {"keras": ".keras", "litert": ".tflite"}
QUANTIZE = ("none", "int8", "dynamic", "float16")
SUFFIXES = {"none": "", "int8": "_int8", "dynamic": "_dynamic", "float16": "_fp16"}
UNPRUNED = "unpruned"


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


MAX_INPUT_SIDE = 4096
"""Largest image side an exported model takes (a 4K frame); its resize grows with the input's size."""


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
    if selected is not None and not (selected.endswith(".keras") and os.path.isfile(selected)):
        raise ConfigError(
            f"--selected {selected!r} is not a .keras file written by `evoprune select` or "
            "`evoprune ensemble`; pass one of those (RUN_DIR/selected/*.keras, RUN_DIR/ensemble/*.keras)."
        )


def _check_weights_file(weights: str | None, sha256: str | None = None) -> None:
    if weights not in (None, "imagenet", "none") and not os.path.isfile(weights):
        raise BackboneError(
            f"The run's backbone weights file {weights!r} is gone; put it back"
            + (f" (sha256 {sha256})" if sha256 else "")
            + " to export this run."
        )


def _check_rebuildable(weights, run_dir: str) -> None:
    """Random backbone weights (``--weights none``) are drawn anew each time: no export can rebuild them."""
    if isinstance(weights, str) and weights.lower() == "none":  # None: the default (ImageNet) weights
        raise BackboneError(
            f"Run {run_dir!r} was made with --weights none: its backbone had random weights that no file "
            "keeps, so an exported model would compute other features; make the run with --weights FILE "
            "(or imagenet) to export it."
        )


def _check_sources(config, quantize: str, run_dir: str) -> None:
    """What the export rebuilds from the run's config: its backbone, and for ``int8`` its training images."""
    _check_rebuildable(config.data.weights, run_dir)
    if quantize == "int8" and config.data.features is not None:
        raise ConfigError(
            f"--quantize int8 calibrates on the run's training images, and run {run_dir!r} was made from a "
            f"feature cache ({config.data.features}) alone; use --quantize float16 or dynamic."
        )


def _backbone(metadata: dict, run_dir: str):
    """The backbone the features were made with, its weights checked against the cache's checksum."""
    from ..data.backbones import build_backbone

    weights = metadata.get("weights")
    _check_rebuildable(weights, run_dir)
    _check_weights_file(weights, metadata.get("weights_sha256"))
    backbone = build_backbone(
        metadata["backbone"], int(metadata["image_size"]), None if weights in (None, "imagenet") else weights
    )
    if metadata.get("weights_sha256") and backbone.weights_sha256 not in (None, metadata["weights_sha256"]):
        raise BackboneError(
            f"The backbone weights have sha256 {backbone.weights_sha256}, not the "
            f"{metadata['weights_sha256']} the run's features were made with; restore those weights."
        )
    return backbone


def _litert(model, out: str, quantize: str, config, feature_set, input_size: tuple) -> dict | None:
    """Convert ``model`` to ``out`` (``.tflite``); for ``int8``, calibrated on the run's training images (a
    seeded draw of :data:`~evoprune_deap.shipping.litert.CALIBRATION_IMAGES`): return what calibrated it."""
    from .deploy_check import calibration_images
    from .litert import CALIBRATION_IMAGES, convert

    with tempfile.TemporaryDirectory() as scratch:
        staged, calibration = os.path.join(scratch, "model.keras"), None
        model.save(staged)
        if quantize == "int8":
            seed = config.run.seed
            images = calibration_images(config, feature_set, input_size, CALIBRATION_IMAGES, seed)
            np.save(os.path.join(scratch, "calibration.npy"), images)
            calibration = {"images": len(images), "split": "train", "seed": seed}
        convert(staged, out, quantize, calibration and os.path.join(scratch, "calibration.npy"))
    return calibration


def _read_sidecar(path: str) -> dict:
    import json

    sidecar = os.path.splitext(path)[0] + ".json"
    try:
        with open(sidecar) as stream:
            return json.load(stream)
    except (OSError, ValueError):
        return {}


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


def _check_heads(directory: RunDirectory, member: str | None, selected: str | None) -> None:
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


def _members(directory: RunDirectory, feature_set, config, member: str | None, selected: str | None):
    """The heads to export and where they came from: (members, mask hashes, source)."""
    from ..head.image_model import Member, members_of
    from ..head.stack import load_head

    if selected is not None:
        members = members_of(load_head(selected))
        record = _read_sidecar(selected)
        return (
            members,
            record.get("members") or [record.get("mask_hash")],
            f"selected:{os.path.basename(selected)}",
        )
    if member == UNPRUNED:
        weights = directory.read_unpruned()[0]
        return [Member(weights, np.ones(feature_set.n_features, dtype=bool))], [UNPRUNED], UNPRUNED
    if member is not None:
        from .members import FinishedFront

        run = FinishedFront.open(directory.path)
        hashes = run.front["mask_hash"].tolist()
        mask = run.masks([hashes.index(member)])[0]
        score = run.fitness.score(mask, with_test=True)
        masks = run.fitness.encoding.head_masks(mask)
        return [Member(score.weights, masks.inputs)], [member], f"member:{member}"
    if not directory.has(RunDirectory.BEST_HEAD):
        raise RunDirectoryError(
            f"Run {directory.path!r} has no {RunDirectory.BEST_HEAD}; rerun it, or pass "
            f"--member HASH (multi-objective runs) or --member {UNPRUNED}."
        )
    return (
        members_of(load_head(directory.file(RunDirectory.BEST_HEAD))),
        [mask_hash(directory.read_best_mask())],
        "best",
    )


def export_model(
    run_dir: str,
    member: str | None = None,
    selected: str | None = None,
    format: str = "keras",
    quantize: str = "none",
    out: str | None = None,
    fold: bool = True,
    input_size: tuple | str | None = None,
    force: bool = False,
) -> dict:
    """Export a finished run's pruned network as one image-to-class model; return its record.

    Parameters
    ----------
    run_dir : str
        A finished run (``summary.json``).
    member : str or None
        A ``mask_hash`` of ``front.csv`` (retrained from the run's seed), or
        ``"unpruned"`` (the run's unpruned reference); default the best head.
    selected : str or None
        A ``.keras`` file of ``evoprune select`` or ``evoprune ensemble``.
    format : {"keras", "litert"}
    quantize : {"none", "int8", "dynamic", "float16"}
        LiteRT only: ``int8``, full-integer (int8 weights and activations,
        calibrated on the run's training images; uint8 images in, float32
        probabilities out); ``dynamic``, dynamic-range int8 weights;
        ``float16``, half-precision weights.
    out : str or None
        Default ``RUN_DIR/export/<source>[_int8|_dynamic|_fp16].keras|.tflite``.
    fold : bool
        Fold a feature selection into the backbone where exact.
    input_size : (height, width), "HEIGHTxWIDTH" or None
        The images' size, resized in the model by PIL's antialiasing bilinear
        filter as the features were. None: any size for ``keras`` (Keras'
        antialiasing ``Resizing``); for ``litert`` the backbone's own size (the
        caller resizes), since LiteRT has no built-in antialiasing resize of
        an unknown size.
    force : bool
        Overwrite an existing ``out`` that is not this run's own earlier export.

    Returns
    -------
    dict
        The sidecar record (also written as ``<out>.json``, e.g. ``best.tflite.json``).
    """
    check_options(format, quantize, out, member, selected)
    input_size = parse_input_size(input_size) if isinstance(input_size, str) else input_size
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
    if out is None:
        name = member or (os.path.splitext(os.path.basename(selected))[0] if selected else "best")
        out = os.path.join(
            directory.path,
            "export",
            name + SUFFIXES[quantize] + FORMATS[format],
        )
    check_file(out, "--out")
    check_out(out, directory.path, force)
    _check_heads(directory, member, selected)
    from ..data.loading import load_feature_set
    from ..head.image_model import image_classifier

    config = directory.read_config()
    _check_sources(config, quantize, run_dir)
    _check_weights_file(config.data.weights)  # before the features, which would be re-extracted without it
    feature_set = load_feature_set(config)
    metadata = feature_set.metadata
    backbone = _backbone(metadata, run_dir)
    members, hashes, source = _members(directory, feature_set, config, member, selected)
    encoding = directory.read_summary().encoding
    if input_size is None and format == "litert":
        input_size = (backbone.image_size, backbone.image_size)
    built = image_classifier(
        backbone, members, config.head.widths(encoding), config.head, fold=fold, input_size=input_size
    )
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    if format == "keras":
        built.model.save(out)
    calibration = (
        _litert(built.model, out, quantize, config, feature_set, input_size) if format == "litert" else None
    )
    record = {
        "model": out,
        "format": format,
        "quantize": quantize,
        **({"calibration": calibration} if calibration else {}),
        "input": "uint8 RGB images, shape (n, height, width, 3), "
        + (
            "any height and width"
            if input_size is None
            else f"height x width = {input_size[0]} x {input_size[1]}"
        ),
        "resize": "none (images must come at the backbone's size)"
        if input_size == (backbone.image_size,) * 2
        else "in the model, PIL's antialiasing bilinear (as the feature cache)",
        "class_names": list(feature_set.class_names),
        "image_size": backbone.image_size,
        "backbone": backbone.name,
        "weights": backbone.weights,
        "weights_sha256": backbone.weights_sha256,
        "preprocessing": backbone.preprocessing,
        "encoding": encoding,
        "source": source,
        "mask_hashes": hashes,
        "n_heads": len(members),
        "active_features": int(np.logical_or.reduce([m.inputs for m in members]).sum()),
        "feature_selection": built.feature_selection,
        "costs": built.costs,
        "run_dir": directory.path,
        "seed": config.run.seed,
        "file_bytes": os.path.getsize(out),
        "evoprune_version": __version__,
    }
    write_json(out + ".json", record)
    return record
