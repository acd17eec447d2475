import zipfile

import numpy as np
import pytest
from conftest import FACES_EXTRACT

from evoprune_deap.data.extraction import extract_features
from evoprune_deap.data.features import FeatureSet
from evoprune_deap.data.images.sources import load_source
from evoprune_deap.data.splits import Split
from evoprune_deap.errors import FeatureCacheError


def test_extract_folder_shapes_classes_splits_and_cache_hit(faces_folder, faces_features, faces_cache):
    fs = faces_features
    assert fs.features.shape == (200, 1280) and fs.features.dtype == np.float32
    assert fs.class_names == ("face", "nonface")
    split = fs.splits[0]
    assert np.bincount(fs.labels[split.test]).tolist() == [25, 25]
    assert np.bincount(fs.labels[split.val]).tolist() == [15, 15]
    assert fs.metadata["backbone"] == "efficientnet_lite0"
    assert fs.metadata["image_size"] == 64
    assert not fs.metadata["cache_hit"]
    # Same request again: served from the cache, identical arrays, no extraction.
    again = extract_features(
        load_source(images=faces_folder), out=faces_cache, progress=_fail, **FACES_EXTRACT
    )
    assert again.metadata["cache_hit"]
    assert np.array_equal(again.features, fs.features)


def _fail(_n):
    raise AssertionError("a cache hit must not extract")


def test_features_separate_faces_from_non_faces(faces_features):
    """Real features carry signal: a nearest-centroid rule beats chance by far."""
    arrays = faces_features.arrays()
    x, y = arrays["train"]
    centroids = np.stack([x[y == c].mean(0) for c in (0, 1)])
    xt, yt = arrays["test"]
    predicted = np.argmin(((xt[:, None] - centroids[None]) ** 2).sum(-1), axis=1)
    assert (predicted == yt).mean() > 0.8


def _small_set(**overrides):
    rng = np.random.default_rng(0)
    values = dict(
        features=rng.normal(size=(20, 4)).astype(np.float32),
        labels=np.repeat([0, 1], 10),
        class_names=("a", "b"),
        splits=(Split(np.r_[0:6, 10:16], np.r_[6:8, 16:18], np.r_[8:10, 18:20]),),
        metadata={"backbone": "toy"},
    )
    values.update(overrides)
    return FeatureSet(**values)


def test_save_load_roundtrip(tmp_path):
    fs = _small_set()
    fs.save(tmp_path / "a.npz")
    back = FeatureSet.load(str(tmp_path / "a.npz"))
    assert np.array_equal(back.features, fs.features)
    assert back.class_names == fs.class_names
    assert np.array_equal(back.splits[0].val, fs.splits[0].val)
    assert back.metadata["backbone"] == "toy"


def test_truncated_cache(tmp_path):
    path = tmp_path / "a.npz"
    _small_set().save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(FeatureCacheError, match="truncated or corrupt"):
        FeatureSet.load(str(path))


@pytest.mark.parametrize("name", ["labels", "features"])
def test_tampered_cache(tmp_path, name):
    path = tmp_path / "a.npz"
    _small_set().save(path)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    if name == "labels":
        arrays["labels"] = arrays["labels"][::-1].copy()
    else:
        arrays["features"] = arrays["features"].copy()
        arrays["features"][7, 2] += 1e-3  # one value, slightly: still finite, still the right shape
    np.savez(path, **arrays)
    with pytest.raises(FeatureCacheError, match=f"'{name}' fails its checksum"):
        FeatureSet.load(str(path))


def test_missing_cache_says_how_to_make_it(tmp_path):
    with pytest.raises(FeatureCacheError, match="evoprune extract"):
        FeatureSet.load(str(tmp_path / "none.npz"))


def test_not_a_zip(tmp_path):
    path = tmp_path / "a.npz"
    path.write_text("hello")
    with pytest.raises(FeatureCacheError):
        FeatureSet.load(str(path))
    assert not zipfile.is_zipfile(path)


def test_nan_features_rejected():
    features = np.ones((20, 4), dtype=np.float32)
    features[3, 1] = np.nan
    with pytest.raises(FeatureCacheError, match="NaN or Inf.*row 3"):
        _small_set(features=features)


def test_label_length_mismatch():
    with pytest.raises(FeatureCacheError, match="do not match"):
        _small_set(labels=np.zeros(19, dtype=np.int64))


def test_single_class_training_split():
    with pytest.raises(FeatureCacheError, match="single class"):
        _small_set(
            labels=np.r_[np.zeros(16), np.ones(4)].astype(np.int64),
            splits=(Split(np.r_[0:12], np.r_[12:14], np.r_[14:20]),),
        )


