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
    from evoprune_deap.data.extraction import extract_features
    from evoprune_deap.data.images.sources import load_source

    return extract_features(load_source(images=faces_folder), out=faces_cache, **FACES_EXTRACT)


@pytest.fixture(scope="session", autouse=True)
def one_tensorflow_worker():
    """The suite's in-process extractions and LiteRT conversions share one TensorFlow worker process, as a
    command's do."""
    from evoprune_deap.tensorflow_worker import shared_tensorflow_worker

    with shared_tensorflow_worker():
        yield


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


def snapshot(*roots) -> dict:
    """Every file and folder under ``roots``: path -> (size, modification time in ns, is a folder)."""
    found = {}
    for root in roots:
        for folder, dirs, files in os.walk(root):
            for name in dirs + files:
                path = os.path.join(folder, name)
                stat = os.lstat(path)  # a dangling link is a file too
                found[path] = (stat.st_size, stat.st_mtime_ns, os.path.isdir(path))
    return found


def check_refusal(code: int, err: str, match: str) -> str:
    """A refusal as the README promises it: exit 2, one line ``evoprune: error: ...`` naming ``match``."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith("evoprune: error: ") and match in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def refused(capfd):
    """``refused(argv, match, *roots)``: ``evoprune argv`` in this process (no -q unless given) is refused
    with one line on fd 2 (so worker processes and warnings count) and changes nothing under ``roots``
    (names, sizes and modification times)."""
    from evoprune_deap.cli import main

    def check(argv, match, *roots):
        roots = roots + (os.environ["EVOPRUNE_CACHE_DIR"],)
        before = snapshot(*roots)
        capfd.readouterr()
        try:
            code = main(list(argv))
        except SystemExit as stop:  # argparse's errors: one line too
            code = stop.code
        line = check_refusal(code, capfd.readouterr().err, match)
        assert snapshot(*roots) == before
        return line

    return check
