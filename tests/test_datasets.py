import os

import numpy as np
import pytest
from conftest import write_digits_folder
from PIL import Image

from evoprune_deap.data.images.sources import elpv_source, fashion_mnist_source, load_source, to_rgb_uint8
from evoprune_deap.data.splits import make_splits
from evoprune_deap.errors import DatasetError
from evoprune_deap.seeding import make_rng


def test_elpv_source_has_the_documented_classes():
    source = elpv_source()
    assert source.n_samples == 2624
    assert np.bincount(source.labels).tolist() == [1508, 295, 106, 715]
    assert source.load([0, 1], 40).shape == (2, 40, 40, 3)


def test_fashion_mnist_missing_names_the_apt_package(tmp_path):
    with pytest.raises(DatasetError, match="apt-get install dataset-fashion-mnist"):
        fashion_mnist_source(str(tmp_path))


def test_folder_source_labels_and_class_names(digits_folder):
    source = load_source(images=digits_folder)
    assert source.class_names == ("digit0", "digit1", "digit2")
    assert np.bincount(source.labels).tolist() == [12, 12, 12]
    assert source.partition_kind == "none"
    batch = source.load([0, 13, 30], 32)
    assert batch.shape == (3, 32, 32, 3) and batch.dtype == np.uint8


def test_train_test_folders_and_unseen_test_class(tmp_path):
    train = write_digits_folder(tmp_path / "train", classes=(0, 1))
    test = write_digits_folder(tmp_path / "test", classes=(0, 1), n_per_class=3)
    source = load_source(images=train, test_images=test)
    assert source.partition_kind == "train_test"
    assert (source.partition == 1).sum() == 6
    other = write_digits_folder(tmp_path / "test2", classes=(0, 7), n_per_class=3)
    with pytest.raises(DatasetError, match="class 'digit7'.*lacks"):
        load_source(images=train, test_images=other)


def test_fold_folders(tmp_path):
    for fold in range(3):
        write_digits_folder(tmp_path / "folds" / str(fold), n_per_class=4)
    source = load_source(images=str(tmp_path / "folds"))
    assert source.partition_kind == "folds"
    splits = make_splits(
        source.labels, source.partition, source.partition_kind, 0.25, 0.2, make_rng(0), source.class_names
    )
    assert len(splits) == 3
    for fold, split in enumerate(splits):
        assert set(source.partition[split.test]) == {fold}
        assert fold not in set(source.partition[split.train])


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16", "RGB"])
def test_any_image_mode_becomes_rgb_of_the_requested_size(mode):
    image = Image.fromarray(np.arange(35 * 23, dtype=np.uint8).reshape(23, 35)).convert(mode)
    array = to_rgb_uint8(image, 20)
    assert array.shape == (20, 20, 3) and array.dtype == np.uint8


def test_missing_folder(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_source(images=str(tmp_path / "missing"))


def test_empty_class_folder(digits_folder):
    os.makedirs(os.path.join(digits_folder, "empty"))
    with pytest.raises(DatasetError, match="empty.*holds no images"):
        load_source(images=digits_folder)


def test_single_class(tmp_path):
    folder = write_digits_folder(tmp_path / "one", classes=(3,))
    with pytest.raises(DatasetError, match="only one class"):
        load_source(images=folder)


def test_unreadable_image_names_the_file(digits_folder):
    bad = os.path.join(digits_folder, "digit1", "broken.png")
    with open(bad, "wb") as stream:
        stream.write(b"\x89PNG garbage")
    source = load_source(images=digits_folder)
    with pytest.raises(DatasetError, match="broken.png"):
        source.load(np.arange(source.n_samples), 16)


def test_unknown_dataset():
    with pytest.raises(DatasetError, match="Unknown dataset 'cifar'.*elpv"):
        load_source("cifar")


def test_stratified_splits_are_seeded_and_disjoint():
    labels = np.repeat([0, 1, 2], [60, 30, 10])
    partition = np.zeros_like(labels)
    a = make_splits(labels, partition, "none", 0.2, 0.2, make_rng(1), "abc")[0]
    b = make_splits(labels, partition, "none", 0.2, 0.2, make_rng(1), "abc")[0]
    c = make_splits(labels, partition, "none", 0.2, 0.2, make_rng(2), "abc")[0]
    assert all(np.array_equal(x, y) for x, y in zip(a.parts().values(), b.parts().values()))
    assert not np.array_equal(a.test, c.test)
    assert np.bincount(labels[a.test]).tolist() == [12, 6, 2]
    assert np.union1d(np.union1d(a.train, a.val), a.test).size == 100
    assert not np.intersect1d(a.train, a.val).size and not np.intersect1d(a.train, a.test).size


def test_class_too_small_for_a_split():
    labels = np.array([0] * 10 + [1])
    with pytest.raises(DatasetError, match="Class 'b' has 1 sample"):
        make_splits(labels, np.zeros_like(labels), "none", 0.2, 0.2, make_rng(0), "ab")
