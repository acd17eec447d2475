"""One image-to-class model: raw RGB uint8 images -> resize -> preprocessing -> backbone -> pruned head(s).

The resize is the caches' own (PIL's antialiasing bilinear, :func:`resize_matrix`),
so a raw image gives the features its cached copy has, up to uint8 rounding.

Built from Keras' built-in layers and ops only, so the saved ``.keras`` file
loads with ``keras.saving.load_model`` in a process that never imports
``evoprune_deap``, and every op has a LiteRT built-in kernel. The heads'
feature selection is folded into the backbone where that is exact
(:func:`~evoprune_deap.data.backbones.slicing.fold_feature_selection`), so
the network computes only the features some head reads; otherwise the pooled
features are sliced. Several heads (an ensemble) share one backbone pass and
vote (:func:`~evoprune_deap.head.models.layers.majority_vote`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...config import HeadConfig
from ...data.backbones.slicing import fold_feature_selection, multiply_adds
from ..costs import count_flops, count_parameters
from ..masks import HeadMasks
from ..weights import HeadWeights
from .stack import build_stack

PIL_PRECISION_BITS = 22
"""PIL resizes uint8 images with coefficients in fixed point with this many fractional bits."""


def resize_matrix(n_in: int, n_out: int, fixed_point: bool = False) -> np.ndarray:
    """(n_out, n_in) weights of PIL's bilinear resize along one axis: a triangle filter widened by the
    shrink factor (antialiasing), each row summing to 1. The feature caches were resized this way.

    ``fixed_point``: rounded to PIL's 22-bit coefficients, as it applies them to uint8 images."""
    scale = n_in / n_out
    width = max(scale, 1.0)
    centres = (np.arange(n_out) + 0.5) * scale
    first = np.maximum((centres - width + 0.5).astype(int), 0)
    last = np.minimum((centres + width + 0.5).astype(int), n_in)
    j = np.arange(n_in)
    weights = np.clip(1.0 - np.abs((j[None, :] - centres[:, None] + 0.5) / width), 0.0, None)
    weights[(j[None, :] < first[:, None]) | (j[None, :] >= last[:, None])] = 0.0
    weights = weights / weights.sum(axis=1, keepdims=True)
    if fixed_point:
        weights = np.floor(0.5 + weights * (1 << PIL_PRECISION_BITS)) / (1 << PIL_PRECISION_BITS)
    return weights


def _resize(x, image_size: int, input_size: tuple | None):
    """Resize to the backbone's size as the cache did (PIL's antialiasing bilinear).

    Any input size: Keras' ``Resizing`` with ``antialias`` (TensorFlow's
    triangle filter: within one grey level of PIL's; its scale-and-translate
    kernel is not a LiteRT built-in, so this graph exports as ``.keras`` only).
    A fixed ``input_size`` (height, width): PIL's own arithmetic as constant
    matrix products, which every LiteRT runtime runs: its fixed-point
    coefficients, the width pass first, each pass rounded to whole grey
    levels (equal to PIL's uint8 result on 99.95% of ELPV's pixels in float32,
    the rest one level off). At the backbone's own size: no op.
    """
    import keras

    if input_size is None:
        x = keras.layers.Resizing(
            image_size, image_size, interpolation="bilinear", antialias=True, name="resize"
        )(x)
        return _grey_levels(x)
    height, width = input_size
    if (height, width) == (image_size, image_size):
        return x
    rows = keras.ops.convert_to_tensor(
        resize_matrix(height, image_size, fixed_point=True).T.astype("float32")
    )
    cols = keras.ops.convert_to_tensor(resize_matrix(width, image_size, fixed_point=True).T.astype("float32"))
    x = _grey_levels(keras.ops.matmul(keras.ops.transpose(x, (0, 1, 3, 2)), cols))  # (n, h, c, w) @ (w, s)
    x = _grey_levels(keras.ops.matmul(keras.ops.transpose(x, (0, 3, 2, 1)), rows))  # (n, s, c, h) @ (h, s)
    return keras.ops.transpose(x, (0, 3, 1, 2))  # (n, s, c, s) -> (n, s, s, c)


def _grey_levels(x):
    """Round to whole grey levels in [0, 255], as a resize to uint8 does."""
    import keras

    return keras.ops.clip(keras.ops.floor(x + 0.5), 0.0, 255.0)


@dataclass(frozen=True)
class Member:
    """One pruned head of an exported model.

    Attributes
    ----------
    weights : HeadWeights
        Of the physically pruned head (active inputs and units only).
    inputs : ndarray of shape (n_features,), bool
        The backbone features it reads.
    name : str
    """

    weights: HeadWeights
    inputs: np.ndarray
    name: str = "head"


