"""Mask -> fitness: retrain the pruned head from scratch and score it.

A mask enters as bits, becomes :class:`~evoprune_deap.head.masks.HeadMasks`
once (checked by its :class:`~evoprune_deap.search.encodings.Encoding`), and
leaves as a :class:`HeadScore`, with the trained weights. Fitness is
deterministic: the training seed of a mask derives from (run seed, mask bits,
fold) (:meth:`MaskFitness.training_seed`), so the same mask scores the same
in any order or worker, and memoising by bitstring is sound.

:class:`Fitness` is the one evaluation seam: ``score_many(masks)`` and
``evaluate_many(masks, on_result)``, met by :class:`MaskFitness` (here) and
:class:`~evoprune_deap.run.cluster.ClusterFitness` (Dask workers). The
Evaluator's batch is the unit of work; it is split into tasks of
``heads_per_task`` masks (one on a CPU, so each result is journaled as it
finishes; many where heads train together).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator, Protocol

import numpy as np

from ..config import HeadConfig
from ..data.features import FeatureSet
from ..head.forward import accuracy, head_logits
from ..head.ood import confidence, ood_auroc
from ..head.trainer import HeadTrainer
from ..search.bits import mask_key
from ..search.encodings import Encoding
from ..search.objectives import EMPTY_MASK
from ..seeding import derive_seed


@dataclass(frozen=True)
class HeadScore:
    """Accuracies of one mask's head (mean over folds where there are several).

    ``fold_weights`` are the trained weights of the head of each fold (empty
    for an empty mask): plain arrays, so a score computed on a worker travels
    back whole; :func:`~evoprune_deap.head.stack.deployable_head` makes the
    Keras head from them.
    """

    val_accuracy: float
    test_accuracy: float | None
    epochs: int
    seconds: float
    fold_weights: tuple = ()
    holdout_accuracy: float | None = None  # with the test score, where the features hold out data
    ood_auroc: float | None = None  # validation vs OOD validation images, where the features have OOD images
    test_ood_auroc: float | None = None  # test vs OOD test images, with the test score

    @property
    def weights(self):
        """The trained weights of fold 0's head (None for an empty mask)."""
        return self.fold_weights[0] if self.fold_weights else None

    def result(self, protocol: str) -> tuple[float, dict, tuple]:
        """``(fitness, info, fold weights)`` for the GA: validation accuracy (and OOD AUROC), or test under the paper protocol."""
        paper = protocol == "paper"
        fitness = self.test_accuracy if paper else self.val_accuracy
        info = {"val_accuracy": self.val_accuracy, "epochs": self.epochs, "seconds": self.seconds}
        auroc = self.test_ood_auroc if paper else self.ood_auroc
        return fitness, info if auroc is None else {**info, "ood_auroc": auroc}, self.fold_weights


def chunks(masks: list, size: int) -> list[list]:
    """Consecutive groups of at most ``size`` masks."""
    return [masks[i:i + size] for i in range(0, len(masks), max(1, size))]


class Fitness(Protocol):
    """What the run needs of a fitness, here or on a cluster.

    Attributes: ``feature_set``, ``encoding``, ``protocol`` and
    ``heads_per_task`` (how many masks one unit of work trains).
    """

    feature_set: FeatureSet
    encoding: Encoding
    protocol: str
    heads_per_task: int

    def score_many(self, masks: list, with_test: bool = False) -> list[HeadScore]:
        """Train and score the head of each mask (with test and hold-out figures when ``with_test``)."""

    def evaluate_many(self, masks: list, on_result=None) -> Iterator[tuple]:
        """The GA's results ``(fitness, info, fold weights)`` of each mask, in order.

        ``on_result(mask, result)``, if given, is called as each result is
        computed (the journal of finished work; on a cluster, in any order).
        """

    def local(self) -> "MaskFitness":
        """The same fitness in this process (to score trained weights without a cluster)."""

    def score(self, mask, with_test: bool = False) -> HeadScore:
        """:meth:`score_many` of one mask."""
        return self.score_many([mask], with_test)[0]

    def __call__(self, mask) -> tuple[float, dict]:
        """``(fitness, info)`` of one mask: the plain fitness callable of the GA."""
        return self.score(mask, with_test=self.protocol == "paper").result(self.protocol)[:2]


