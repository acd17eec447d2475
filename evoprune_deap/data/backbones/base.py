"""The feature-extractor interface shared by every backbone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Backbone:
    """A frozen pretrained CNN that maps images to feature vectors.

    Attributes
    ----------
    name : str
        Registry name, e.g. ``"efficientnet_lite0"``.
    model : keras.Model
        Takes preprocessed float32 images of shape (n, image_size, image_size, 3)
        and returns features of shape (n, n_features).
    n_features : int
        Width of the feature vector.
    image_size : int
        Side of the square input images, in pixels.
    weights : str
        Where the weights came from: ``"imagenet"``, a file path, or ``"none"``.
    weights_sha256 : str or None
        Checksum of the weights file, when one was read.
    preprocessing : str
        Human-readable description of ``preprocess``, stored in the cache metadata.
    preprocess : callable
        Maps uint8 RGB images of shape (n, h, w, 3) to the model's float32 input.
    preprocess_graph : callable or None
        The same map as Keras built-in layers: takes a float32 Keras tensor of
        RGB values in [0, 255] and returns the model's input tensor (for the
        exported image-to-class model).
    """

    name: str
    model: object
    n_features: int
    image_size: int
    weights: str
    weights_sha256: str | None
    preprocessing: str
    preprocess: Callable[[np.ndarray], np.ndarray]
    preprocess_graph: Callable | None = None

    def extract(self, images: np.ndarray) -> np.ndarray:
        """Return features of shape (n, n_features) for uint8 RGB images (n, h, w, 3)."""
        batch = self.preprocess(images)
        features = self.model.predict_on_batch(batch)
        return np.asarray(features, dtype=np.float32)

    def metadata(self) -> dict:
        """Describe the backbone for cache fingerprints and run records."""
        return {
            "backbone": self.name,
            "weights": self.weights,
            "weights_sha256": self.weights_sha256,
            "image_size": self.image_size,
            "preprocessing": self.preprocessing,
            "n_features": self.n_features,
        }
