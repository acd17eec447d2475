"""One image-to-class model: raw RGB uint8 images -> resize -> preprocessing -> backbone -> pruned head(s).

Built from Keras' built-in layers and ops only, so the saved ``.keras`` file
loads with ``keras.saving.load_model`` in a process that never imports
``evoprune_deap``, and every op has a LiteRT built-in kernel. The heads'
feature selection is folded into the backbone where that is exact
(:func:`~evoprune_deap.data.backbones.slicing.fold_feature_selection`), so
the network computes only the features some head reads; otherwise the pooled
features are sliced. Several heads (an ensemble) share one backbone pass and
vote (:func:`~evoprune_deap.head.layers.majority_vote`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import HeadConfig
from ..data.backbones.slicing import fold_feature_selection, multiply_adds
from .stack import build_stack
from .weights import HeadWeights

RESIZE = "bilinear"
"""The in-model resize: plain bilinear, LiteRT's RESIZE_BILINEAR. The feature caches were made with
PIL's bilinear filter, which antialiases when it shrinks; at the cache's image size both are the identity."""


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

    Reads the layers :func:`~evoprune_deap.head.stack.deployable_head` builds:
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
        members.append(Member(HeadWeights.from_model(stack, n_hidden), inputs,
                              "head" if len(heads) == 1 else f"member_{k}"))
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


def image_classifier(backbone, members: list[Member], widths: tuple, config: HeadConfig,
                     fold: bool = True) -> ImageModel:
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
    """
    import keras

    from .layers import majority_vote

    union = np.logical_or.reduce([member.inputs for member in members])
    keep = np.flatnonzero(union)
    image = keras.Input((None, None, 3), dtype="uint8", name="image")
    x = keras.layers.Resizing(backbone.image_size, backbone.image_size, interpolation=RESIZE,
                              name="resize")(keras.ops.cast(image, "float32"))
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
    full = build_stack(members[0].inputs.size, tuple(widths), members[0].weights.dims[-1], config, name="unpruned")
    figures = {
        "backbone_parameters": int(network.count_params()),
        "backbone_multiply_adds": multiply_adds(network),
        "unpruned_backbone_parameters": int(backbone.model.count_params()),
        "unpruned_backbone_multiply_adds": multiply_adds(backbone.model),
        "head_parameters": int(sum(stack.count_params() for stack in stacks)),
        "head_multiply_adds": int(sum(multiply_adds(stack) for stack in stacks)),
        "unpruned_head_parameters": int(full.count_params()),
        "unpruned_head_multiply_adds": multiply_adds(full),
    }
    for part in ("backbone", "head"):
        for what in ("parameters", "multiply_adds"):
            figures[f"{part}_{what}_removed"] = figures[f"unpruned_{part}_{what}"] - figures[f"{part}_{what}"]
    return figures

