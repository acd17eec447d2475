"""The weights of a dense head as plain arrays, and their trip to and from Keras.

A head has one kernel per layer (hidden layers, then the output layer) and a
bias where the layer has one. :meth:`HeadWeights.glorot` is the one place
that decides which layers have a bias: hidden layers only with ``use_bias``
(the paper's pruned layers have none), the output layer always.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..seeding import make_rng
from .masks import HeadMasks


def layer_names(n_hidden: int) -> list[str]:
    """Names of the dense layers of a head: ``fc1``, [``fc2``,] ``output``."""
    return [f"fc{i + 1}" for i in range(n_hidden)] + ["output"]


@dataclass(frozen=True)
class HeadWeights:
    """Kernels and biases of a dense head, input side first.

    Attributes
    ----------
    kernels : tuple of ndarray of shape (n_in, n_out), float32
    biases : tuple of (ndarray of shape (n_out,), float32) or None
        None where the layer has no bias.
    """

    kernels: tuple
    biases: tuple

    @classmethod
    def glorot(cls, dims: tuple, seed: int, use_bias: bool) -> "HeadWeights":
        """Glorot-uniform kernels and zero biases for layer widths ``dims`` (inputs first).

        Draws from a fresh Generator of ``seed``, one kernel after another.
        """
        rng = make_rng(seed)
        kernels, biases = [], []
        for layer, (fan_in, fan_out) in enumerate(zip(dims[:-1], dims[1:])):
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            kernels.append(rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(np.float32))
            is_output = layer == len(dims) - 2
            biases.append(np.zeros(fan_out, dtype=np.float32) if use_bias or is_output else None)
        return cls(tuple(kernels), tuple(biases))

    @property
    def dims(self) -> tuple:
        """Layer widths, inputs first: (n_inputs, *hidden widths, n_classes)."""
        return (self.kernels[0].shape[0], *(kernel.shape[1] for kernel in self.kernels))

    def select(self, masks: HeadMasks) -> "HeadWeights":
        """Keep the rows and columns of the active inputs and units (the physical pruned head)."""
        keeps = masks.layers
        kernels, biases = [], []
        for layer, (kernel, bias) in enumerate(zip(self.kernels, self.biases)):
            kernel = kernel[keeps[layer]]
            is_output = layer + 1 == len(keeps)
            if not is_output:
                kernel = kernel[:, keeps[layer + 1]]
                bias = None if bias is None else bias[keeps[layer + 1]]
            kernels.append(kernel)
            biases.append(bias)
        return HeadWeights(tuple(kernels), tuple(biases))

    def resize(self, dims: tuple) -> "HeadWeights":
        """Cut or zero-pad every layer to the widths ``dims`` (padding sits after the real units)."""
        def fit(array, shape):
            out = np.zeros(shape, dtype=np.float32)
            common = tuple(slice(0, min(a, b)) for a, b in zip(array.shape, shape))
            out[common] = array[common]
            return out

        kernels = tuple(fit(k, (rows, cols)) for k, rows, cols in zip(self.kernels, dims[:-1], dims[1:]))
        biases = tuple(None if b is None else fit(b, (cols,)) for b, cols in zip(self.biases, dims[1:]))
        return HeadWeights(kernels, biases)

    def to_list(self) -> list[np.ndarray]:
        """Keras' weight order: each layer's kernel, then its bias if it has one."""
        return [array for pair in zip(self.kernels, self.biases) for array in pair if array is not None]

    def assign_to(self, model) -> None:
        """Write these weights into the dense layers (``fc1``.., ``output``) of a Keras head."""
        for name, kernel, bias in zip(layer_names(len(self.kernels) - 1), self.kernels, self.biases):
            layer = model.get_layer(name)
            layer.kernel.assign(kernel)
            if bias is not None:
                layer.bias.assign(bias)

    @classmethod
    def from_model(cls, model, n_hidden: int) -> "HeadWeights":
        """Read the dense layers (``fc1``.., ``output``) of a Keras head."""
        layers = [model.get_layer(name) for name in layer_names(n_hidden)]
        kernels = tuple(np.asarray(layer.kernel, dtype=np.float32) for layer in layers)
        biases = tuple(np.asarray(layer.bias, dtype=np.float32) if layer.use_bias else None for layer in layers)
        return cls(kernels, biases)
