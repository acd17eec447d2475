"""``evoprune export``: a finished run's pruned network as one image-to-class model, Keras or LiteRT.

The model (:func:`~evoprune_deap.head.models.image_model.image_classifier`) takes raw
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
toolkit itself runs Keras on JAX. What export refuses before anything loads is in
:mod:`evoprune_deap.shipping.export_checks`.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from ..errors import BackboneError, RunDirectoryError
from ..records.directory import RunDirectory
from ..search.bits import mask_hash
from ..storage import check_file, write_json
from ..version import __version__
from .export_checks import (
    FORMATS,
    UNPRUNED,
    check_heads,
    check_options,
    check_out,
    check_rebuildable,
    check_sources,
    check_weights_file,
    finished_run,
    parse_input_size,
)

SUFFIXES = {"none": "", "int8": "_int8", "dynamic": "_dynamic", "float16": "_fp16"}


def _backbone(metadata: dict, run_dir: str):
    """The backbone the features were made with, its weights checked against the cache's checksum."""
    from ..data.backbones import build_backbone

    weights = metadata.get("weights")
    check_rebuildable(weights, run_dir)
    check_weights_file(weights, metadata.get("weights_sha256"))
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


def _members(directory: RunDirectory, feature_set, config, member: str | None, selected: str | None):
    """The heads to export and where they came from: (members, mask hashes, source)."""
    from ..head.models.image_model import Member, members_of
    from ..head.models.stack import load_head

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


def _image_input(input_size: tuple | None, image_size: int) -> dict:
    """The record's ``input`` and ``resize``: the images the model takes and where they are resized."""
    shape = (
        "any height and width"
        if input_size is None
        else f"height x width = {input_size[0]} x {input_size[1]}"
    )
    return {
        "input": "uint8 RGB images, shape (n, height, width, 3), " + shape,
        "resize": "none (images must come at the backbone's size)"
        if input_size == (image_size,) * 2
        else "in the model, PIL's antialiasing bilinear (as the feature cache)",
    }


def _provenance(backbone, encoding: str, source: str, hashes: list, members: list, built) -> dict:
    """The record's backbone (name, weights and their SHA-256, preprocessing), heads and costs."""
    return {
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
    }


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
    directory = finished_run(run_dir)
    if out is None:
        name = member or (os.path.splitext(os.path.basename(selected))[0] if selected else "best")
        out = os.path.join(directory.path, "export", name + SUFFIXES[quantize] + FORMATS[format])
    check_file(out, "--out")
    check_out(out, directory.path, force)
    check_heads(directory, member, selected)
    from ..data.loading import load_feature_set
    from ..head.models.image_model import image_classifier

    config = directory.read_config()
    check_sources(config, quantize, run_dir)
    check_weights_file(config.data.weights)  # before the features, which would be re-extracted without it
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
        **_image_input(input_size, backbone.image_size),
        "class_names": list(feature_set.class_names),
        **_provenance(backbone, encoding, source, hashes, members, built),
        "run_dir": directory.path,
        "seed": config.run.seed,
        "file_bytes": os.path.getsize(out),
        "evoprune_version": __version__,
    }
    write_json(out + ".json", record)
    return record
