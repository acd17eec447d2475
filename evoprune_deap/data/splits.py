"""Stratified, seeded train/validation/test splits over a labelled source."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import DatasetError


def _no_samples() -> np.ndarray:
    return np.empty(0, dtype=np.int64)


@dataclass(frozen=True)
class Split:
    """Index arrays of one train/validation/test split (sorted, disjoint).

    ``holdout`` (empty unless carved by :func:`carve_holdout`) is training
    data set aside before anything else: no head trains on it and no fitness
    reads it, under either protocol, so it measures how optimistic a
    reported accuracy is.
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    holdout: np.ndarray = field(default_factory=_no_samples)

    def parts(self) -> dict[str, np.ndarray]:
        """The parts every split has (the cache stores these)."""
        return {"train": self.train, "val": self.val, "test": self.test}


def stratified_carve(
    indices: np.ndarray, labels: np.ndarray, fraction: float, rng: np.random.Generator, what: str, class_names
) -> tuple[np.ndarray, np.ndarray]:
    """Carve ``fraction`` of ``indices`` per class, at least one sample per class.

    Parameters
    ----------
    indices : ndarray of shape (n,)
        Sample indices to split.
    labels : ndarray of shape (n_samples,)
        Labels of all samples.
    fraction : float in (0, 1)
    rng : numpy Generator
        Draws the permutation of each class.
    what : str
        Name of the carved part, for error messages.

    Returns
    -------
    kept, carved : sorted ndarrays

    Raises
    ------
    DatasetError
        If a class has fewer than 2 samples, so it cannot appear on both sides.
    """
    kept, carved = [], []
    for label in np.unique(labels[indices]):
        members = indices[labels[indices] == label]
        if members.size < 2:
            raise DatasetError(
                f"Class {class_names[int(label)]!r} has {members.size} sample where a {what} "
                "split needs at least 2; add images of that class or remove it."
            )
        members = rng.permutation(members)
        n_carved = int(np.clip(round(fraction * members.size), 1, members.size - 1))
        carved.append(members[:n_carved])
        kept.append(members[n_carved:])
    return np.sort(np.concatenate(kept)), np.sort(np.concatenate(carved))


def make_splits(
    labels: np.ndarray,
    partition: np.ndarray,
    partition_kind: str,
    val_fraction: float,
    test_fraction: float,
    rng: np.random.Generator,
    class_names,
) -> tuple[Split, ...]:
    """Build the splits of a source.

    ``"none"``: test carved from all samples, validation from the rest.
    ``"train_test"``: the given test; validation carved from train.
    ``"folds"``: one split per fold, that fold as test, validation carved from
    the other folds.
    """
    labels = np.asarray(labels)
    everything = np.arange(labels.shape[0])
    if partition_kind == "none":
        rest, test = stratified_carve(everything, labels, test_fraction, rng, "test", class_names)
        groups = [(rest, test)]
    elif partition_kind == "train_test":
        groups = [(everything[partition == 0], everything[partition == 1])]
    elif partition_kind == "folds":
        groups = [(everything[partition != k], everything[partition == k]) for k in np.unique(partition)]
    else:
        raise DatasetError(f"Unknown partition kind {partition_kind!r}.")
    splits = []
    for rest, test in groups:
        unseen = np.setdiff1d(np.unique(labels[test]), np.unique(labels[rest]))
        if unseen.size:
            raise DatasetError(
                f"Test split has class {class_names[int(unseen[0])]!r} unseen in training; "
                "every test class needs training samples."
            )
        train, val = stratified_carve(rest, labels, val_fraction, rng, "validation", class_names)
        splits.append(Split(train=train, val=val, test=np.sort(test)))
    return tuple(splits)


def carve_holdout(
    split: Split, labels: np.ndarray, fraction: float, rng: np.random.Generator, class_names
) -> Split:
    """``split`` with ``fraction`` of its training part (per class) moved to ``holdout``."""
    train, holdout = stratified_carve(split.train, np.asarray(labels), fraction, rng, "hold-out", class_names)
    return Split(train=train, val=split.val, test=split.test, holdout=holdout)
