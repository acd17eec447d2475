"""Mask -> fitness: retrain the pruned head from scratch and score it.

A mask enters as bits, becomes :class:`~evoprune_deap.head.masks.HeadMasks`
once (checked by its :class:`~evoprune_deap.head.masks.Encoding`), and
leaves as a :class:`~evoprune_deap.head.scoring.HeadScore`, with the
trained weights (:meth:`MaskFitness.score_many`: its training step here, its
scoring steps in :mod:`~evoprune_deap.head.scoring`). Fitness is
deterministic: the training seed of a mask derives from (run seed, mask bits,
fold) (:meth:`MaskFitness.training_seed`), so the same mask scores the same
in any order or worker, and memoising by bitstring is sound.

:class:`Fitness` is the one evaluation seam: ``score_many(masks)`` and
``evaluate_many(masks, on_result)``, met by :class:`MaskFitness` (here) and
:class:`~evoprune_deap.evaluation.cluster.ClusterFitness` (Dask workers). The
Evaluator's batch is the unit of work; it is split into tasks of
``heads_per_task`` masks (one on a CPU, so each result is journaled as it
finishes; many where heads train together).
"""

from __future__ import annotations

import copy
import os
import time
from dataclasses import dataclass, replace
from typing import Iterator, Protocol, runtime_checkable

import numpy as np

from ..config import FitnessConfig, HeadConfig
from ..data.features import FeatureSet
from ..head.masks import Encoding
from ..head.ood import confidence
from ..head.scoring import HeadScore, Scoring
from ..head.trainer import HeadTrainer
from ..search.bits import mask_key
from ..search.evaluator import BatchFitness
from ..search.objectives import EMPTY_MASK
from ..seeding import derive_seed

REEVALUATION = "reevaluate"
"""The purpose in the seeds of the final re-evaluation (:meth:`MaskFitness.reseeded`)."""


def where_this_runs() -> dict:
    """The worker's address (``local`` outside a Dask worker) and this process id."""
    try:
        from distributed import get_worker

        worker = get_worker().address
    except (ImportError, ValueError):  # not on a Dask worker
        worker = "local"
    return {"worker": worker, "pid": os.getpid()}


def chunks(masks: list, size: int) -> list[list]:
    """Consecutive groups of at most ``size`` masks."""
    return [masks[i : i + size] for i in range(0, len(masks), max(1, size))]


@runtime_checkable
class Fitness(BatchFitness, Protocol):
    """What the run needs of a fitness, here or on a cluster: a protocol, with no code of its own.

    :class:`MaskFitness` (this process) and
    :class:`~evoprune_deap.evaluation.cluster.ClusterFitness` (Dask) meet it;
    :class:`SingleMask` gives both the one-mask forms of :meth:`score_many`.

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
        computed (the journal of finished work; on a cluster, in any order),
        and ``on_result(mask, exception)`` for a mask whose scoring failed.
        """

    def rescore_many(self, masks: list, repeats: int) -> Iterator[list[HeadScore]]:
        """The final re-evaluation: for each mask, in order, ``repeats`` scores from fresh seeds.

        Fresh score ``r`` is the mask's fitness (same protocol, repeats and
        folds) with the seeds of :meth:`MaskFitness.reseeded` ``(r)``, never a
        seed the search trained from; test figures come with it under the
        paper protocol (its fitness).
        """

    def local(self) -> "MaskFitness":
        """The same fitness in this process (to score trained weights without a cluster)."""

    def score(self, mask, with_test: bool = False) -> HeadScore:
        """:meth:`score_many` of one mask."""


class SingleMask:
    """The one-mask forms of a :class:`Fitness`'s ``score_many`` (a mixin of both fitnesses)."""

    def score(self, mask, with_test: bool = False) -> HeadScore:
        """:meth:`score_many` of one mask."""
        return self.score_many([mask], with_test)[0]

    def __call__(self, mask) -> tuple[float, dict]:
        """``(fitness, info)`` of one mask: the plain fitness callable of the GA."""
        result = self.score(mask, with_test=self.protocol == "paper").result(self.protocol)
        return result[:2] if isinstance(result, tuple) else result


