import io
import os
import pickle

import numpy as np
import pytest
from PIL import Image

from evoprune_deap.data.backbones import build_backbone, efficientnet_lite0
from evoprune_deap.data.backbones.torch_legacy import load_legacy_state_dict
from evoprune_deap.errors import BackboneError, ConfigError

CAT_CLASSES = {281, 282, 283, 284, 285, 287}  # tabby ... Egyptian cat, lynx
COFFEE_CLASSES = {967, 968, 504}  # espresso, cup, coffee mug


@pytest.fixture(scope="module")
def imagenet_classifier():
    return efficientnet_lite0.build(224, include_top=True)


def _photo(name):
    from skimage import data

    image = Image.fromarray(getattr(data, name)()).convert("RGB").resize((224, 224), Image.BILINEAR)
    return np.asarray(image)[None]


@pytest.mark.slow
@pytest.mark.parametrize("photo, expected", [("chelsea", CAT_CLASSES), ("coffee", COFFEE_CLASSES)])
def test_efficientnet_lite0_predicts_imagenet_classes(imagenet_classifier, photo, expected):
    probabilities = imagenet_classifier.extract(_photo(photo))[0]
    assert probabilities.shape == (1000,)
    assert abs(probabilities.sum() - 1) < 1e-4
    assert int(np.argmax(probabilities)) in expected
    assert probabilities.max() > 0.5


def test_efficientnet_lite0_features_are_1280_wide_and_checksummed():
    backbone = build_backbone("efficientnet_lite0", 64)
    features = backbone.extract(np.zeros((2, 64, 64, 3), dtype=np.uint8))
    assert features.shape == (2, 1280)
    assert np.isfinite(features).all()
    assert backbone.weights_sha256 == efficientnet_lite0.WEIGHTS_SHA256


@pytest.mark.slow
@pytest.mark.parametrize("name, width", [("resnet50", 2048), ("densenet121", 1024), ("vgg19", 512)])
def test_keras_applications_feature_width_without_weights(name, width, tmp_path):
    """Through the extraction worker (Keras on TensorFlow), as `evoprune extract --backbone NAME` runs it."""
    from conftest import write_digits_folder

    from evoprune_deap.data.extraction import extract_features
    from evoprune_deap.data.images.sources import load_source

    folder = write_digits_folder(tmp_path / "digits", n_per_class=8, classes=(0, 1))
    features = extract_features(
        load_source(images=folder),
        backbone=name,
        image_size=32,
        weights="none",
        out=str(tmp_path / "c.npz"),
        val_fraction=0.25,
        test_fraction=0.25,
    )
    assert features.features.shape == (16, width) and features.metadata["n_features"] == width
    assert features.metadata["backbone"] == name and np.isfinite(features.features).all()


def test_keras_applications_missing_weights_file_names_the_file(tmp_path):
    missing = str(tmp_path / "nope.h5")
    with pytest.raises(BackboneError, match="nope.h5.*--weights"):
        build_backbone("resnet50", 32, weights=missing)


def test_unknown_backbone_and_bad_image_size():
    with pytest.raises(ConfigError, match="Unknown backbone 'alexnet'"):
        build_backbone("alexnet")
    with pytest.raises(ConfigError, match="image_size"):
        build_backbone("efficientnet_lite0", 8)


def test_weights_checksum_mismatch(tmp_path):
    fake = tmp_path / "fake.pth"
    fake.write_bytes(b"not the weights")
    with pytest.raises(BackboneError, match="sha256"):
        efficientnet_lite0.load_weights(str(fake))


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_legacy_reader_refuses_code_in_pickles():
    stream = io.BytesIO(pickle.dumps(_Evil()))
    with pytest.raises(BackboneError, match="Refusing to load"):
        load_legacy_state_dict(stream)


def test_legacy_reader_detects_truncation():
    path = efficientnet_lite0.default_weights_path()
    with open(path, "rb") as stream:
        head = stream.read(os.path.getsize(path) // 2)
    with pytest.raises(BackboneError, match="Truncated"):
        load_legacy_state_dict(io.BytesIO(head))


@pytest.mark.slow
def test_imagenet_download_failure_is_a_clear_error_with_or_without_internet(tmp_path):
    """The download is sent to a closed port on 127.0.0.1 (a proxy that is not there), and Keras' cache is
    empty, so the test never depends on, nor uses, the network. Keras runs on TensorFlow, as in the extraction
    worker where backbones are built (building VGG19's random initial weights on JAX compiles for seconds)."""
    import subprocess
    import sys

    code = (
        "from evoprune_deap.data.backbones import build_backbone\n"
        "from evoprune_deap.errors import BackboneError\n"
        "try:\n    build_backbone('vgg19', 32, weights='imagenet')\n"
        "except BackboneError as exc:\n    print('refused:', exc)\n"
    )
    proxy = "http://127.0.0.1:9"
    env = {
        **os.environ,
        "KERAS_BACKEND": "tensorflow",
        "KERAS_HOME": str(tmp_path / "keras"),
        "HTTPS_PROXY": proxy,
        "HTTP_PROXY": proxy,
        "https_proxy": proxy,
        "http_proxy": proxy,
        "NO_PROXY": "",
        "no_proxy": "",
    }
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert "refused:" in out.stdout and "--weights PATH" in out.stdout, out.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("name, exact", [("vgg19", True), ("resnet50", False), ("densenet121", False)])
def test_feature_selection_folds_into_a_last_convolution_and_never_through_a_sum(name, exact):
    """VGG19 ends conv -> max pool -> average pool: slicing the conv's filters is exact. ResNet50's pooled
    features are a residual sum, DenseNet121's a concatenation: no exact fold, so none is offered."""
    from evoprune_deap.data.backbones.slicing import fold_feature_selection, multiply_adds

    backbone = build_backbone(name, 32, weights="none")
    keep = np.sort(np.random.default_rng(0).choice(backbone.n_features, 37, replace=False))
    folded = fold_feature_selection(backbone.model, keep)
    assert (folded is not None) == exact
    if exact:
        x = backbone.preprocess(np.random.default_rng(1).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8))
        whole = np.asarray(backbone.model.predict(x, verbose=0))[:, keep]
        assert np.abs(np.asarray(folded.predict(x, verbose=0)) - whole).max() <= 1e-5 * max(
            1.0, np.abs(whole).max()
        )
        # the last conv (3x3, 512 -> 512 at 2x2 positions) keeps 37 of its 512 filters
        assert multiply_adds(backbone.model) - multiply_adds(folded) == 2 * 2 * 3 * 3 * 512 * (512 - 37)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["efficientnet_lite0", "resnet50", "densenet121"])
def test_preprocessing_as_layers_matches_the_backbones_preprocess(name):
    import keras

    backbone = build_backbone(name, 32, weights=None if name == "efficientnet_lite0" else "none")
    images = np.random.default_rng(2).integers(0, 256, (3, 9, 7, 3), dtype=np.uint8)
    inputs = keras.Input((9, 7, 3))
    graph = keras.Model(inputs, backbone.preprocess_graph(inputs))
    got = np.asarray(graph.predict(images.astype("float32"), verbose=0))
    assert np.abs(got - backbone.preprocess(images)).max() <= 1e-5 * np.abs(backbone.preprocess(images)).max()
