"""Fold a feature selection into a backbone: compute only the pooled features a head reads.

A backbone's pooled features are its last convolution's output channels, passed
through per-channel layers (batch norm, activation, pooling) and then global
pooling. Keeping channels ``keep`` of that convolution and of each per-channel
layer gives exactly the selected features, and the backbone no longer
computes the others (EfficientNet-Lite0: 1x1 conv 320 -> 1280, batch norm,
ReLU6; VGG19: its last 3x3 conv and max pooling). Where the pooled features
come from a sum or a concatenation (ResNet50's residual add, DenseNet's
concatenated blocks), slicing upstream is not exact: :func:`fold_feature_selection`
says so and the caller keeps the backbone whole and slices the pooled features.

Only Keras' public API is used: layers are matched to their input tensors
through ``layer.input`` / ``layer.output``, and the sliced copy is made with
``keras.models.clone_model``, sharing every untouched layer with the original.
"""

from __future__ import annotations

import numpy as np

PER_CHANNEL = ("BatchNormalization", "ReLU", "Activation", "MaxPooling2D", "AveragePooling2D")
"""Layer classes that act on each channel alone, so they can be sliced with their input."""
CONVOLUTION = "Conv2D"
GLOBAL_POOLING = ("GlobalAveragePooling2D", "GlobalMaxPooling2D")


def _producers(model) -> dict:
    """Map id(output tensor) -> the layer that made it, over the model's own layers."""
    return {id(layer.output): layer for layer in model.layers if not isinstance(layer.output, (list, tuple))}


def _uses(model, tensor) -> int:
    count = 0
    for layer in model.layers:
        inputs = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
        count += sum(t is tensor for t in inputs)
    return count + sum(t is tensor for t in model.outputs)


def sliceable_chain(model) -> list | None:
    """The layers from the last convolution to the global pooling, if every one is per-channel and used once.

    Returns ``[conv, per_channel..., pooling]`` or None when the features do
    not come from one convolution through per-channel layers (a residual sum,
    a concatenation, a convolution whose output is also used elsewhere).
    """
    producers = _producers(model)
    last = producers.get(id(model.outputs[0]))
    if last is None or last.__class__.__name__ not in GLOBAL_POOLING:
        return None
    chain = [last]
    while True:
        tensor = chain[-1].input
        if isinstance(tensor, (list, tuple)) or _uses(model, tensor) != 1:
            return None
        layer = producers.get(id(tensor))
        if layer is None:
            return None
        kind = layer.__class__.__name__
        if kind == CONVOLUTION and layer.get_config().get("groups", 1) == 1:
            return [layer, *reversed(chain)]
        if kind not in PER_CHANNEL:
            return None
        chain.append(layer)


def fold_feature_selection(model, keep):
    """A copy of ``model`` whose output is its features ``keep`` (sorted indices), computed alone.

    Returns
    -------
    model : keras.Model or None
        The sliced backbone, sharing its untouched layers with ``model``; None
        when the backbone cannot be sliced exactly (see :func:`sliceable_chain`).
    """
    import keras

    keep = np.asarray(keep, dtype=np.int64)
    chain = sliceable_chain(model)
    if chain is None:
        return None
    sliced = {layer.name for layer in chain[:-1] if layer.weights}
    conv = chain[0]

    def clone(layer):
        if layer is conv:
            return layer.__class__.from_config({**layer.get_config(), "filters": int(keep.size)})
        if layer.name in sliced:
            return layer.__class__.from_config(layer.get_config())
        return layer

    folded = keras.models.clone_model(model, clone_function=clone)
    for name in sliced:
        # every weight of a convolution (kernel, bias) and a batch norm is indexed by output channel last
        folded.get_layer(name).set_weights([w[..., keep] for w in model.get_layer(name).get_weights()])
    return folded


def multiply_adds(model) -> int:
    """Multiply-adds of one image through ``model``: convolutions, depthwise convolutions and dense layers.

    Nested models are counted through; batch norm, activations and pooling are
    not counted (a deployment runtime folds or fuses them).
    """
    total = 0
    for layer in model.layers:
        kind = layer.__class__.__name__
        if hasattr(layer, "layers"):
            total += multiply_adds(layer)
            continue
        if kind not in ("Conv2D", "DepthwiseConv2D", "Dense"):
            continue
        kernel = layer.get_weights()[0].shape
        outputs = layer.output.shape
        positions = int(np.prod([d for d in outputs[1:-1]])) if len(outputs) > 2 else 1
        if kind == "Dense":
            total += int(np.prod(kernel))
        elif kind == "DepthwiseConv2D":
            total += positions * int(np.prod(kernel))
        else:
            total += positions * int(np.prod(kernel)) // int(layer.get_config().get("groups", 1))
    return total
