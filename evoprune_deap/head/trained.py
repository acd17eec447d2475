"""A trained pruned head: its weights as arrays, and what can be done with them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..config import HeadConfig
from .masks import HeadMasks
from .weights import HeadWeights


@dataclass(frozen=True)
class TrainedHead:
    """The result of training one mask's head.

    Attributes
    ----------
    masks : HeadMasks
        Which inputs and units the head has.
    weights : HeadWeights
        The trained weights of the physically pruned head (active units only).
    losses : tuple of float
        Training loss of each epoch run (early stopping may end before
        ``max_epochs``; the weights are those of the best epoch).
    config : HeadConfig
    runner : object
        The compiled program that predicts with these weights (any object
        with ``predict_proba(weights, masks, x)``); it is shared with other
        heads of the same padded shape, and loads these weights before each
        use, so a TrainedHead stays valid after others are trained.
    """

    masks: HeadMasks
    weights: HeadWeights
    losses: tuple
    config: HeadConfig
    runner: object = field(repr=False, compare=False)

    @property
    def epochs(self) -> int:
        """Epochs trained."""
        return len(self.losses)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes), of x (n_samples, n_features)."""
        return self.runner.predict_proba(self.weights, self.masks, x)

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Pre-softmax outputs of x (n_samples, n_features) (see :func:`head_logits`)."""
        return head_logits(self.weights, self.masks, x)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class index of each row of x (n_samples, n_features)."""
        return np.argmax(self.predict_proba(x), axis=1)

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        """Fraction of rows of x classified as y; NaN for an empty set."""
        if len(y) == 0:
            return float("nan")
        return float(np.mean(self.predict(x) == y))

    def to_keras(self):
        """A standalone Keras head taking the full feature vector (save it with ``.save``)."""
        from .stack import deployable_head

        return deployable_head(self.weights, self.masks, self.config)


def head_logits(weights: HeadWeights, masks: HeadMasks, x: np.ndarray) -> np.ndarray:
    """Pre-softmax outputs of a physically pruned head on x (n_samples, n_features), with numpy in float64."""
    h = np.asarray(x, dtype=np.float64)[:, masks.inputs]
    last = len(weights.kernels) - 1
    for layer, (kernel, bias) in enumerate(zip(weights.kernels, weights.biases)):
        h = h @ kernel + (0.0 if bias is None else bias)
        if layer < last:
            h = np.maximum(h, 0.0)
    return h
