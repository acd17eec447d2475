"""Keras layers used by saved heads; registered so a ``.keras`` file loads after
``import evoprune_deap`` with no custom code."""

from __future__ import annotations

import keras
import numpy as np


@keras.saving.register_keras_serializable(package="evoprune_deap")
class SelectFeatures(keras.layers.Layer):
    """Keep the input features at ``indices`` (feature selection)."""

    def __init__(self, indices, **kwargs):
        super().__init__(**kwargs)
        self.indices = [int(i) for i in np.asarray(indices).ravel()]

    def call(self, inputs):
        return keras.ops.take(inputs, np.asarray(self.indices, dtype="int32"), axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (len(self.indices),)

    def get_config(self):
        return {**super().get_config(), "indices": self.indices}


@keras.saving.register_keras_serializable(package="evoprune_deap")
class UnitMask(keras.layers.Layer):
    """Multiply by a 0/1 vector held in a non-trainable variable.

    Switches off the pruned units of the full-width reference head that
    tests and benchmarks train with Keras ``fit``.
    """

    def __init__(self, n_units, **kwargs):
        super().__init__(**kwargs)
        self.n_units = int(n_units)
        self.unit_mask = self.add_weight(
            shape=(self.n_units,), initializer="ones", trainable=False, name="unit_mask"
        )

    def set_mask(self, mask) -> None:
        """Switch units on (1) and off (0); shape (n_units,)."""
        self.unit_mask.assign(np.asarray(mask, dtype="float32"))

    def call(self, inputs):
        return inputs * self.unit_mask

    def get_config(self):
        return {**super().get_config(), "n_units": self.n_units}


def majority_vote(probabilities: list):
    """Majority vote of several heads' class probabilities (a list of (n, C) tensors), in Keras ops.

    Returns ``(votes + 0.5 * mean probability) / (n_heads + 0.5)`` per class:
    rows sum to 1, and the argmax is the class most heads predict, a tie
    going to the class with the higher mean probability (half a vote can
    never outweigh a whole one). A head votes for its first most probable
    class (argmax's rule), found with max, equal and cumsum: ops every LiteRT
    runtime has built in, so an exported ensemble needs no custom layer.
    """
    stacked = keras.ops.stack(probabilities, axis=0)
    top = keras.ops.cast(
        keras.ops.equal(stacked, keras.ops.max(stacked, axis=-1, keepdims=True)), stacked.dtype
    )
    first = top * keras.ops.cast(keras.ops.equal(keras.ops.cumsum(top, axis=-1), 1.0), stacked.dtype)
    votes = keras.ops.sum(first, axis=0)
    return (votes + 0.5 * keras.ops.mean(stacked, axis=0)) / (len(probabilities) + 0.5)


@keras.saving.register_keras_serializable(package="evoprune_deap")
class MajorityVote(keras.layers.Layer):
    """:func:`majority_vote` as a layer (the ``evoprune ensemble`` head over cached features)."""

    def call(self, inputs):
        return majority_vote(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape[0]
