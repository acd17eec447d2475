"""Cached transfer features: :class:`FeatureSet` and its ``.npz`` cache.

The cache is one ``.npz`` file written without pickle: the arrays, plus a JSON
metadata string that records how the features were made (backbone, weights
sha256, image size, preprocessing, source fingerprint, seed, split fractions,
package version) and a sha256 of every array, checked on load.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import zipfile
from dataclasses import dataclass, field

import numpy as np

from ..errors import FeatureCacheError
from ..seeding import derive_seed, make_rng
from ..storage import atomic_write
from .splits import Split, carve_holdout

CACHE_FORMAT = 1
CACHE_FIX = "rebuild it with `evoprune extract --force` and the options that made it (or delete it)"


def _array_sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


@dataclass(frozen=True)
class FeatureSet:
    """Features of a labelled image set and its train/validation/test splits.

    Attributes
    ----------
    features : ndarray of shape (n_samples, n_features), float32
    labels : ndarray of shape (n_samples,), int64
    class_names : tuple of str
    splits : tuple of Split
        One split, or one per fold for k-fold datasets.
    metadata : dict
        How the features were made (see module docstring).
    ood : dict or None
        Out-of-distribution features made with the same backbone, as
        ``{"val": array, "test": array}`` (see :meth:`with_ood`); never cached
        with the in-distribution features.
    """

    features: np.ndarray
    labels: np.ndarray
    class_names: tuple
    splits: tuple
    metadata: dict = field(default_factory=dict)
    ood: dict | None = field(default=None, repr=False)

    def __post_init__(self):
        self.validate()

    @property
    def n_samples(self) -> int:
        return int(self.features.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.features.shape[1])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def validate(self) -> None:
        """Check shapes, finiteness, label range and splits.

        Raises
        ------
        FeatureCacheError
            With a message naming the inconsistency.
        """
        features, labels = self.features, self.labels
        if features.ndim != 2:
            raise FeatureCacheError(
                f"features must have shape (n_samples, n_features); got shape {features.shape}."
            )
        if labels.ndim != 1 or labels.shape[0] != features.shape[0]:
            raise FeatureCacheError(
                f"labels of shape {labels.shape} do not match features of shape "
                f"{features.shape}; each feature row needs one label."
            )
        if not np.issubdtype(labels.dtype, np.integer):
            raise FeatureCacheError(f"labels must be integers; got dtype {labels.dtype}.")
        bad = ~np.isfinite(features)
        if bad.any():
            row = int(np.argwhere(bad)[0][0])
            raise FeatureCacheError(
                f"features hold {int(bad.sum())} NaN or Inf values (first in row {row}); "
                "re-extract the features or clean the input."
            )
        if len(self.class_names) < 2:
            raise FeatureCacheError(f"Need at least 2 classes; got {list(self.class_names)}.")
        if labels.size and (labels.min() < 0 or labels.max() >= len(self.class_names)):
            raise FeatureCacheError(
                f"labels range over [{labels.min()}, {labels.max()}] but there are "
                f"{len(self.class_names)} class names."
            )
        if not self.splits:
            raise FeatureCacheError("A FeatureSet needs at least one split.")
        for k, split in enumerate(self.splits):
            self._validate_split(k, split)

    def _validate_split(self, k: int, split) -> None:
        """Split ``k``: indices in range, parts disjoint, two classes in training, no test class unseen."""
        for part, index in split.parts().items():
            if index.size == 0 and part != "val":
                raise FeatureCacheError(f"Split {k} has an empty {part} part.")
            if index.size and (index.min() < 0 or index.max() >= self.features.shape[0]):
                raise FeatureCacheError(
                    f"Split {k} {part} indices fall outside the {self.features.shape[0]} samples."
                )
        if split.holdout.size and (
            split.holdout.min() < 0
            or split.holdout.max() >= self.features.shape[0]
            or np.intersect1d(split.holdout, split.train).size
        ):
            raise FeatureCacheError(
                f"Split {k} hold-out indices fall outside the samples or overlap training."
            )
        if np.intersect1d(split.train, split.test).size or np.intersect1d(split.train, split.val).size:
            raise FeatureCacheError(f"Split {k} reuses samples across train, validation and test.")
        if np.unique(self.labels[split.train]).size < 2:
            raise FeatureCacheError(f"Split {k} has a single class in its training part; need at least 2.")
        unseen = np.setdiff1d(np.unique(self.labels[split.test]), np.unique(self.labels[split.train]))
        if unseen.size:
            raise FeatureCacheError(
                f"Split {k} test part has class {self.class_names[int(unseen[0])]!r} unseen in "
                "training; every test class needs training samples."
            )

    def arrays(self, fold: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Return ``{"train": (X, y), "val": (X, y), "test": (X, y), "holdout": (X, y)}`` for one split.

        ``holdout`` is empty unless :meth:`with_holdout` carved one.
        """
        split = self.splits[fold]
        parts = {**split.parts(), "holdout": split.holdout}
        return {part: (self.features[i], self.labels[i]) for part, i in parts.items()}

    def with_holdout(self, fraction: float, seed: int) -> "FeatureSet":
        """This set with ``fraction`` of each split's training part held out (stratified, drawn with
        ``seed``).

        The hold-out is carved before anything trains, so runs of both
        protocols on the returned set see the same training data. The cache
        key records the carve: a run cannot resume on differently carved data.
        """
        if fraction == 0:
            return self
        rng = make_rng(derive_seed(seed, "holdout"))
        splits = tuple(
            carve_holdout(split, self.labels, fraction, rng, self.class_names) for split in self.splits
        )
        key = {**self.metadata.get("key", {}), "holdout_fraction": fraction}
        return dataclasses.replace(
            self, splits=splits, metadata={**self.metadata, "key": key, "holdout_fraction": fraction}
        )

    def with_ood(self, ood: "FeatureSet", seed: int) -> "FeatureSet":
        """This set with out-of-distribution features ``ood``, halved into a validation and a test part.

        The validation half is what the ``ood`` objective sees (against the
        validation images); the test half is only for the reported figures
        (against the test images). The halves are drawn with ``seed``; the
        cache key records the OOD set, so a run cannot resume on other OOD data.

        Raises
        ------
        FeatureCacheError
            ``ood`` was made with another backbone, image size or weights,
            has another width, non-finite values, or shares a class name.
        """
        mine, theirs = self.metadata, ood.metadata
        for name in ("backbone", "image_size", "weights_sha256"):
            if mine.get(name) is not None and theirs.get(name) is not None and mine[name] != theirs[name]:
                raise FeatureCacheError(
                    f"The out-of-distribution features were made with {name} = {theirs[name]!r}, the "
                    f"features with {mine[name]!r}; extract the OOD images with the same backbone, image "
                    "size and weights (or pass --ood-images DIR and let the run extract them)."
                )
        if ood.n_features != self.n_features:
            raise FeatureCacheError(
                f"The out-of-distribution features have {ood.n_features} columns, the features "
                f"{self.n_features}; they must come from the same backbone: extract the OOD images with it "
                "(or pass --ood-images DIR and let the run extract them)."
            )
        shared = sorted({c.lower() for c in self.class_names} & {c.lower() for c in ood.class_names})
        if shared:
            raise FeatureCacheError(
                f"The out-of-distribution images share the classes {shared} with {mine.get('source')!r}; OOD "
                "images must come from classes the head never learns. Remove those classes from the OOD set."
            )
        order = make_rng(derive_seed(seed, "ood")).permutation(ood.n_samples)
        half = ood.n_samples // 2
        parts = {"val": ood.features[np.sort(order[:half])], "test": ood.features[np.sort(order[half:])]}
        ood_key = {k: theirs.get("key", {}).get(k) for k in ("source", "source_fingerprint")}
        return dataclasses.replace(
            self,
            ood=parts,
            metadata={
                **mine,
                "key": {**mine.get("key", {}), "ood": ood_key},
                "ood": {
                    "source": theirs.get("source"),
                    "n_images": ood.n_samples,
                    "class_names": list(ood.class_names),
                },
            },
        )

    # ------------------------------------------------------------------ cache
    def save(self, path: str) -> None:
        """Write the cache atomically (temp file + rename), without pickle."""
        arrays = {"features": self.features.astype(np.float32), "labels": self.labels.astype(np.int64)}
        for k, split in enumerate(self.splits):
            for part, index in split.parts().items():
                arrays[f"split{k}_{part}"] = index.astype(np.int64)
        meta = dict(self.metadata)
        meta.update(
            cache_format=CACHE_FORMAT,
            class_names=list(self.class_names),
            n_splits=len(self.splits),
            checksums={name: _array_sha256(a) for name, a in arrays.items()},
        )
        arrays["metadata"] = np.array(json.dumps(meta, sort_keys=True))
        atomic_write(str(path), lambda stream: np.savez(stream, **arrays), binary=True)

    @classmethod
    def load(cls, path: str) -> "FeatureSet":
        """Read and verify a cache written by :meth:`save`.

        Raises
        ------
        FeatureCacheError
            Missing, truncated, tampered or malformed file.
        """
        fix = CACHE_FIX
        arrays = _read_arrays(path)
        try:
            meta = json.loads(str(arrays.pop("metadata")))
            checksums = meta.pop("checksums")
            class_names = tuple(meta.pop("class_names"))
            n_splits = int(meta.pop("n_splits"))
        except (KeyError, ValueError, TypeError) as exc:
            raise FeatureCacheError(f"Feature cache {path!r} has no valid metadata ({exc}); {fix}.") from exc
        if set(checksums) != set(arrays):
            raise FeatureCacheError(f"Feature cache {path!r} has unexpected arrays {sorted(arrays)}; {fix}.")
        for name, array in arrays.items():
            if _array_sha256(array) != checksums[name]:
                raise FeatureCacheError(
                    f"Feature cache {path!r}: array {name!r} fails its checksum (tampered or damaged); {fix}."
                )
        try:
            splits = tuple(
                Split(*(arrays[f"split{k}_{part}"] for part in ("train", "val", "test")))
                for k in range(n_splits)
            )
            _check_width(arrays["features"], meta)
            return cls(arrays["features"], arrays["labels"], class_names, splits, meta)
        except (FeatureCacheError, KeyError) as exc:
            raise FeatureCacheError(f"Feature cache {path!r} is inconsistent ({exc}); {fix}.") from exc