def members_of(model) -> list[Member]:
    """The heads of a saved deployable head (``best_head.keras``, ``evoprune select``) or ensemble.

    Reads the layers :func:`~evoprune_deap.head.models.stack.deployable_head` builds:
    an optional ``SelectFeatures`` and the pruned dense stack; an ensemble
    (``evoprune ensemble``) holds one such model per member and a vote.
    """
    import keras

    from .layers import MajorityVote, SelectFeatures

    ensemble = any(isinstance(layer, MajorityVote) for layer in model.layers)
    heads = [layer for layer in model.layers if isinstance(layer, keras.Model)] if ensemble else [model]
    members = []
    for k, head in enumerate(heads):
        n_features = int(head.inputs[0].shape[-1])
        select = [layer for layer in head.layers if isinstance(layer, SelectFeatures)]
        inputs = np.zeros(n_features, dtype=bool)
        inputs[select[0].indices if select else slice(None)] = True
        stack = next(layer for layer in head.layers if isinstance(layer, keras.Model))
        n_hidden = sum(isinstance(layer, keras.layers.Dense) for layer in stack.layers) - 1
        members.append(
            Member(
                HeadWeights.from_model(stack, n_hidden), inputs, "head" if len(heads) == 1 else f"member_{k}"
            )
        )
    return members


@dataclass(frozen=True)
class ImageModel:
    """An exported model and what it computes.

    Attributes
    ----------
    model : keras.Model
        uint8 images (n, h, w, 3), any h and w -> class probabilities (n, C).
    feature_selection : str
        ``"none"`` (every feature read), ``"folded"`` (the backbone's last
        convolution computes only the features read) or ``"sliced"`` (the
        backbone computes all and the pooled features are sliced: not exact to
        fold, e.g. a residual sum).
    costs : dict
        Parameters and multiply-adds per image of the backbone and the heads,
        as exported and unpruned, and what was removed.
    """

    model: object
    feature_selection: str
    costs: dict


def image_classifier(
    backbone,
    members: list[Member],
    widths: tuple,
    config: HeadConfig,
    fold: bool = True,
    input_size: tuple | None = None,
) -> ImageModel:
    """Build the image-to-class model of ``members`` on ``backbone`` (see the module docstring).

    Parameters
    ----------
    backbone : Backbone
        With its ``preprocess_graph``.
    members : list of Member
        One head, or an ensemble's members (majority vote).
    widths : tuple of int
        The unpruned head's hidden widths (for the costs removed).
    config : HeadConfig
        The run's head settings (``use_bias`` of the hidden layers).
    fold : bool
        Fold the feature selection into the backbone where exact.
    input_size : (int, int) or None
        None: images of any size; (height, width): images of that size only,
        resized by constant matrices (see :func:`_resize`; what LiteRT needs).
    """
    import keras

    from .layers import majority_vote

    union = np.logical_or.reduce([member.inputs for member in members])
    keep = np.flatnonzero(union)
    shape = (None, None) if input_size is None else tuple(input_size)
    image = keras.Input((*shape, 3), dtype="uint8", name="image")
    x = _resize(keras.ops.cast(image, "float32"), backbone.image_size, input_size)
    x = backbone.preprocess_graph(x)
    folded = fold_feature_selection(backbone.model, keep) if fold and not union.all() else None
    network = folded or backbone.model
    features = network(x)
    if folded is None and not union.all():
        features = keras.ops.take(features, keep, axis=-1)
    outputs, stacks = [], []
    for member in members:
        columns = np.searchsorted(keep, np.flatnonzero(member.inputs))
        read = features if columns.size == keep.size else keras.ops.take(features, columns, axis=-1)
        weights = member.weights
        stack = build_stack(weights.dims[0], weights.dims[1:-1], weights.dims[-1], config, name=member.name)
        weights.assign_to(stack)
        stacks.append(stack)
        outputs.append(stack(read))
    probabilities = outputs[0] if len(outputs) == 1 else majority_vote(outputs)
    model = keras.Model(image, probabilities, name="evoprune_image_classifier")
    mode = "none" if union.all() else "folded" if folded is not None else "sliced"
    return ImageModel(model, mode, _costs(backbone, network, stacks, members, widths, config))


def _costs(backbone, network, stacks, members, widths, config) -> dict:
    """Parameters and multiply-adds per image; the unpruned head is one head over every feature."""
    unpruned = HeadMasks.full(members[0].inputs.size, tuple(widths))
    n_classes = members[0].weights.dims[-1]
    figures = {
        "backbone_parameters": int(network.count_params()),
        "backbone_multiply_adds": multiply_adds(network),
        "unpruned_backbone_parameters": int(backbone.model.count_params()),
        "unpruned_backbone_multiply_adds": multiply_adds(backbone.model),
        "head_parameters": int(sum(stack.count_params() for stack in stacks)),
        "head_multiply_adds": int(sum(multiply_adds(stack) for stack in stacks)),
        "unpruned_head_parameters": count_parameters(unpruned, n_classes, config.use_bias),
        "unpruned_head_multiply_adds": count_flops(unpruned, n_classes) // 2,
    }
    for part in ("backbone", "head"):
        for what in ("parameters", "multiply_adds"):
            figures[f"{part}_{what}_removed"] = figures[f"unpruned_{part}_{what}"] - figures[f"{part}_{what}"]
    return figures