@pytest.mark.slow
def test_different_image_size_rebuilds(faces_folder, tmp_path):
    source = load_source(images=faces_folder)
    out = str(tmp_path / "c.npz")
    first = extract_features(source, image_size=32, out=out, split_seed=0)
    second = extract_features(source, image_size=40, out=out, split_seed=0)
    assert not second.metadata["cache_hit"]
    assert FeatureSet.load(out).metadata["image_size"] == 40
    assert not np.allclose(first.features, second.features)


@pytest.mark.slow
def test_a_cache_made_differently_is_rebuilt(tmp_path):
    """Another split seed, backbone or source at the same path: the cache is rebuilt, never reused."""
    from conftest import write_digits_folder

    digits = write_digits_folder(tmp_path / "digits", n_per_class=8)
    other = write_digits_folder(tmp_path / "other", n_per_class=8, classes=(3, 4, 5))
    out = str(tmp_path / "c.npz")
    options = dict(image_size=32, out=out, split_seed=0, val_fraction=0.25, test_fraction=0.25)
    previous = extract_features(load_source(images=digits), **options)
    for folder, change in (
        (digits, {"split_seed": 1}),
        (digits, {"backbone": "vgg19", "weights": "none"}),
        (other, {}),
    ):
        rebuilt = extract_features(load_source(images=folder), **{**options, **change})
        assert not rebuilt.metadata["cache_hit"], change
        assert FeatureSet.load(out).metadata["key"] == rebuilt.metadata["key"] != previous.metadata["key"]
        if "split_seed" in change:
            assert not np.array_equal(rebuilt.splits[0].train, previous.splits[0].train)
        elif "backbone" in change:
            assert rebuilt.n_features == 512 and rebuilt.metadata["backbone"] == "vgg19"
        else:
            assert (
                rebuilt.metadata["key"]["source_fingerprint"]
                != previous.metadata["key"]["source_fingerprint"]
            )
        previous = rebuilt


@pytest.mark.slow  # one extraction in a fresh process
def test_extractions_sharing_a_worker_see_the_folder_as_it_is_now_and_equal_a_worker_of_their_own(tmp_path):
    """The suite's extractions share one worker (conftest), as a command's do: a folder that gained a class
    between two extractions is read again, and the features equal those of an extraction with its own
    worker."""
    import os
    import subprocess
    import sys

    from conftest import write_digits_folder

    digits = write_digits_folder(tmp_path / "digits", n_per_class=6)
    options = dict(image_size=32, split_seed=0, val_fraction=0.25, test_fraction=0.25)
    from evoprune_deap.tensorflow_worker import shared_tensorflow_worker

    with shared_tensorflow_worker():  # what conftest does for the whole suite, here whatever conftest does
        first = extract_features(load_source(images=digits), out=str(tmp_path / "a.npz"), **options)
        write_digits_folder(
            tmp_path / "digits", n_per_class=6, classes=(7,)
        )  # digit7/: sorted after digit0-2
        second = extract_features(load_source(images=digits), out=str(tmp_path / "b.npz"), **options)
    assert second.class_names == ("digit0", "digit1", "digit2", "digit7") and second.n_samples == 24
    np.testing.assert_array_equal(second.features[:18], first.features)
    code = (
        "import sys; from evoprune_deap.data.extraction import extract_features; "
        "from evoprune_deap.data.images.sources import load_source; "
        f"extract_features(load_source(images=sys.argv[1]), out=sys.argv[2], **{options!r})"
    )
    subprocess.run(
        [sys.executable, "-c", code, digits, str(tmp_path / "own.npz")],
        check=True,
        timeout=300,
        env={**os.environ, "KERAS_BACKEND": "jax"},
        capture_output=True,
    )
    np.testing.assert_array_equal(FeatureSet.load(str(tmp_path / "own.npz")).features, second.features)


def test_other_splits_name_their_own_cache_and_the_default_keeps_its_name(tmp_path, monkeypatch):
    """`evoprune run --split-seed 1` must not overwrite the cache every default run reads."""
    from evoprune_deap.config import DataConfig
    from evoprune_deap.data.extraction import default_cache_path

    monkeypatch.setenv("EVOPRUNE_CACHE_DIR", str(tmp_path))
    base = str(tmp_path / "features" / "elpv-efficientnet_lite0-128px")
    assert default_cache_path("elpv", "efficientnet_lite0", 128) == base + ".npz"
    assert default_cache_path("elpv", "efficientnet_lite0", 128, DataConfig()) == base + ".npz"
    assert (
        default_cache_path("elpv", "efficientnet_lite0", 128, DataConfig(split_seed=1))
        == base + "-split1.npz"
    )
    both = DataConfig(val_fraction=0.1, test_fraction=0.3)
    assert default_cache_path("elpv", "efficientnet_lite0", 128, both) == base + "-val0.1-test0.3.npz"
