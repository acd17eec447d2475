"""Mask -> fitness: retrain the pruned head from scratch and score it.

Fitness is deterministic: the training seed of a mask derives from (run seed,
mask bits, fold), so the same mask scores the same in any order or worker,
and memoising by bitstring is sound.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .config import HeadConfig
from .encodings import Encoding, HeadMasks, mask_key
from .features import FeatureSet
from .head import HeadTrainer
from .seeding import derive_seed

EMPTY_MASK_FITNESS = 0.0
"""Fitness of a mask that disconnects the head (a layer with no active unit).

Such a head can only output its bias, so it is given accuracy 0 without
training: strictly worse than any trained head, never a crash."""


@dataclass(frozen=True)
class HeadScore:
    """Accuracies of one trained head (mean over folds where there are several)."""

    val_accuracy: float
    test_accuracy: float | None
    epochs: int
    seconds: float
    model: object = None  # the fold-0 head, exported, when score(..., export=True)


class MaskFitness:
    """Callable ``mask -> (fitness, info)`` for the GA.

    Parameters
    ----------
    feature_set : FeatureSet
    encoding : Encoding
    head_config : HeadConfig
    protocol : {"honest", "paper"}
        ``honest``: fitness is validation accuracy (test never seen).
        ``paper``: fitness is test accuracy, as the paper did (mean over folds
        for k-fold datasets); it leaks the test set into selection.
    seed : int
        The run seed.
    """

    def __init__(self, feature_set: FeatureSet, encoding: Encoding, head_config: HeadConfig,
                 protocol: str, seed: int):
        self.feature_set = feature_set
        self.encoding = encoding
        self.head_config = head_config
        self.protocol = protocol
        self.seed = seed
        self.trainer = HeadTrainer(feature_set.n_features, feature_set.n_classes, head_config)

    def training_seed(self, mask, fold: int) -> int:
        return derive_seed(self.seed, "mask", mask_key(mask), fold)

    def train(self, mask, fold: int = 0):
        """Train the head of ``mask`` on fold ``fold``; return (model, masks, epochs).

        The model is the trainer's reused, padded model: export it with
        ``self.trainer.export(model, masks)`` before training another mask.
        """
        masks = self.encoding.head_masks(mask)
        x, y = self.feature_set.arrays(fold)["train"]
        model, epochs = self.trainer.train(masks, x, y, self.training_seed(self.encoding.check_mask(mask), fold))
        return model, masks, epochs

    def _accuracy(self, model, masks, x, y) -> float:
        return float(np.mean(self.trainer.predict_classes(model, masks, x) == y))

    def score(self, mask, with_test: bool, export: bool = False) -> HeadScore:
        """Train on every fold; mean validation (and optionally test) accuracy.

        With ``export``, the head trained on fold 0 is also returned, as a
        standalone model taking the full feature vector (``HeadScore.model``).
        """
        masks = self.encoding.head_masks(mask)
        start = time.perf_counter()
        if masks.is_empty():
            test = EMPTY_MASK_FITNESS if with_test else None
            return HeadScore(EMPTY_MASK_FITNESS, test, 0, time.perf_counter() - start)
        vals, tests, epochs, exported = [], [], 0, None
        for fold in range(len(self.feature_set.splits)):
            model, _, n_epochs = self.train(mask, fold)
            if export and fold == 0:
                exported = self.trainer.export(model, masks)
            arrays = self.feature_set.arrays(fold)
            epochs += n_epochs
            if arrays["val"][0].shape[0]:
                vals.append(self._accuracy(model, masks, *arrays["val"]))
            if with_test:
                tests.append(self._accuracy(model, masks, *arrays["test"]))
        return HeadScore(float(np.mean(vals)) if vals else float("nan"),
                         float(np.mean(tests)) if with_test else None, epochs,
                         time.perf_counter() - start, exported)

    def __call__(self, mask):
        mask = self.encoding.check_mask(mask)
        paper = self.protocol == "paper"
        score = self.score(mask, with_test=paper)
        fitness = score.test_accuracy if paper else score.val_accuracy
        info = {"val_accuracy": score.val_accuracy, "epochs": score.epochs, "seconds": score.seconds}
        return fitness, info


__all__ = ["EMPTY_MASK_FITNESS", "HeadMasks", "HeadScore", "MaskFitness"]
