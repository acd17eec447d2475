"""The one forward pass of a dense head, and the trained head that uses it.

:func:`forward` is a pure JAX function of (weights pytree, inputs): the
trainer differentiates it, and accuracy, class probabilities, logits for OOD
scores and ensemble votes all come from it, through :func:`head_logits`.
Heads are evaluated at their padded widths (:func:`padded_dims`, the one
padding rule, at its fine resolution), so one compiled program serves every
mask of a shape; the padding has zero weights and adds exact zeros.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..config import HeadConfig
from .masks import HeadMasks
from .weights import HeadWeights

WIDTH_MULTIPLE = 16
"""The finest step of the padding rule (see :func:`padded_width`)."""
FINE = 32
"""Steps per octave where each head trains alone: a multiple of 16 up to 512 units (1/32 of the next
power of two above), so padding wastes little compute."""
COARSE = 1
"""Steps per octave where heads train batched: powers of two, so that masks of different densities
share a program (a batch trains heads of one shape)."""


def padded_width(n_active: int, n_total: int, steps_per_octave: int = FINE) -> int:
    """The one padding rule: ``n_active`` rounded up to a multiple of its step, capped at ``n_total``.

    The step is ``max(16, next power of two / steps_per_octave)``: with
    :data:`FINE`, 16 up to 512 units, 32 up to 1024, 64 up to 2048; with
    :data:`COARSE`, the next power of two (at least 16). The trainer sets
    the resolution with the number of heads per program; a head's padded
    width depends on its own mask only, never on the other heads.
    """
    n = max(1, int(n_active))
    step = max(WIDTH_MULTIPLE, (1 << (n - 1).bit_length()) // steps_per_octave)
    return min(n_total, -(-n // step) * step)


def padded_dims(masks: HeadMasks, n_classes: int, steps_per_octave: int = FINE) -> tuple:
    """Padded widths of a mask's head: inputs, hidden layers, then the classes."""
    return (
        *(padded_width(n, total, steps_per_octave) for n, total in zip(masks.n_active, masks.n_total)),
        n_classes,
    )


def pad_inputs(x: np.ndarray, masks: HeadMasks, width: int) -> np.ndarray:
    """The active columns of x (n, n_features), zero-padded to ``width`` columns, float32."""
    selected = np.asarray(x, dtype=np.float32)[:, masks.inputs]
    if selected.shape[1] == width:
        return selected
    return np.pad(selected, ((0, 0), (0, width - selected.shape[1])))


def forward(weights: HeadWeights, x, unit_masks=None):
    """Logits of a dense head: ``relu`` hidden layers (each times its 0/1 unit mask, if given), linear output.

    Pure and traceable (``jax.numpy``); ``x`` of shape (n, n_inputs), each
    ``unit_masks[i]`` of shape (hidden width i,). The operations are those of
    Keras' ``Dense`` layers, in the same order.
    """
    import jax
    import jax.numpy as jnp

    h = x
    last = len(weights.layers) - 1
    for index, layer in enumerate(weights.layers):
        h = jnp.matmul(h, layer.kernel)
        if layer.bias is not None:
            h = jnp.add(h, layer.bias)
        if index < last:
            h = jax.nn.relu(h)  # Keras' relu: gradient 0 at 0 (jnp.maximum would give 1/2)
            if unit_masks is not None:
                h = h * unit_masks[index]
    return h


@functools.cache
def _compiled_forward():
    import jax

    return jax.jit(forward)


def head_logits(weights: HeadWeights, masks: HeadMasks, x: np.ndarray) -> np.ndarray:
    """Pre-softmax outputs (n_samples, n_classes), float32, of a physically pruned head on x
    (n_samples, n_features).

    ``weights`` are the physical head's (active inputs and units only); it
    runs at the padded widths of ``masks``.
    """
    dims = padded_dims(masks, weights.dims[-1])
    padded = weights.resize(dims)
    return np.asarray(_compiled_forward()(padded, pad_inputs(x, masks, dims[0])))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (n, n_classes) logits, float32."""
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)


@dataclass(frozen=True)
class TrainedHead:
    """The result of training one mask's head.

    Attributes
    ----------
    masks : HeadMasks
        Which inputs and units the head has.
    weights : HeadWeights
        The trained weights of the physically pruned head (active units only), numpy.
    losses : tuple of float
        Training loss of each epoch run (early stopping may end before
        ``max_epochs``; the weights are those of the best epoch).
    config : HeadConfig
    """

    masks: HeadMasks
    weights: HeadWeights
    losses: tuple
    config: HeadConfig

    @property
    def epochs(self) -> int:
        """Epochs trained."""
        return len(self.losses)

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Pre-softmax outputs of x (n_samples, n_features) (see :func:`head_logits`)."""
        return head_logits(self.weights, self.masks, x)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes), of x (n_samples, n_features)."""
        return softmax(self.logits(x))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class index of each row of x (n_samples, n_features)."""
        return np.argmax(self.logits(x), axis=1)

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        """Fraction of rows of x classified as y; NaN for an empty set."""
        return accuracy(self.logits(x), y)

    def to_keras(self):
        """A standalone Keras head taking the full feature vector (save it with ``.save``)."""
        from .models.stack import deployable_head

        return deployable_head(self.weights, self.masks, self.config)


def accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    """Share of rows whose largest logit is at the label; NaN for no rows."""
    if len(y) == 0:
        return float("nan")
    return float(np.mean(np.argmax(logits, axis=1) == y))