def _read_arrays(path: str) -> dict:
    """The arrays of the ``.npz`` file at ``path``, metadata included; FeatureCacheError naming the file and
    the fix if it is no such file."""
    if os.path.isdir(path):
        inside = sorted(name for name in os.listdir(path) if name.endswith(".npz"))
        hint = f"; it holds {', '.join(inside[:5])}" if inside else ""
        raise FeatureCacheError(f"Feature cache {path!r} is a directory; pass the .npz file itself{hint}.")
    if not os.path.isfile(path):
        raise FeatureCacheError(
            f"Feature cache {path!r} does not exist; create it with `evoprune extract --out {path}`."
        )
    with open(path, "rb") as stream:
        is_zip = stream.read(4) == b"PK\x03\x04"
    if not is_zip:
        raise FeatureCacheError(
            f"{path!r} is not a feature cache (an .npz file written by `evoprune "
            "extract`); pass the cache file, or make one with `evoprune extract --out`."
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        reason = "it holds pickled objects, which are never loaded" if "pickle" in str(exc) else str(exc)
        raise FeatureCacheError(
            f"Feature cache {path!r} is truncated or corrupt ({reason}); {CACHE_FIX}."
        ) from exc
    if "metadata" not in arrays:
        raise FeatureCacheError(
            f"{path!r} holds arrays {sorted(arrays)[:4]} but no evoprune metadata: it is not a feature "
            "cache written by `evoprune extract`. Make one from images with `evoprune extract --images "
            "DIR --out FEATURES.npz`, or fit arrays X, y with the Python API "
            "(EvoPruneClassifier().fit(X, y))."
        )
    return arrays


def _check_width(features: np.ndarray, meta: dict) -> None:
    """Features made by a backbone have its width: a cache cut to fewer columns would train a head that no
    exported model can feed."""
    if "n_features" not in meta or features.ndim != 2:
        return
    from .backbones.efficientnet_lite0 import N_FEATURES
    from .backbones.keras_applications import APPLICATIONS

    widths = {"efficientnet_lite0": N_FEATURES, **{name: entry[2] for name, entry in APPLICATIONS.items()}}
    expected = widths.get(meta.get("backbone"), meta["n_features"])
    if features.shape[1] != expected or meta["n_features"] != expected:
        raise FeatureCacheError(
            f"it holds {features.shape[1]} features per image, but backbone {meta.get('backbone')!r} "
            f"gives {expected}"
        )
