"""Mask -> fitness: retrain the pruned head from scratch and score it.

A mask enters as bits, becomes :class:`~evoprune_deap.head.masks.HeadMasks`
once (checked by its :class:`~evoprune_deap.search.encodings.Encoding`), and
leaves as scores. Fitness is deterministic: the training seed of a mask
derives from (run seed, mask bits, fold), so the same mask scores the same in
any order or worker, and memoising by bitstring is sound.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..config import HeadConfig
from ..data.features import FeatureSet
from ..head.weights import HeadWeights
from ..head.training import HeadTrainer
from ..search.bits import mask_key
from ..search.encodings import Encoding
from ..seeding import derive_seed

EMPTY_MASK_FITNESS = 0.0
"""Fitness of a mask that disconnects the head (a layer with no active unit).

Such a head can only output its bias, so it is given accuracy 0 without
training: strictly worse than any trained head, never a crash."""


@dataclass(frozen=True)
class HeadScore:
    """Accuracies of one mask's head (mean over folds where there are several).

    ``weights`` are the trained weights of the head of fold 0 (None for an
    empty mask): plain arrays, so a score computed on a worker travels back
    whole; :func:`~evoprune_deap.head.stack.deployable_head` makes the Keras
    head from them.
    """

    val_accuracy: float
    test_accuracy: float | None
    epochs: int
    seconds: float
    weights: HeadWeights | None = None
    holdout_accuracy: float | None = None  # with the test score, where the features hold out data

    def result(self, protocol: str) -> tuple[float, dict]:
        """``(fitness, info)`` for the GA: validation accuracy, or test under the paper protocol."""
        fitness = self.test_accuracy if protocol == "paper" else self.val_accuracy
        return fitness, {"val_accuracy": self.val_accuracy, "epochs": self.epochs, "seconds": self.seconds}


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
        self.protocol = protocol
        self.seed = seed
        self.trainer = HeadTrainer(feature_set.n_features, feature_set.n_classes, head_config)

    def score(self, mask, with_test: bool) -> HeadScore:
        """Train the head of ``mask`` (bits) on every fold; mean validation (and test) accuracy."""
        start = time.perf_counter()
        masks = self.encoding.head_masks(mask)
        held_out = with_test and self.feature_set.splits[0].holdout.size > 0
        if masks.is_empty():
            test = EMPTY_MASK_FITNESS if with_test else None
            return HeadScore(EMPTY_MASK_FITNESS, test, 0, time.perf_counter() - start,
                             holdout_accuracy=EMPTY_MASK_FITNESS if held_out else None)
        key = mask_key(mask)
        scores, epochs, first = {"val": [], "test": [], "holdout": []}, 0, None
        for fold in range(len(self.feature_set.splits)):
            arrays = self.feature_set.arrays(fold)
            head = self.trainer.train(masks, *arrays["train"], derive_seed(self.seed, "mask", key, fold))
            first = head.weights if fold == 0 else first
            epochs += head.epochs
            for part in ("val", "test", "holdout") if with_test else ("val",):
                if arrays[part][0].shape[0]:
                    scores[part].append(head.accuracy(*arrays[part]))
        mean = {part: float(np.mean(values)) if values else None for part, values in scores.items()}
        return HeadScore(float("nan") if mean["val"] is None else mean["val"], mean["test"], epochs,
                         time.perf_counter() - start, first, mean["holdout"])

    def __call__(self, mask) -> tuple[float, dict]:
        return self.score(mask, with_test=self.protocol == "paper").result(self.protocol)

    def evaluate_many(self, masks: list, on_result=None):
        """``(fitness, info)`` of each mask, computed here one after the other as they are consumed.

        Results come in order, so there is nothing to journal: ``on_result`` is not used.
        """
        return (self(mask) for mask in masks)
