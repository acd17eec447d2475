"""Does an exported model classify as the two-stage pipeline does? ``evoprune export``'s agreement checks.

The two-stage pipeline is what the run measured: the cached features of the
test images through the saved head (``best_head.keras``, or a ``select`` /
``ensemble`` file). The exported model is fed the test images themselves,
either at the cache's image size (exactly the pixels the features were made
from: the in-model resize is then the identity) or raw, at their own size
(the model resizes them with plain bilinear, the cache used PIL's
antialiasing bilinear; where the two disagree, the table says by how much).
"""

from __future__ import annotations

import numpy as np

from ..records.directory import RunDirectory


def split_images(run_dir: str, size: int | None = None):
    """The run's test images (uint8 RGB at ``size``, default the cache's), their cached features, labels."""
    from ..data.loading import config_source, load_feature_set

    config = RunDirectory(run_dir).read_config()
    feature_set = load_feature_set(config)
    test = feature_set.splits[0].test
    images = config_source(config).load(test, size or int(feature_set.metadata["image_size"]))
    return images, feature_set.features[test], feature_set.labels[test]


def calibration_images(config, feature_set, size: tuple, n: int, seed: int) -> np.ndarray:
    """``n`` of the run's training images (drawn with ``seed``), uint8 RGB of ``size`` (height, width).

    The representative set of ``--quantize int8``: training images only, never
    the validation or test images the agreement is measured on. They are read
    at the backbone's size as the cache read them (PIL's bilinear) and, for
    another input size, resized to it with PIL's bilinear filter.
    """
    from PIL import Image

    from ..data.loading import config_source

    train = feature_set.splits[0].train
    drawn = np.sort(np.random.default_rng(seed).choice(train, min(n, train.size), replace=False))
    height, width = size
    images = config_source(config).load(
        drawn, height if height == width else int(feature_set.metadata["image_size"])
    )
    if images.shape[1:3] == (height, width):
        return images
    return np.stack(
        [np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR)) for image in images]
    )


def two_stage(head_path: str, features: np.ndarray) -> np.ndarray:
    """Class probabilities of the saved head (features in) on cached features."""
    from ..head.models.stack import load_head

    return np.asarray(load_head(head_path).predict(features, verbose=0))


def agreement(reference: np.ndarray, probabilities: np.ndarray, labels: np.ndarray | None = None) -> dict:
    """Predicted-class agreement of two (n, C) probability arrays, and every image where the classes differ.

    Returns n, agree (share of images with the same predicted class),
    max_abs_difference of the probabilities, the accuracies of both (with
    ``labels``), and ``disagreements``: for each differing image its index,
    both classes and its largest probability difference.
    """
    ours, theirs = np.argmax(reference, axis=1), np.argmax(probabilities, axis=1)
    differ = np.flatnonzero(ours != theirs)
    gap = np.abs(reference - probabilities)
    result = {
        "n": int(len(reference)),
        "agree": float(np.mean(ours == theirs)),
        "max_abs_difference": float(gap.max()) if gap.size else 0.0,
        "disagreements": [
            {
                "index": int(i),
                "reference_class": int(ours[i]),
                "class": int(theirs[i]),
                "max_abs_difference": float(gap[i].max()),
                "reference_margin": float(np.sort(reference[i])[-1] - np.sort(reference[i])[-2]),
            }
            for i in differ
        ],
    }
    if labels is not None:
        result["reference_accuracy"] = float(np.mean(ours == labels))
        result["accuracy"] = float(np.mean(theirs == labels))
    return result
