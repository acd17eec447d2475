"""Mask -> fitness: retrain the pruned head from scratch and score it.

A mask enters as bits, becomes :class:`~evoprune_deap.head.masks.HeadMasks`
once (checked by its :class:`~evoprune_deap.search.encodings.Encoding`), and
leaves as scores. Fitness is deterministic: the training seed of a mask
derives from (run seed, mask bits, fold), so the same mask scores the same in
any order or worker, and memoising by bitstring is sound.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import numpy as np

from ..config import HeadConfig
from ..data.features import FeatureSet
from ..head.ood import confidence, ood_auroc
from ..head.weights import HeadWeights
from ..head.training import HeadTrainer
from ..search.bits import mask_key
from ..search.encodings import Encoding
from ..seeding import derive_seed

EMPTY_MASK_FITNESS = 0.0
"""Fitness of a mask that disconnects the head (a layer with no active unit).

Such a head can only output its bias, so it is given accuracy 0 without
training: strictly worse than any trained head, never a crash."""
EMPTY_MASK_AUROC = 0.5
"""OOD AUROC of such a head: its constant output tells nothing apart (chance)."""


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
    ood_auroc: float | None = None  # validation vs OOD validation images, where the features have OOD images
    test_ood_auroc: float | None = None  # test vs OOD test images, with the test score

    def result(self, protocol: str) -> tuple[float, dict]:
        """``(fitness, info)`` for the GA: validation accuracy (and OOD AUROC), or test under the paper protocol."""
        paper = protocol == "paper"
        fitness = self.test_accuracy if paper else self.val_accuracy
        info = {"val_accuracy": self.val_accuracy, "epochs": self.epochs, "seconds": self.seconds}
        auroc = self.test_ood_auroc if paper else self.ood_auroc
        return fitness, info if auroc is None else {**info, "ood_auroc": auroc}


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
        self._queued, self._done = {}, {}  # the batched engine's masks waiting / results not yet taken
        self._tickets = itertools.count()

    def score(self, mask, with_test: bool) -> HeadScore:
        """Train the head of ``mask`` (bits) on every fold; mean validation (and test) accuracy."""
        return self.score_many([mask], with_test)[0]

    def score_many(self, masks: list, with_test: bool) -> list[HeadScore]:
        """:meth:`score` of each mask; with the ``batched`` engine their heads train together.

        With the test score comes the hold-out score, where the features hold
        data out (:meth:`~evoprune_deap.data.features.FeatureSet.with_holdout`).
        ``seconds`` of each score is its share of the time the masks took.
        """
        start = time.perf_counter()
        all_masks = [self.encoding.head_masks(mask) for mask in masks]
        live = [i for i, m in enumerate(all_masks) if not m.is_empty()]
        parts = ("val", "test", "holdout") if with_test else ("val",)
        ood = self.feature_set.ood
        if ood is not None:
            parts += ("ood_val", "ood_test") if with_test else ("ood_val",)
        scores = {i: {part: [] for part in parts} for i in live}
        epochs, first = dict.fromkeys(live, 0), {}
        for fold in range(len(self.feature_set.splits)):
            arrays = self.feature_set.arrays(fold)
            seeds = [derive_seed(self.seed, "mask", mask_key(masks[i]), fold) for i in live]
            heads = self.trainer.train_many([all_masks[i] for i in live], *arrays["train"], seeds)
            for i, head in zip(live, heads):
                first.setdefault(i, head.weights)
                epochs[i] += head.epochs
                for part in parts:
                    if part.startswith("ood_"):
                        scores[i][part].append(self._auroc(head, arrays[part[4:]][0], ood[part[4:]]))
                    elif arrays[part][0].shape[0]:
                        scores[i][part].append(head.accuracy(*arrays[part]))
        seconds = (time.perf_counter() - start) / max(len(masks), 1)
        held_out = with_test and self.feature_set.splits[0].holdout.size > 0
        results = []
        for i in range(len(masks)):
            if i not in scores:  # an empty mask: no head to train; a constant output tells nothing apart
                chance = EMPTY_MASK_AUROC if ood is not None else None
                results.append(HeadScore(EMPTY_MASK_FITNESS, EMPTY_MASK_FITNESS if with_test else None, 0, seconds,
                                         holdout_accuracy=EMPTY_MASK_FITNESS if held_out else None,
                                         ood_auroc=chance, test_ood_auroc=chance if with_test else None))
                continue
            mean = {part: float(np.mean(values)) if values else None for part, values in scores[i].items()}
            results.append(HeadScore(float("nan") if mean["val"] is None else mean["val"], mean.get("test"),
                                     epochs[i], seconds, first[i], mean.get("holdout"), mean.get("ood_val"),
                                     mean.get("ood_test")))
        return results

    def _auroc(self, head, inside: np.ndarray, outside: np.ndarray) -> float:
        """AUROC of telling ``inside`` (in-distribution features) from ``outside`` by the head's confidence."""
        def scores(x):
            return confidence(head.logits(x), self.ood_score, self.ood_temperature)

        return ood_auroc(scores(inside), scores(outside))

    def __call__(self, mask) -> tuple[float, dict]:
        return self.score(mask, with_test=self.protocol == "paper").result(self.protocol)

    def evaluate_many(self, masks: list, on_result=None):
        """``(fitness, info)`` of each mask, computed here, in order, as they are consumed.

        One by one with the ``compiled`` and ``keras-fit`` engines. With the
        ``batched`` engine, the first result asked for trains every mask
        submitted and not yet trained (the initial population; the children
        of every pair in flight) in one batch, and ``on_result(mask, result)``
        journals each as the batch ends. A mask's fitness never depends on
        its batch.
        """
        if self.trainer.engine != "batched":
            return (self(mask) for mask in masks)
        tickets = [next(self._tickets) for _ in masks]
        self._queued.update(zip(tickets, masks))
        return self._batched_results(tickets, on_result)

    def _batched_results(self, tickets: list, on_result):
        try:
            for ticket in tickets:
                if ticket not in self._done:
                    self._train_queued(on_result)
                yield self._done.pop(ticket)
        finally:  # collected, or abandoned: forget what is left
            for ticket in tickets:
                self._queued.pop(ticket, None)
                self._done.pop(ticket, None)

    def _train_queued(self, on_result) -> None:
        queued, self._queued = self._queued, {}
        scores = self.score_many(list(queued.values()), with_test=self.protocol == "paper")
        for (ticket, mask), score in zip(queued.items(), scores):
            self._done[ticket] = score.result(self.protocol)
            if on_result is not None:
                on_result(mask, self._done[ticket])
