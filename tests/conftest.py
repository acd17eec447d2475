"""Shared fixtures: small real image folders and feature sets."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np
import pytest
from PIL import Image


def write_digits_folder(root, n_per_class=12, classes=(0, 1, 2), size=8, mode="L"):
    """Write scikit-learn's real 8x8 digit images as DIR/<class>/<i>.png."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    os.makedirs(root, exist_ok=True)
    for label in classes:
        folder = os.path.join(root, f"digit{label}")
        os.makedirs(folder, exist_ok=True)
        images = digits.images[digits.target == label][:n_per_class]
        for i, image in enumerate(images):
            pixels = (image / 16.0 * 255).astype(np.uint8)
            picture = Image.fromarray(pixels, mode="L").resize((size, size))
            picture.convert(mode).save(os.path.join(folder, f"{i}.png"))
    return str(root)


@pytest.fixture
def digits_folder(tmp_path):
    return write_digits_folder(tmp_path / "digits")


@pytest.fixture(scope="session")
def faces_folder(tmp_path_factory):
    """scikit-image's real LFW subset (100 faces, 100 non-faces), 25x25 grayscale."""
    from skimage import data

    root = tmp_path_factory.mktemp("faces")
    images = data.lfw_subset()
    for i, image in enumerate(images):
        label = "face" if i < 100 else "nonface"
        os.makedirs(root / label, exist_ok=True)
        Image.fromarray((image * 255).astype(np.uint8)).save(root / label / f"{i:03d}.png")
    return str(root)


FACES_EXTRACT = dict(image_size=64, split_seed=0, val_fraction=0.2, test_fraction=0.25)


@pytest.fixture(scope="session")
def faces_cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cache") / "faces.npz")


@pytest.fixture(scope="session")
def faces_features(faces_folder, faces_cache):
    """Real EfficientNet-Lite0 features of the LFW subset at 64 px."""
    from evoprune_deap.data.sources import load_source
    from evoprune_deap.data.extraction import extract_features

    return extract_features(load_source(images=faces_folder), out=faces_cache, **FACES_EXTRACT)


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """Every test (and every process it starts) caches under a temporary folder, never the user's home."""
    previous = os.environ.get("EVOPRUNE_CACHE_DIR")
    os.environ["EVOPRUNE_CACHE_DIR"] = str(tmp_path_factory.mktemp("evoprune-cache"))
    yield os.environ["EVOPRUNE_CACHE_DIR"]
    if previous is None:
        os.environ.pop("EVOPRUNE_CACHE_DIR", None)
    else:
        os.environ["EVOPRUNE_CACHE_DIR"] = previous
