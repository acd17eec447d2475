"""Frozen pretrained feature extractors, by name."""

from __future__ import annotations

import os

from ...config import BACKBONES, MIN_IMAGE_SIZE
from ...errors import BackboneError, ConfigError
from ...quiet import import_tensorflow_quietly
from . import efficientnet_lite0, keras_applications
from .base import Backbone


def build_backbone(name: str, image_size: int = 224, weights: str | None = None) -> Backbone:
    """Build a backbone by name.

    Parameters
    ----------
    name : str
        One of :data:`BACKBONES`.
    image_size : int
        Side of the square input, in pixels.
    weights : str or None
        None means the backbone's default ImageNet weights (offline for
        ``efficientnet_lite0``, a download for the keras.applications ones).

    Raises
    ------
    ConfigError
        Unknown name or bad image size.
    BackboneError
        Weights missing, wrong or not downloadable.
    """
    if name not in BACKBONES:
        raise ConfigError(f"Unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}.")
    if not isinstance(image_size, int) or image_size < MIN_IMAGE_SIZE:
        raise ConfigError(f"image_size must be an integer >= {MIN_IMAGE_SIZE}; got {image_size!r}.")
    import_tensorflow_quietly()  # the backbones may run on it; without its start-up lines
    if name == "efficientnet_lite0":
        return efficientnet_lite0.build(image_size, weights)
    return keras_applications.build(name, image_size, "imagenet" if weights is None else weights)


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def check_weights(weights, backbone: str | None = None) -> None:
    """A weights path must name an existing file the backbone can read (``None``, ``imagenet`` and
    ``none`` are not paths): checked here, before a backbone loads.

    ``efficientnet_lite0`` takes its own ImageNet file only (checked by sha256) and has no random
    weights; the keras.applications backbones take an HDF5 file (``.h5``, ``.weights.h5``).

    Raises
    ------
    BackboneError
    """
    if weights == "none" and backbone == "efficientnet_lite0":
        raise BackboneError(
            "--weights none (random weights) is for the keras.applications backbones (e.g. --backbone "
            "resnet50 --weights none); efficientnet_lite0 uses its packaged ImageNet weights: drop --weights."
        )
    if weights in (None, "imagenet", "none"):
        return
    if os.path.isdir(str(weights)):
        raise BackboneError(
            f"Backbone weights {weights!r} is a directory; pass the weights file (.h5 or .pth)."
        )
    if not os.path.isfile(str(weights)):
        raise BackboneError(
            f"Backbone weights file {weights!r} does not exist; pass an existing file with "
            "--weights, or --weights imagenet to download them (needs internet)."
        )
    if backbone is not None:
        _check_weights_contents(str(weights), backbone)


def _check_weights_contents(weights: str, backbone: str) -> None:
    from .efficientnet_lite0 import WEIGHTS_SHA256, file_sha256

    if backbone == "efficientnet_lite0":
        if file_sha256(weights) != WEIGHTS_SHA256:
            raise BackboneError(
                f"Weights file {weights!r} is not EfficientNet-Lite0's ImageNet file (sha256 "
                f"{WEIGHTS_SHA256[:12]}...); drop --weights to use the packaged one."
            )
        return
    with open(weights, "rb") as stream:
        head = stream.read(2048 + 8)
    if not any(head[offset : offset + 8] == HDF5_SIGNATURE for offset in (0, 512, 1024, 2048)):
        raise BackboneError(
            f"Weights file {weights!r}: not an HDF5 weights file (.h5, .weights.h5) that {backbone} can "
            f"load; pass the {backbone} 'notop' weights file, or --weights imagenet to download them."
        )


__all__ = ["BACKBONES", "Backbone", "BackboneError", "build_backbone", "check_weights"]
