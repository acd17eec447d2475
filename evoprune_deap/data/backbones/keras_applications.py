"""ResNet50, DenseNet121 and VGG19 from ``keras.applications``.

``weights="imagenet"`` downloads the weights (needs internet); a local ``.h5``
or ``.weights.h5`` file path works offline; ``weights="none"`` builds a randomly
initialised network (shapes and plumbing only).
"""

from __future__ import annotations

import os

import numpy as np

from ...errors import BackboneError
from .base import Backbone
from .efficientnet_lite0 import file_sha256

# name -> (keras.applications constructor, preprocess module, feature width)
APPLICATIONS = {
    "resnet50": ("ResNet50", "resnet50", 2048),
    "densenet121": ("DenseNet121", "densenet", 1024),
    "vgg19": ("VGG19", "vgg19", 512),
}

PREPROCESSING = {
    "resnet50": "rgb -> bgr, minus ImageNet mean (caffe)",
    "densenet121": "rgb / 255, minus mean, over std (torch)",
    "vgg19": "rgb -> bgr, minus ImageNet mean (caffe)",
}


CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
TORCH_MEAN, TORCH_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def preprocess_graph(name: str):
    """The backbone's ``preprocess_input`` as one built-in 1x1 convolution with fixed weights.

    caffe (ResNet50, VGG19): RGB -> BGR (a permutation kernel) minus the BGR
    mean (the bias); torch (DenseNet121): x / 255 / std - mean / std per channel.
    """
    if name == "densenet121":
        kernel = np.diag([1.0 / (255.0 * s) for s in TORCH_STD])
        bias = -np.asarray(TORCH_MEAN) / np.asarray(TORCH_STD)
    else:
        kernel, bias = np.eye(3)[::-1], -np.asarray(CAFFE_MEAN_BGR)

    def graph(x):
        import keras

        layer = keras.layers.Conv2D(3, 1, name="preprocess", trainable=False, kernel_initializer="zeros")
        y = layer(x)
        layer.set_weights([kernel.reshape(1, 1, 3, 3).astype("float32"), bias.astype("float32")])
        return y

    return graph


def build(name: str, image_size: int = 224, weights: str | None = "imagenet") -> Backbone:
    """Build a keras.applications backbone with average pooling.

    Parameters
    ----------
    name : {"resnet50", "densenet121", "vgg19"}
    image_size : int
        Side of the square input (>= 32).
    weights : str or None
        ``"imagenet"`` (download), a local weights file, or ``"none"``/None for
        random initialisation.

    Raises
    ------
    BackboneError
        If the weights cannot be downloaded or the file does not exist.
    """
    import keras

    constructor_name, module_name, n_features = APPLICATIONS[name]
    constructor = getattr(keras.applications, constructor_name)
    module = getattr(keras.applications, module_name)
    sha256 = None
    if weights is None or str(weights).lower() == "none":
        keras_weights, weights = None, "none"
    elif weights == "imagenet":
        keras_weights = "imagenet"
    else:
        if not os.path.isfile(weights):
            raise BackboneError(
                f"Weights file {weights!r} for {name} does not exist; pass an existing "
                "file with --weights, or --weights imagenet to download them."
            )
        keras_weights, sha256 = weights, file_sha256(weights)
    try:
        model = constructor(
            include_top=False,
            weights=keras_weights,
            input_shape=(image_size, image_size, 3),
            pooling="avg",
        )
    except Exception as exc:  # download failures surface as many types
        raise BackboneError(
            f"Could not build {name} with weights={weights!r}: {exc}. Offline, download "
            f"the {name} 'notop' weights elsewhere and pass the file with --weights PATH."
        ) from exc

    def preprocess(images: np.ndarray) -> np.ndarray:
        return np.asarray(module.preprocess_input(np.asarray(images, dtype=np.float32)))

    return Backbone(
        name=name,
        model=model,
        n_features=n_features,
        image_size=image_size,
        weights=weights,
        weights_sha256=sha256,
        preprocessing=PREPROCESSING[name],
        preprocess=preprocess,
        preprocess_graph=preprocess_graph(name),
    )
