"""The scoring steps of a mask's fitness: its trained heads' figures, gathered into a :class:`HeadScore`.

:meth:`~evoprune_deap.evaluation.fitness.MaskFitness.score_many` trains the
heads (its training step); :class:`Scoring` scores each one as it comes:
validation accuracy (and OOD AUROC, where the features carry OOD images) of
every training, test, hold-out (and test OOD AUROC) of the deployed head, then
the mean over trainings, or the empty mask's fixed score. Logits come from the
one forward pass (:func:`~evoprune_deap.head.forward.head_logits`), once per
head and scored set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..data.features import FeatureSet
from .forward import accuracy, head_logits
from .ood import ood_auroc


@dataclass(frozen=True)
class HeadScore:
    """Accuracies of one mask's head (mean over folds where there are several).

    ``fold_weights`` are the trained weights of the head of each fold (empty
    for an empty mask): plain arrays, so a score computed on a worker travels
    back whole; :func:`~evoprune_deap.head.models.stack.deployable_head` makes the
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


class MaskFigures:
    """One mask's figures so far: each scored set's values (one per training), epochs, deployed weights."""

    def __init__(self, parts: tuple):
        self.values: dict[str, list] = {part: [] for part in parts}
        self.epochs = 0
        self.weights: list = []


class Scoring:
    """The scoring steps of one ``score_many`` call.

    ``confidence(logits)`` is the fitness's OOD score (MSP or energy);
    ``with_test`` adds test and hold-out figures (and test OOD AUROC);
    ``has_spread`` gives each score the standard deviation of its
    validation accuracies.
    """

    def __init__(self, feature_set: FeatureSet, confidence: Callable, with_test: bool, has_spread: bool):
        self.ood = feature_set.ood
        self.confidence, self.with_test, self.has_spread = confidence, with_test, has_spread
        self.val_parts = ("val", "ood_val") if self.ood is not None else ("val",)
        self.test_parts = (
            (("test", "holdout") + (("ood_test",) if self.ood is not None else ())) if with_test else ()
        )
        self.held_out = with_test and feature_set.splits[0].holdout.size > 0

    def figures(self) -> MaskFigures:
        """An empty record of one mask's figures."""
        return MaskFigures(self.val_parts + self.test_parts)

    def add(self, figures: MaskFigures, training, weights, masks, epochs: int, arrays: dict) -> None:
        """Score one trained head: validation (and OOD) on its training's validation split, where it has
        one; test, hold-out (and test OOD) on the split's ``arrays`` where it is the deployed head."""
        figures.epochs += epochs
        logits = _Logits(weights, masks)
        if training.val[1].size:  # with fold_weights: the deployed heads' validation split
            self._validation(figures.values, training.val, logits)
        if training.deployed:
            figures.weights.append(weights)
            self._test(figures.values, arrays, logits)

    def _validation(self, values: dict, val: tuple, logits: "_Logits") -> None:
        values["val"].append(accuracy(logits(val[0], "val"), val[1]))
        if self.ood is not None:
            values["ood_val"].append(self._auroc(logits(val[0], "val"), logits(self.ood["val"], "ood_val")))

    def _test(self, values: dict, arrays: dict, logits: "_Logits") -> None:
        for part in self.test_parts:
            if part == "ood_test":
                values[part].append(
                    self._auroc(logits(arrays["test"][0], "test"), logits(self.ood["test"], part))
                )
            elif arrays[part][0].shape[0]:
                values[part].append(accuracy(logits(arrays[part][0], part), arrays[part][1]))

    def _auroc(self, in_logits: np.ndarray, out_logits: np.ndarray) -> float:
        return ood_auroc(self.confidence(in_logits), self.confidence(out_logits))

    def score(self, figures: MaskFigures, seconds: float) -> HeadScore:
        """The mean of each scored set over the trainings (None where nothing was scored)."""
        mean = {part: float(np.mean(values)) if values else None for part, values in figures.values.items()}
        val = figures.values["val"]
        spread = (
            float(np.std(val, ddof=1))
            if self.has_spread and len(val) > 1
            else (0.0 if self.has_spread else None)
        )
        return HeadScore(
            float("nan") if mean["val"] is None else mean["val"],
            mean.get("test"),
            figures.epochs,
            seconds,
            tuple(figures.weights),
            mean.get("holdout"),
            mean.get("ood_val"),
            mean.get("ood_test"),
            spread,
        )

    def empty(self, seconds: float, rule: dict) -> HeadScore:
        """An empty mask's score: no head to train; its figures are ``rule``'s (the fitness passes
        :data:`~evoprune_deap.search.objectives.EMPTY_MASK`, the one empty-mask rule)."""
        worst, auroc = rule["accuracy"], rule["ood"] if self.ood is not None else None
        return HeadScore(
            worst,
            worst if self.with_test else None,
            0,
            seconds,
            holdout_accuracy=worst if self.held_out else None,
            ood_auroc=auroc,
            test_ood_auroc=auroc if self.with_test else None,
            spread=0.0 if self.has_spread else None,
        )


class _Logits:
    """One head's logits of each scored set, computed once (the one forward pass)."""

    def __init__(self, weights, masks):
        self.weights, self.masks, self.cache = weights, masks, {}

    def __call__(self, x: np.ndarray, key: str) -> np.ndarray:
        if key not in self.cache:
            self.cache[key] = head_logits(self.weights, self.masks, x)
        return self.cache[key]
