"""Image sources: the built-in datasets and image folders.

An :class:`ImageSource` knows its labels, class names and given partition
(none, train/test, or k folds) without decoding any image, and loads images
in batches on demand, so extraction streams through datasets of any size.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import importlib.metadata
import importlib.util
import os
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ...errors import DatasetError
from .folders import class_folders, folder_name, is_fold_layout, unpack_zip  # noqa: F401 (folder_name)
from .images import (  # noqa: F401 (IMAGE_EXTENSIONS, MAX_PIXELS_VARIABLE, to_rgb_uint8: public here too)
    IMAGE_EXTENSIONS,
    MAX_PIXELS_VARIABLE,
    array_loader,
    check_image_files,
    file_loader,
    pixel_limit,
    to_rgb_uint8,
)

TRAIN, TEST = 0, 1

ELPV_CLASS_NAMES = ("defect_0", "defect_33", "defect_67", "defect_100")
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_CLASS_NAMES = (
    "t-shirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle-boot",
)
BUILTIN_DATASETS = ("elpv", "fashion-mnist")


@dataclass(frozen=True)
class ImageSource:
    """A labelled image collection, loaded lazily in batches.

    Attributes
    ----------
    name : str
    class_names : tuple of str
    labels : ndarray of shape (n_samples,)
        Integer class index of each image.
    partition : ndarray of shape (n_samples,)
        For ``partition_kind == "train_test"``: 0 = train, 1 = test. For
        ``"folds"``: the fold number. For ``"none"``: all zeros.
    partition_kind : {"none", "train_test", "folds"}
    fingerprint : str
        sha256 identifying the exact source files and labels.
    loader : callable
        ``loader(indices, image_size)`` -> uint8 ndarray (k, size, size, 3).
    """

    name: str
    class_names: tuple
    labels: np.ndarray
    partition: np.ndarray
    partition_kind: str
    fingerprint: str
    loader: Callable[[np.ndarray, int], np.ndarray] = field(repr=False)
    spec: dict = field(default_factory=dict)
    files: tuple = field(default=(), repr=False)

    @property
    def n_samples(self) -> int:
        return int(self.labels.shape[0])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def load(self, indices: Sequence[int], image_size: int) -> np.ndarray:
        """Return uint8 RGB images of shape (len(indices), image_size, image_size, 3)."""
        return self.loader(np.asarray(indices, dtype=np.int64), image_size)

    def check_files(self) -> None:
        """Every image file opens and passes PIL's integrity check (:func:`check_image_files`): run before
        a backbone loads, so a bad file is refused at once. Sources held in memory have nothing to check."""
        check_image_files(self.files)

    def train_subset(self, n_train: int, seed: int) -> "ImageSource":
        """This source with a stratified draw of ``n_train`` training images (test images all kept).

        Training images are those outside the given test partition (all of
        them for sources without one). The draw takes the same share of every
        class, with at least 2 images per class; the name gains ``-<n_train>``
        so caches and result tables tell the subset from the whole.

        Raises
        ------
        DatasetError
            ``n_train`` is not below the number of training images.
        """
        is_train = (
            self.partition == 0 if self.partition_kind == "train_test" else np.ones(self.n_samples, bool)
        )
        train = np.flatnonzero(is_train)
        if not 2 * self.n_classes <= n_train < train.size:
            raise DatasetError(
                f"train_subset={n_train} must be at least 2 per class ({2 * self.n_classes}) and below the "
                f"{train.size} training images of {self.name!r} ({self.n_classes} classes); change it or "
                "leave it out."
            )
        keep = np.sort(np.concatenate([self._stratified(train, n_train, seed), np.flatnonzero(~is_train)]))
        return self._restricted(
            keep,
            f"{self.name}-{n_train}",
            ["train_subset", n_train, seed],
            {"train_subset": n_train, "subset_seed": seed},
        )

    def sample(self, n: int, seed: int) -> "ImageSource":
        """A stratified draw of at most ``n`` of all its images (itself if it has no more), as one set.

        For out-of-distribution images, whose splits do not matter.
        """
        if n >= self.n_samples:
            return self
        keep = np.sort(self._stratified(np.arange(self.n_samples), n, seed))
        return self._restricted(
            keep, f"{self.name}-sample{n}", ["sample", n, seed], {"sample": n, "sample_seed": seed}
        )

    def _stratified(self, pool: np.ndarray, n: int, seed: int) -> np.ndarray:
        """``n`` of the indices ``pool``, the same share of each class (at least 2 of each), drawn with
        ``seed``."""
        rng = np.random.default_rng(seed)
        chosen = []
        for label in range(self.n_classes):
            members = pool[self.labels[pool] == label]
            chosen.append(rng.permutation(members)[: max(2, round(n * members.size / pool.size))])
        return np.concatenate(chosen)

    def _restricted(self, keep: np.ndarray, name: str, fingerprint: list, spec: dict) -> "ImageSource":
        base_loader = self.loader
        return ImageSource(
            name,
            self.class_names,
            self.labels[keep],
            self.partition[keep],
            self.partition_kind,
            _fingerprint([self.fingerprint, *fingerprint]),
            lambda indices, image_size: base_loader(keep[indices], image_size),
            {**self.spec, **spec},
            tuple(self.files[i] for i in keep) if self.files else (),
        )


def _fingerprint(entries) -> str:
    digest = hashlib.sha256()
    for entry in entries:
        digest.update(repr(entry).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def _check_classes(name: str, labels: np.ndarray, class_names: Sequence[str]) -> None:
    present = np.unique(labels)
    if present.size < 2:
        only = class_names[int(present[0])] if present.size else "none"
        raise DatasetError(
            f"Dataset {name!r} has only one class ({only!r}); classification needs at "
            "least two class subfolders with images: add another class's folder."
        )


def _package_dir(package: str, install_hint: str) -> str:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(f"Package {package!r} is not installed; run `{install_hint}`.")
    return list(spec.submodule_search_locations)[0]


def elpv_source() -> ImageSource:
    """The ELPV solar-cell dataset, 4 classes = round(3 * defect probability).

    2624 grayscale 300x300 electroluminescence images from the ``elpv-dataset``
    package (CC BY-NC-SA 4.0). No predefined test split.
    """
    root = os.path.join(_package_dir("elpv_dataset", "pip install elpv-dataset"), "data")
    labels_csv = os.path.join(root, "labels.csv")
    if not os.path.isfile(labels_csv):
        raise DatasetError(f"ELPV labels file {labels_csv!r} is missing; reinstall elpv-dataset.")
    paths, labels = [], []
    with open(labels_csv) as stream:
        for row in csv.reader(stream, delimiter=" ", skipinitialspace=True):
            if not row:
                continue
            paths.append(os.path.join(root, row[0]))
            labels.append(int(round(3 * float(row[1]))))
    version = importlib.metadata.version("elpv-dataset")
    with open(labels_csv, "rb") as stream:
        fingerprint = _fingerprint(["elpv", version, hashlib.sha256(stream.read()).hexdigest()])
    labels = np.asarray(labels, dtype=np.int64)
    return ImageSource(
        *("elpv", ELPV_CLASS_NAMES, labels, np.zeros_like(labels), "none", fingerprint, file_loader(paths)),
        files=tuple(paths),
    )


def _read_idx(path: str) -> np.ndarray:
    with gzip.open(path, "rb") as stream:
        data = stream.read()
    n_dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(n_dims))
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * n_dims)
    if array.size != int(np.prod(shape)):
        raise DatasetError(f"IDX file {path!r} is truncated; reinstall dataset-fashion-mnist.")
    return array.reshape(shape)


def fashion_mnist_source(root: str = FASHION_MNIST_DIR) -> ImageSource:
    """Fashion-MNIST from the Debian package ``dataset-fashion-mnist``: 60k/10k, 10 classes."""
    names = {
        (split, kind): os.path.join(root, f"{split}-{kind}-ubyte.gz")
        for split in ("train", "t10k")
        for kind in ("images-idx3", "labels-idx1")
    }
    missing = [p for p in names.values() if not os.path.isfile(p)]
    if missing:
        raise DatasetError(
            f"Fashion-MNIST files are missing ({missing[0]!r}); install them with "
            "`apt-get install dataset-fashion-mnist`."
        )
    images = np.concatenate(
        [_read_idx(names["train", "images-idx3"]), _read_idx(names["t10k", "images-idx3"])]
    )
    train_labels = _read_idx(names["train", "labels-idx1"])
    test_labels = _read_idx(names["t10k", "labels-idx1"])
    labels = np.concatenate([train_labels, test_labels]).astype(np.int64)
    partition = np.concatenate([np.full(len(train_labels), TRAIN), np.full(len(test_labels), TEST)])
    fingerprint = _fingerprint(
        ["fashion-mnist"] + [(os.path.basename(p), os.path.getsize(p)) for p in names.values()]
    )
    return ImageSource(
        "fashion-mnist",
        FASHION_MNIST_CLASS_NAMES,
        labels,
        partition,
        "train_test",
        fingerprint,
        array_loader(images),
    )


def _check_coverage(images: str, test_images, kind: str, groups: list, class_names: list) -> None:
    """Every class has images in the training folder and in the test folder, or in every fold."""
    for group, classes in groups:
        missing = sorted(set(class_names) - set(classes))
        if not missing:
            continue
        if kind == "folds":
            where = os.path.join(images, str(group))
            raise DatasetError(
                f"Fold folder {where!r} has no class {missing[0]!r}, which other folds have; every fold "
                f"needs images of every class (add {os.path.join(where, missing[0], '*.png')})."
            )
        if group == TEST:
            raise DatasetError(
                f"Test folder {test_images!r} has no class {missing[0]!r}, which the training folder "
                f"{images!r} has; add its test images ({os.path.join(test_images, missing[0], '*.png')}), "
                "or drop --test-images to split the training folder."
            )
        raise DatasetError(
            f"Test folder {test_images!r} has class {missing[0]!r} that the training folder "
            f"{images!r} lacks; every test class needs training images: add "
            f"{os.path.join(images, missing[0], '*.png')}, or remove the class from the test folder."
        )


def folder_source(images: str, test_images: str | None = None) -> ImageSource:
    """An image folder: ``DIR/<class>/*.png``, optionally with a test folder of the
    same layout, or numbered fold folders ``DIR/0/<class>/...``, ``DIR/1/...``.

    Raises
    ------
    DatasetError
        Missing folder, no class subfolders, an empty class folder, a single
        class, or a test class that the training folder lacks.
    """
    images = os.path.abspath(os.path.expanduser(images))
    if images.lower().endswith(".zip"):
        images = unpack_zip(images)
    if test_images is not None:
        test_images = os.path.abspath(os.path.expanduser(test_images))
        test_images = unpack_zip(test_images) if test_images.lower().endswith(".zip") else test_images
    if is_fold_layout(images):
        if test_images is not None:
            raise DatasetError(
                f"{images!r} holds numbered fold folders, which already define the test "
                "splits; drop --test-images."
            )
        fold_names = sorted((e.name for e in os.scandir(images) if e.is_dir() and e.name.isdigit()), key=int)
        if len(fold_names) < 2:
            raise DatasetError(
                f"Fold folder {images!r} has only {len(fold_names)} fold; k-fold needs at least 2: add "
                f"{os.path.join(images, '1', '<class>', '*.png')}, or put the classes directly in the folder."
            )
        groups = [(int(f), class_folders(os.path.join(images, f))) for f in fold_names]
        kind = "folds"
    else:
        groups = [(TRAIN, class_folders(images))]
        kind = "none"
        if test_images is not None:
            groups.append((TEST, class_folders(test_images)))
            kind = "train_test"
    class_names = sorted(set().union(*(g.keys() for _, g in groups)))
    _check_coverage(images, test_images, kind, groups, class_names)
    paths, labels, partition = [], [], []
    for group, classes in groups:
        for name, files in classes.items():
            paths.extend(files)
            labels.extend([class_names.index(name)] * len(files))
            partition.extend([group] * len(files))
    labels = np.asarray(labels, dtype=np.int64)
    _check_classes(images, labels, class_names)
    entries = [(os.path.relpath(p, images), os.path.getsize(p), os.stat(p).st_mtime_ns) for p in paths]
    fingerprint = _fingerprint([kind, class_names, labels.tolist(), partition] + entries)
    name = folder_name(images)
    return ImageSource(
        name,
        tuple(class_names),
        labels,
        np.asarray(partition, dtype=np.int64),
        kind,
        fingerprint,
        file_loader(paths),
        files=tuple(paths),
    )


def load_source(
    dataset: str | None = None,
    images: str | None = None,
    test_images: str | None = None,
    train_subset: int | None = None,
    subset_seed: int = 0,
    name: str | None = None,
    sample: int | None = None,
    sample_seed: int = 0,
) -> ImageSource:
    """Return the image source named by ``dataset`` or found at ``images``.

    With ``train_subset``, a stratified draw of that many training images
    (seeded by ``subset_seed``; see :meth:`ImageSource.train_subset`); with
    ``sample``, a stratified draw of at most that many of all its images
    (seeded by ``sample_seed``; see :meth:`ImageSource.sample`).
    ``name`` replaces the dataset's name in caches, run directories and
    tables (default: the built-in name, or :func:`folder_name`). The
    returned source records these arguments as ``spec``, so a worker process
    can open the same source.

    Raises
    ------
    DatasetError
        Unknown dataset name, or both ``dataset`` and ``images``.
    """
    source = _open_source(dataset, images, test_images)
    spec = {"dataset": dataset, "images": images, "test_images": test_images, "name": name}
    source = ImageSource(**{**source.__dict__, "spec": spec, **({"name": name} if name else {})})
    source = source if train_subset is None else source.train_subset(train_subset, subset_seed)
    return source if sample is None else source.sample(sample, sample_seed)


def _open_source(dataset, images, test_images) -> ImageSource:
    if images is not None:
        if dataset is not None:
            raise DatasetError("Give either a dataset name or an image folder, not both.")
        return folder_source(images, test_images)
    if test_images is not None:
        raise DatasetError(
            "--test-images needs --images (a training image folder); pass --images DIR too, or drop "
            "--test-images."
        )
    if dataset in (None, "elpv"):
        return elpv_source()
    if dataset in ("fashion-mnist", "fashion_mnist"):
        return fashion_mnist_source()
    raise DatasetError(
        f"Unknown dataset {dataset!r}; choose one of {', '.join(BUILTIN_DATASETS)}, "
        "or pass an image folder with --images DIR."
    )
