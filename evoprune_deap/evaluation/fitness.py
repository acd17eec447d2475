"""Mask -> fitness: retrain the pruned head from scratch and score it.

A mask enters as bits, becomes :class:`~evoprune_deap.head.masks.HeadMasks`
once (checked by its :class:`~evoprune_deap.head.encodings.Encoding`), and
leaves as a :class:`HeadScore`, with the trained weights. Fitness is
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
from dataclasses import dataclass, field, replace
from typing import Iterator, Protocol, runtime_checkable

import numpy as np

from ..config import FitnessConfig, HeadConfig
from ..data.features import FeatureSet
from ..head.encodings import Encoding
from ..head.forward import accuracy, head_logits
from ..head.ood import confidence, ood_auroc
from ..head.trainer import HeadTrainer
from ..search.bits import mask_key
from ..search.evaluator import BatchFitness
from ..search.objectives import EMPTY_MASK
from ..seeding import derive_seed

REEVALUATION = "reevaluate"
"""The purpose in the seeds of the final re-evaluation (:meth:`MaskFitness.reseeded`)."""


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
    spread: float | None = None  # standard deviation of the validation accuracy over repeats or folds
    where: dict | None = field(default=None, compare=False)  # worker, pid, started, ended (finished.csv)

    @property
    def weights(self):
        """The trained weights of fold 0's head (None for an empty mask)."""
        return self.fold_weights[0] if self.fold_weights else None

    def result(self, protocol: str) -> tuple[float, dict, tuple]:
        """``(fitness, info, fold weights)`` for the GA: validation accuracy (and OOD AUROC), or test
        under the paper protocol."""
        paper = protocol == "paper"
        fitness = self.test_accuracy if paper else self.val_accuracy
        info = {"val_accuracy": self.val_accuracy, "epochs": self.epochs, "seconds": self.seconds}
        auroc = self.test_ood_auroc if paper else self.ood_auroc
        if auroc is not None:
            info["ood_auroc"] = auroc
        if self.spread is not None:
            info["spread"] = self.spread
        return fitness, {**info, **(self.where or {})}, self.fold_weights


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
        ood = self.feature_set.ood
        val_parts = ("val", "ood_val") if ood is not None else ("val",)
        test_parts = (("test", "holdout") + (("ood_test",) if ood is not None else ())) if with_test else ()
        scores = {i: {part: [] for part in val_parts + test_parts} for i in live}
        epochs, weights = dict.fromkeys(live, 0), {i: [] for i in live}
        for fold in range(len(self.feature_set.splits)):
            arrays = self.feature_set.arrays(fold)
            if fold_weights is None:  # the refit of cross-validation (part -1) only where test is scored
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
            else:
                trained = [
                    (i, t, fold_weights[i][fold], 0) for t in self.trainings(fold) if t.deployed for i in live
                ]
            for i, training, head_weights, n_epochs in trained:
                epochs[i] += n_epochs
                logits = _Logits(head_weights, head_masks[i])
                if training.val[1].size:  # with fold_weights: the deployed heads' validation split
                    scores[i]["val"].append(accuracy(logits(training.val[0], "val"), training.val[1]))
                    if ood is not None:
                        scores[i]["ood_val"].append(
                            ood_auroc(
                                self._confidence(logits(training.val[0], "val")),
                                self._confidence(logits(ood["val"], "ood_val")),
                            )
                        )
                if training.deployed:
                    weights[i].append(head_weights)
                    for part in test_parts:
                        if part == "ood_test":
                            scores[i][part].append(
                                ood_auroc(
                                    self._confidence(logits(arrays["test"][0], "test")),
                                    self._confidence(logits(ood["test"], part)),
                                )
                            )
                        elif arrays[part][0].shape[0]:
                            scores[i][part].append(accuracy(logits(arrays[part][0], part), arrays[part][1]))
        seconds = (time.perf_counter() - start) / max(len(masks), 1)
        held_out = with_test and self.feature_set.splits[0].holdout.size > 0
        results = []
        for i in range(len(masks)):
            if i not in scores:  # an empty mask: no head to train (search.objectives.EMPTY_MASK)
                worst, auroc = EMPTY_MASK["accuracy"], EMPTY_MASK["ood"] if ood is not None else None
                results.append(
                    HeadScore(
                        worst,
                        worst if with_test else None,
                        0,
                        seconds,
                        holdout_accuracy=worst if held_out else None,
                        ood_auroc=auroc,
                        test_ood_auroc=auroc if with_test else None,
                        spread=0.0 if self.has_spread else None,
                    )
                )
                continue
            mean = {part: float(np.mean(values)) if values else None for part, values in scores[i].items()}
            spread = (
                float(np.std(scores[i]["val"], ddof=1))
                if self.has_spread and len(scores[i]["val"]) > 1
                else (0.0 if self.has_spread else None)
            )
            results.append(
                HeadScore(
                    float("nan") if mean["val"] is None else mean["val"],
                    mean.get("test"),
                    epochs[i],
                    seconds,
                    tuple(weights[i]),
                    mean.get("holdout"),
                    mean.get("ood_val"),
                    mean.get("ood_test"),
                    spread,
                )
            )
        where = {**where_this_runs(), "started": started, "ended": time.time()}
        return [replace(result, where=where) for result in results]

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


class _Logits:
    """One head's logits of each scored set, computed once (the one forward pass)."""

    def __init__(self, weights, masks):
        self.weights, self.masks, self.cache = weights, masks, {}

    def __call__(self, x: np.ndarray, key: str) -> np.ndarray:
        if key not in self.cache:
            self.cache[key] = head_logits(self.weights, self.masks, x)
        return self.cache[key]


def _by_training_set(trainings: list, live: list) -> list[list]:
    """(mask index, training) jobs grouped by training set, so that repeats on one set train together."""
    groups: dict[int, list] = {}
    for training in trainings:
        groups.setdefault(id(training.train[0]), []).extend((i, training) for i in live)
    return [jobs for jobs in groups.values() if jobs]
