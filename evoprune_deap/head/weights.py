"""The weights of a dense head: a named pytree of one (kernel, bias) pair per layer.

A head has one :class:`Dense` per layer (hidden layers, then the output
layer). Both are NamedTuples, so JAX maps over them as pytrees (a ``None``
bias is an empty subtree) and code reads them by name, never by position.
:meth:`HeadWeights.glorot` is the one place that decides which layers have a
bias: hidden layers only with ``use_bias`` (the paper's pruned layers have
none), the output layer always.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..seeding import make_rng
from .masks import HeadMasks


def layer_names(n_hidden: int) -> list[str]:
    """Names of the dense layers of a head: ``fc1``, [``fc2``,] ``output``."""
    return [f"fc{i + 1}" for i in range(n_hidden)] + ["output"]


class Dense(NamedTuple):
    """One dense layer: kernel of shape (n_in, n_out), bias of shape (n_out,) or None."""

    kernel: object
    bias: object = None


class HeadWeights(NamedTuple):
    """The layers of a dense head, input side first (numpy float32 or JAX arrays)."""

    layers: tuple

    @classmethod
    def of(cls, kernels, biases) -> "HeadWeights":
        """From parallel sequences of kernels and biases (None where a layer has no bias)."""
        return cls(tuple(Dense(k, b) for k, b in zip(kernels, biases)))

    @property
    def kernels(self) -> tuple:
        return tuple(layer.kernel for layer in self.layers)

    @property
    def biases(self) -> tuple:
        return tuple(layer.bias for layer in self.layers)

    @classmethod
    def glorot(cls, dims: tuple, seed: int, use_bias: bool) -> "HeadWeights":
        """Glorot-uniform kernels and zero biases for layer widths ``dims`` (inputs first).

        Draws from a fresh Generator of ``seed``, one kernel after another.
        """
        rng = make_rng(seed)
        layers = []
        for layer, (fan_in, fan_out) in enumerate(zip(dims[:-1], dims[1:])):
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            kernel = rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(np.float32)
            is_output = layer == len(dims) - 2
            layers.append(
                Dense(kernel, np.zeros(fan_out, dtype=np.float32) if use_bias or is_output else None)
            )
        return cls(tuple(layers))

    @property
    def dims(self) -> tuple:
        """Layer widths, inputs first: (n_inputs, *hidden widths, n_classes)."""
        return (self.layers[0].kernel.shape[0], *(layer.kernel.shape[1] for layer in self.layers))

    def numpy(self) -> "HeadWeights":
        """The same weights as numpy float32 arrays (e.g. after a JAX program)."""
        return HeadWeights(
            tuple(
                Dense(
                    np.asarray(layer.kernel, dtype=np.float32),
                    None if layer.bias is None else np.asarray(layer.bias, dtype=np.float32),
                )
                for layer in self.layers
            )
        )

    def select(self, masks: HeadMasks) -> "HeadWeights":
        """Keep the rows and columns of the active inputs and units (the physical pruned head)."""
        keeps = masks.layers
        layers = []
        for index, layer in enumerate(self.layers):
            kernel, bias = layer.kernel[keeps[index]], layer.bias
            if index + 1 < len(keeps):  # a hidden layer: keep its active units too
                kernel = kernel[:, keeps[index + 1]]
                bias = None if bias is None else bias[keeps[index + 1]]
            layers.append(Dense(kernel, bias))
        return HeadWeights(tuple(layers))

    def resize(self, dims: tuple) -> "HeadWeights":
        """Cut or zero-pad every layer to the widths ``dims`` (padding sits after the real units)."""

        def fit(array, shape):
            array = np.asarray(array)
            out = np.zeros(shape, dtype=np.float32)
            common = tuple(slice(0, min(a, b)) for a, b in zip(array.shape, shape))
            out[common] = array[common]
            return out

        return HeadWeights(
            tuple(
                Dense(
                    fit(layer.kernel, (rows, cols)), None if layer.bias is None else fit(layer.bias, (cols,))
                )
                for layer, rows, cols in zip(self.layers, dims[:-1], dims[1:])
            )
        )

    def to_list(self) -> list[np.ndarray]:
        """Keras' weight order: each layer's kernel, then its bias if it has one."""
        return [array for layer in self.layers for array in layer if array is not None]

    # Keras edges: building an exported head, and the keras-fit reference of the tests.
    def assign_to(self, model) -> None:
        """Write these weights into the dense layers (``fc1``.., ``output``) of a Keras head."""
        for name, layer in zip(layer_names(len(self.layers) - 1), self.layers):
            target = model.get_layer(name)
            target.kernel.assign(np.asarray(layer.kernel))
            if layer.bias is not None:
                target.bias.assign(np.asarray(layer.bias))

    @classmethod
    def from_model(cls, model, n_hidden: int) -> "HeadWeights":
        """Read the dense layers (``fc1``.., ``output``) of a Keras head."""
        layers = [model.get_layer(name) for name in layer_names(n_hidden)]
        return cls(
            tuple(
                Dense(
                    np.asarray(layer.kernel, dtype=np.float32),
                    np.asarray(layer.bias, dtype=np.float32) if layer.use_bias else None,
                )
                for layer in layers
            )
        )


def save_weights(stream, heads) -> None:
    """Write several heads' weights (e.g. one per fold) to a binary stream as ``.npz`` (plain arrays)."""
    arrays = {}
    for head, weights in enumerate(heads):
        for index, layer in enumerate(weights.numpy().layers):
            arrays[f"head{head}_kernel{index}"] = layer.kernel
            if layer.bias is not None:
                arrays[f"head{head}_bias{index}"] = layer.bias
    np.savez(stream, **arrays)


def load_weights(path: str) -> tuple:
    """The heads written by :func:`save_weights`, in order (never unpickles)."""
    with np.load(path, allow_pickle=False) as data:
        names = set(data.files)
        heads, head = [], 0
        while f"head{head}_kernel0" in names:
            layers, index = [], 0
            while f"head{head}_kernel{index}" in names:
                bias = f"head{head}_bias{index}"
                layers.append(Dense(data[f"head{head}_kernel{index}"], data[bias] if bias in names else None))
                index += 1
            heads.append(HeadWeights(tuple(layers)))
            head += 1
    return tuple(heads)
