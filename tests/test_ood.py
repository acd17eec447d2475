"""The OOD objective's parts: confidence scores, AUROC, the numpy logits, OOD features attached to a
FeatureSet."""

import os

import numpy as np
import pytest
from scipy.special import logsumexp, softmax

from evoprune_deap.config import HeadConfig
from evoprune_deap.data.features import FeatureSet
from evoprune_deap.errors import FeatureCacheError
from evoprune_deap.head.masks import HeadMasks
from evoprune_deap.head.ood import confidence, ood_auroc
from evoprune_deap.head.trainer import HeadTrainer


def test_confidence_scores():
    logits = np.array([[2.0, 0.0, -1.0], [0.5, 0.4, 0.3]])
    np.testing.assert_allclose(confidence(logits, "msp", 1.0), softmax(logits, axis=1).max(1))
    np.testing.assert_allclose(confidence(logits, "energy", 1.0), logsumexp(logits, axis=1))
    hot = confidence(logits, "msp", 1000.0)  # T = 1000: near 1/C, but still ordered by the top logit gap
    assert np.all(np.abs(hot - 1 / 3) < 1e-3) and hot[0] > hot[1]
    with pytest.raises(ValueError, match="msp"):
        confidence(logits, "entropy")


def test_auroc_is_scikit_learns_with_in_distribution_positive():
    inside, outside = np.array([0.9, 0.8, 0.7]), np.array([0.1, 0.2, 0.75])
    assert ood_auroc(inside, outside) == pytest.approx(8 / 9)  # one pair of 9 in the wrong order
    assert ood_auroc(outside, inside) == pytest.approx(1 / 9)
    assert ood_auroc(np.ones(4), np.ones(3)) == 0.5


def test_the_one_forward_pass_gives_the_exported_keras_heads_probabilities(faces_features):
    x, y = faces_features.arrays()["train"]
    masks = HeadMasks(
        np.arange(faces_features.n_features) % 3 > 0, (np.arange(512) % 5 > 0, np.ones(512, bool))
    )
    trainer = HeadTrainer(faces_features.n_features, faces_features.n_classes, HeadConfig(max_epochs=3))
    head = trainer.train(masks, x, y, seed=3)
    test = faces_features.arrays()["test"][0]
    keras_head = head.to_keras()
    want = np.asarray(keras_head.predict(test, verbose=0))
    np.testing.assert_allclose(softmax(head.logits(test).astype(np.float64), axis=1), want, atol=1e-5)
    np.testing.assert_allclose(head.predict_proba(test), want, atol=1e-5)


def _features(classes, n=40, width=6, seed=0, **meta):
    rng = np.random.default_rng(seed)
    from evoprune_deap.data.splits import Split

    labels = np.arange(n) % len(classes)
    split = Split(np.arange(0, n // 2), np.arange(n // 2, 3 * n // 4), np.arange(3 * n // 4, n))
    return FeatureSet(
        rng.normal(size=(n, width)).astype(np.float32),
        labels,
        tuple(classes),
        (split,),
        {"backbone": "efficientnet_lite0", "image_size": 64, "key": {"source": "x"}, **meta},
    )


def test_ood_features_are_halved_with_the_seed_and_recorded_in_the_key():
    mine, theirs = _features(("cat", "dog")), _features(("car", "boat"), n=41, seed=1)
    a, b = mine.with_ood(theirs, 0), mine.with_ood(theirs, 0)
    assert a.ood["val"].shape == (20, 6) and a.ood["test"].shape == (21, 6)
    np.testing.assert_array_equal(a.ood["val"], b.ood["val"])
    rows = {row.tobytes() for row in theirs.features}
    halves = [{row.tobytes() for row in a.ood[part]} for part in ("val", "test")]
    assert not halves[0] & halves[1] and halves[0] | halves[1] == rows
    assert not np.array_equal(mine.with_ood(theirs, 1).ood["val"], a.ood["val"])
    assert a.metadata["key"]["ood"] is not None and "ood" not in mine.metadata["key"]


@pytest.mark.parametrize(
    "theirs, words",
    [
        (_features(("car", "Dog")), "share the classes ['dog']"),
        (_features(("car", "boat"), image_size=128), "image_size = 128"),
        (_features(("car", "boat"), width=7), "7 columns"),
    ],
)
def test_mismatched_ood_features_are_refused(theirs, words):
    with pytest.raises(FeatureCacheError, match=words.replace("[", r"\[").replace("]", r"\]")):
        _features(("cat", "dog")).with_ood(theirs, 0)


def test_ood_images_are_extracted_like_the_feature_cache_and_overlaps_are_refused_before(
    faces_features, faces_cache, tmp_path, private_cache
):
    """The cache is 64 px; the config's default is 128 px: the OOD images must be read at 64 px."""
    import glob

    from conftest import write_digits_folder

    from evoprune_deap.config import from_dict
    from evoprune_deap.data.loading import load_feature_set
    from evoprune_deap.errors import DatasetError

    digits = write_digits_folder(tmp_path / "ood", n_per_class=8)
    config = from_dict({"data": {"features": faces_cache, "ood_images": digits}})
    assert config.data.image_size == 128 and faces_features.metadata["image_size"] == 64
    with_ood = load_feature_set(config)
    assert (
        with_ood.metadata["ood"]["n_images"] == 24
        and with_ood.ood["val"].shape[1] == faces_features.n_features
    )
    made = [path for path in glob.glob(f"{private_cache}/**/*.npz", recursive=True) if "ood" in path]
    assert made and all("64px" in path for path in made)
    before = sorted(glob.glob(f"{private_cache}/**/*", recursive=True))
    os.rename(tmp_path / "ood" / "digit0", tmp_path / "ood" / "Face")  # a class the head learns
    with pytest.raises(DatasetError, match=r"share the classes \['face'\]"):
        load_feature_set(config)
    assert sorted(glob.glob(f"{private_cache}/**/*", recursive=True)) == before  # refused before extracting
