"""Frozen pretrained feature extractors, by name."""

from __future__ import annotations

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


__all__ = ["BACKBONES", "Backbone", "BackboneError", "build_backbone"]