class MaskFitness(Fitness):
    """The fitness of masks, trained in this process.

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
    ood_score : {"msp", "energy"}
    ood_temperature : float
        How each head's OOD AUROC is scored, where the features carry OOD
        images (see :mod:`evoprune_deap.head.ood`).
    """

    def __init__(self, feature_set: FeatureSet, encoding: Encoding, head_config: HeadConfig,
                 protocol: str, seed: int, ood_score: str = "msp", ood_temperature: float = 1000.0):
        self.feature_set = feature_set
        self.encoding = encoding
        self.protocol = protocol
        self.seed = seed
        self.ood_score, self.ood_temperature = ood_score, ood_temperature
        self.trainer = HeadTrainer(feature_set.n_features, feature_set.n_classes, head_config)
        self.heads_per_task = self.trainer.heads_per_program

    def local(self) -> "MaskFitness":
        return self

    def training_seed(self, mask, fold: int) -> int:
        """The seed a mask's head trains from on ``fold``: from (run seed, mask bits, fold)."""
        return derive_seed(self.seed, "mask", mask_key(mask), fold)

    def score_many(self, masks: list, with_test: bool = False, fold_weights: list | None = None) -> list[HeadScore]:
        """:meth:`Fitness.score_many`; heads train as the trainer groups them (never changing a result).

        With the test score comes the hold-out score, where the features hold
        data out (:meth:`~evoprune_deap.data.features.FeatureSet.with_holdout`).
        ``fold_weights`` (one entry per mask: its heads' weights per fold, as
        an earlier score returned them) scores those heads without training
        (``epochs`` is then 0). ``seconds`` of each score is its share of the
        time the masks took.
        """
        start = time.perf_counter()
        head_masks = [self.encoding.head_masks(mask) for mask in masks]
        live = [i for i, m in enumerate(head_masks) if not m.is_empty()]
        parts = ("val", "test", "holdout") if with_test else ("val",)
        ood = self.feature_set.ood
        if ood is not None:
            parts += ("ood_val", "ood_test") if with_test else ("ood_val",)
        scores = {i: {part: [] for part in parts} for i in live}
        epochs, weights = dict.fromkeys(live, 0), {i: [] for i in live}
        for fold in range(len(self.feature_set.splits)):
            arrays = self.feature_set.arrays(fold)
            if fold_weights is None:
                heads = self.trainer.train_many([head_masks[i] for i in live], *arrays["train"],
                                                [self.training_seed(masks[i], fold) for i in live])
                trained = [(head.weights, head.epochs) for head in heads]
            else:
                trained = [(fold_weights[i][fold], 0) for i in live]
            for i, (head_weights, n_epochs) in zip(live, trained):
                weights[i].append(head_weights)
                epochs[i] += n_epochs
                logits = {}

                def logits_of(x, key):
                    if key not in logits:
                        logits[key] = head_logits(head_weights, head_masks[i], x)
                    return logits[key]

                for part in parts:
                    if part.startswith("ood_"):
                        inside = logits_of(arrays[part[4:]][0], part[4:])
                        outside = logits_of(ood[part[4:]], part)
                        scores[i][part].append(ood_auroc(self._confidence(inside), self._confidence(outside)))
                    elif arrays[part][0].shape[0]:
                        scores[i][part].append(accuracy(logits_of(arrays[part][0], part), arrays[part][1]))
        seconds = (time.perf_counter() - start) / max(len(masks), 1)
        held_out = with_test and self.feature_set.splits[0].holdout.size > 0
        results = []
        for i in range(len(masks)):
            if i not in scores:  # an empty mask: no head to train (search.objectives.EMPTY_MASK)
                worst, auroc = EMPTY_MASK["accuracy"], EMPTY_MASK["ood"] if ood is not None else None
                results.append(HeadScore(worst, worst if with_test else None, 0, seconds,
                                         holdout_accuracy=worst if held_out else None,
                                         ood_auroc=auroc, test_ood_auroc=auroc if with_test else None))
                continue
            mean = {part: float(np.mean(values)) if values else None for part, values in scores[i].items()}
            results.append(HeadScore(float("nan") if mean["val"] is None else mean["val"], mean.get("test"),
                                     epochs[i], seconds, tuple(weights[i]), mean.get("holdout"), mean.get("ood_val"),
                                     mean.get("ood_test")))
        return results

    def _confidence(self, logits: np.ndarray) -> np.ndarray:
        return confidence(logits, self.ood_score, self.ood_temperature)

    def evaluate_many(self, masks: list, on_result=None) -> Iterator[tuple]:
        """:meth:`Fitness.evaluate_many`, computed here as the results are consumed, ``heads_per_task`` at a time."""
        for chunk in chunks(masks, self.heads_per_task):
            for mask, score in zip(chunk, self.score_many(chunk, with_test=self.protocol == "paper")):
                result = score.result(self.protocol)
                if on_result is not None:
                    on_result(mask, result)
                yield result
