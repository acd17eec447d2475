"""Synthetic pieces for the scale benchmarks: a bitstring landscape with a known optimum, and a
cost model of head training fitted to a real run's ``evaluations.csv``."""

from __future__ import annotations

import hashlib
import time

import numpy as np
import pandas as pd


class Landscape:
    """Fitness ``0.5 + mask . u / (4 * sum|u|)`` over ``n_bits`` units with seeded utilities ``u``.

    Like a pruned head, some units help and some hurt, and the effect of a
    unit does not depend on the others; the optimum (every unit with u > 0)
    is known, so a run's best can be given as a share of it.
    """

    def __init__(self, n_bits: int = 512, seed: int = 0):
        self.utilities = np.random.default_rng(seed).normal(size=n_bits)
        self.scale = 4 * np.abs(self.utilities).sum()

    def __call__(self, mask) -> float:
        return float(0.5 + np.asarray(mask, dtype=float) @ self.utilities / self.scale)

    @property
    def optimum(self) -> float:
        return self(self.utilities > 0)


class CostModel:
    """Seconds to train a head: ``a + b * n_active``, fitted by least squares to a real run,
    times a per-mask factor drawn from the fit's relative residuals (so the same mask always costs
    the same)."""

    def __init__(self, evaluations_csv: str):
        table = pd.read_csv(evaluations_csv)
        self.slope, self.intercept = np.polyfit(table["n_active"], table["seconds"], 1)
        fitted = self.intercept + self.slope * table["n_active"]
        self.relative_residuals = (table["seconds"] / fitted).to_numpy()
        self.source = evaluations_csv

    def seconds(self, mask) -> float:
        mask = np.asarray(mask, dtype=bool)
        pick = int.from_bytes(hashlib.sha256(np.packbits(mask).tobytes()).digest()[:4], "little")
        factor = self.relative_residuals[pick % len(self.relative_residuals)]
        return max(0.0, (self.intercept + self.slope * mask.sum()) * factor)

    def describe(self) -> str:
        return (
            f"seconds = {self.intercept:.3f} + {self.slope:.5f} x n_active, times a residual factor "
            f"(fitted to {self.source})"
        )


class SleepingFitness:
    """``mask -> landscape(mask)`` after sleeping ``time_scale`` x the modelled training time."""

    def __init__(self, landscape: Landscape, cost: CostModel, time_scale: float):
        self.landscape, self.cost, self.time_scale = landscape, cost, time_scale

    def __call__(self, mask) -> float:
        time.sleep(self.cost.seconds(mask) * self.time_scale)
        return self.landscape(mask)

    def score_many(self, masks, with_test=False) -> list:
        """The fitness protocol of a worker: one score per mask (its ``result`` is the landscape value)."""
        return [SleepingScore(self(mask)) for mask in masks]


class SleepingScore(float):
    def result(self, protocol) -> float:
        return float(self)


class SleepingFactory:
    """Picklable factory for ClusterFitness: the payload (features) is not needed."""

    def __init__(self, landscape: Landscape, cost: CostModel, time_scale: float):
        self.fitness = SleepingFitness(landscape, cost, time_scale)

    def __call__(self, payload):
        return self.fitness