@dataclass(frozen=True)
class Training:
    """One training a mask's fitness takes: on which data, from which seed repeat.

    ``fold`` is the dataset's split, ``part`` the cross-validation part (0
    without ``folds``), ``repeat`` the seed repeat; ``train`` and ``val`` are
    (x, y) pairs. ``deployed`` marks the training whose head is the mask's
    head: scored on test and hold-out, saved, shipped.
    """

    fold: int
    part: int
    repeat: int
    train: tuple
    val: tuple
    deployed: bool


class MaskFitness(SingleMask):
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
    fitness_config : FitnessConfig
        ``seeds``: ``per-mask`` (each mask's seed from the run seed and its
        bits) or ``common`` (one seed for every mask: common random numbers);
        ``repeats``: trainings per mask from derived seeds; ``folds``:
        stratified k-fold cross-validation inside train + validation, drawn
        from ``split_seed``. The fitness is the mean validation accuracy over
        the trainings; ``spread`` their standard deviation. The deployed head
        (test, hold-out, ``best_head.keras``) is repeat 0's head, trained on
        the training split; with ``folds``, one more training of repeat 0's
        seed on all of train + validation.
    split_seed : int
        Draws the cross-validation parts.
    """

    def __init__(
        self,
        feature_set: FeatureSet,
        encoding: Encoding,
        head_config: HeadConfig,
        protocol: str,
        seed: int,
        ood_score: str = "msp",
        ood_temperature: float = 1000.0,
        fitness_config: FitnessConfig | None = None,
        split_seed: int = 0,
    ):
        self.feature_set = feature_set
        self.encoding = encoding
        self.protocol = protocol
        self.seed = seed
        self.ood_score, self.ood_temperature = ood_score, ood_temperature
        self.config = fitness_config or FitnessConfig()
        self.split_seed = split_seed
        self.trainer = HeadTrainer(feature_set.n_features, feature_set.n_classes, head_config)
        self.heads_per_task = self.trainer.heads_per_program
        self._trainings: dict[int, list[Training]] = {}
        self.seed_stream: tuple = ()  # the search's seeds; reseeded(r): the final re-evaluation's

    def reseeded(self, repeat: int) -> "MaskFitness":
        """This fitness (sharing its trainer) with the seeds of final re-evaluation ``repeat``: each
        derives from (run seed, :data:`REEVALUATION`, ``repeat``, then the search's own rule), so no
        fresh seed is one the search used."""
        fresh = copy.copy(self)
        fresh.seed_stream = (REEVALUATION, repeat)
        return fresh

    def rescore_many(self, masks: list, repeats: int) -> Iterator[list[HeadScore]]:
        """:meth:`Fitness.rescore_many`, computed here as the results are consumed."""
        with_test = self.protocol == "paper"
        for mask in masks:
            yield [self.reseeded(r).score_many([mask], with_test)[0] for r in range(repeats)]

    def local(self) -> "MaskFitness":
        return self

    @property
    def has_spread(self) -> bool:
        """The fitness averages several trainings (``repeats`` or ``folds``), so it has a spread."""
        return self.config.repeats > 1 or self.config.folds > 1

    def training_seed(self, mask, fold: int, repeat: int = 0) -> int:
        """The seed a mask's head trains from on ``fold`` (repeat ``repeat``).

        ``per-mask``: from (run seed, mask bits, fold); ``common``: from (run
        seed, fold) alone, so every mask starts from the same full-width
        initial draw (sliced to its units) and sees the same epoch shuffles.
        Repeat 0 is the seed of a single training. A :meth:`reseeded` fitness
        puts its stream first (with ``common``, the fresh seeds of one
        re-evaluation repeat are still shared by every mask).
        """
        key = ("common",) if self.config.seeds == "common" else ("mask", mask_key(mask))
        return derive_seed(self.seed, *self.seed_stream, *key, fold, *((repeat,) if repeat else ()))

    def trainings(self, fold: int) -> list[Training]:
        """The trainings of a mask's fitness on dataset split ``fold`` (the same for every mask)."""
        if fold not in self._trainings:
            arrays = self.feature_set.arrays(fold)
            repeats = range(self.config.repeats)
            if self.config.folds == 1:
                found = [Training(fold, 0, r, arrays["train"], arrays["val"], r == 0) for r in repeats]
            else:
                from sklearn.model_selection import StratifiedKFold

                x = np.concatenate([arrays["train"][0], arrays["val"][0]])
                y = np.concatenate([arrays["train"][1], arrays["val"][1]])
                parts = StratifiedKFold(
                    self.config.folds, shuffle=True, random_state=derive_seed(self.split_seed, "cv", fold)
                ).split(x, y)
                found = [
                    Training(fold, part, r, (x[fit], y[fit]), (x[held], y[held]), False)
                    for part, (fit, held) in enumerate(parts)
                    for r in repeats
                ]
                found.append(Training(fold, -1, 0, (x, y), (x[:0], y[:0]), True))
            self._trainings[fold] = found
        return self._trainings[fold]

    def score_many(
        self, masks: list, with_test: bool = False, fold_weights: list | None = None
    ) -> list[HeadScore]:
        """:meth:`Fitness.score_many`; heads train as the trainer groups them (never changing a result).

        With the test score comes the hold-out score, where the features hold
        data out (:meth:`~evoprune_deap.data.features.FeatureSet.with_holdout`).
        ``fold_weights`` (one entry per mask: its deployed heads' weights per
        fold, as an earlier score returned them) scores those heads on test
        without training (``epochs`` is then 0; single-training fitness only).
        ``seconds`` of each score is its share of the time the masks took.
        """
        start, started = time.perf_counter(), time.time()
        head_masks = [self.encoding.head_masks(mask) for mask in masks]
        live = [i for i, m in enumerate(head_masks) if not m.is_empty()]
        scoring = Scoring(self.feature_set, self._confidence, with_test, self.has_spread)
        figures = {i: scoring.figures() for i in live}
        for fold in range(len(self.feature_set.splits)):
            arrays = self.feature_set.arrays(fold)
            for i, training, weights, epochs in self._trained(
                masks, head_masks, live, fold, with_test, fold_weights
            ):
                scoring.add(figures[i], training, weights, head_masks[i], epochs, arrays)
        seconds = (time.perf_counter() - start) / max(len(masks), 1)
        results = [
            scoring.score(figures[i], seconds) if i in figures else scoring.empty(seconds, EMPTY_MASK)
            for i in range(len(masks))
        ]
        where = {**where_this_runs(), "started": started, "ended": time.time()}
        return [replace(result, where=where) for result in results]

    def _trained(self, masks, head_masks, live, fold, with_test, fold_weights) -> list[tuple]:
        """The training step: ``(mask index, training, weights, epochs)`` of each live mask's heads on
        dataset split ``fold``, trained as the trainer groups them, or the given ``fold_weights``."""
        if fold_weights is not None:
            return [
                (i, t, fold_weights[i][fold], 0) for t in self.trainings(fold) if t.deployed for i in live
            ]
        # the refit of cross-validation (part -1) only where test is scored
        trainings = [t for t in self.trainings(fold) if t.part >= 0 or with_test]
        trained = []
        for jobs in _by_training_set(trainings, live):
            x, y = jobs[0][1].train
            heads = self.trainer.train_many(
                [head_masks[i] for i, _ in jobs],
                x,
                y,
                [self.training_seed(masks[i], fold, t.repeat) for i, t in jobs],
            )
            trained += [(i, t, head.weights, head.epochs) for (i, t), head in zip(jobs, heads)]
        return trained

    def _confidence(self, logits: np.ndarray) -> np.ndarray:
        return confidence(logits, self.ood_score, self.ood_temperature)

    def evaluate_many(self, masks: list, on_result=None) -> Iterator[tuple]:
        """:meth:`Fitness.evaluate_many`, computed here as the results are consumed,
        ``heads_per_task`` at a time."""
        for chunk in chunks(masks, self.heads_per_task):
            try:
                scores = self.score_many(chunk, with_test=self.protocol == "paper")
            except Exception as exc:  # journaled as failed, then raised
                for mask in chunk:
                    if on_result is not None:
                        on_result(mask, exc)
                raise
            for mask, score in zip(chunk, scores):
                result = score.result(self.protocol)
                if on_result is not None:
                    on_result(mask, result)
                yield result


def _by_training_set(trainings: list, live: list) -> list[list]:
    """(mask index, training) jobs grouped by training set, so that repeats on one set train together."""
    groups: dict[int, list] = {}
    for training in trainings:
        groups.setdefault(id(training.train[0]), []).extend((i, training) for i in live)
    return [jobs for jobs in groups.values() if jobs]
