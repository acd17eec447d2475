"""What the GA optimises: one fitness (the paper's GA) or a Pareto front of objectives (NSGA-II).

An :class:`Objectives` turns what the fitness callable returned for a mask
(``fitness, info``) into the values DEAP compares, names the individual class
that carries them, and writes the Logbook record of each evaluation. The
evaluator memoises these values, so a repeated mask gets every objective back,
never a stale or missing one.

Multi-objective values, in this order (a subset of at least two):

- ``accuracy``: the fitness (validation accuracy; test under the paper protocol), maximised;
- ``active``: the fraction of active bits, minimised;
- ``ood``: the AUROC of telling validation images from out-of-distribution
  ones by the head's confidence (``info["ood_auroc"]``), maximised.

A mask with no active unit in some layer cannot be trained; it gets the worst
value of every objective (accuracy 0, active 1, AUROC 0: the death penalty of
DEAP's constraint-handling guide), so it never sits on a front.

Hypervolume (DEAP's ``benchmarks.tools.hypervolume``) is measured in the unit
cube against the fixed reference point :data:`REFERENCE` = accuracy 0, active
fraction 1, AUROC 0: for two objectives it is the area under the front of
(1 - active fraction, accuracy), at most 1, and it can be compared across runs.
"""

from __future__ import annotations

import numpy as np

from ..config import check_objectives as parse_objectives
from ..errors import ConfigError
from .individual import Individual, individual_class, sort_key

WEIGHTS = {"accuracy": 1.0, "active": -1.0, "ood": 1.0}
WORST = {"accuracy": 0.0, "active": 1.0, "ood": 0.0}
REFERENCE = WORST
"""The hypervolume reference point, per objective (see the module docstring)."""
EMPTY_MASK = WORST
"""The one empty-mask rule: a mask with no active unit in some layer disconnects the head, so it is
not trained and scores the worst value of every objective (accuracy 0, AUROC 0; active 1 in NSGA-II).
The fitness (:mod:`evoprune_deap.evaluation.fitness`) and the objectives both read it from here."""

SINGLE_HEADER = ["evaluation", "fitness", "n_active", "best", "best_active", "mean", "cache_hits"]


class SingleObjective:
    """The paper's GA: the fitness itself; higher is better, then fewer active bits."""

    names = ("fitness",)
    header = SINGLE_HEADER
    individual = Individual
    multi = False

    def values(self, fitness: float, info: dict, mask: np.ndarray) -> tuple:
        return (fitness,)

    def record(self, evaluation, scored: list, cache_hits: int) -> dict:
        """The Logbook row after ``evaluation``; ``scored``: the population's scored members, its own last."""
        best = max(scored, key=sort_key)
        return dict(
            evaluation=evaluation.index + 1,
            fitness=evaluation.fitness,
            n_active=evaluation.n_active,
            best=best.fitness.values[0],
            best_active=int(sum(best)),
            mean=float(np.mean([ind.fitness.values[0] for ind in scored])),
            cache_hits=cache_hits,
        )


class ParetoObjectives:
    """Several objectives (see the module docstring) for NSGA-II.

    ``is_empty(mask)`` tells a mask whose head cannot be trained (default:
    no bit set; runs pass their encoding's rule, which also catches a ``both``
    mask with one layer all off).
    """

    multi = True

    def __init__(self, names, is_empty=None):
        self.is_empty = is_empty or (lambda mask: not np.any(mask))
        self.names = parse_objectives(names)
        self.weights = tuple(WEIGHTS[name] for name in self.names)
        self.individual = individual_class(self.weights)
        self.reference = tuple(REFERENCE[name] for name in self.names)
        self.header = ["evaluation", *self.names, "n_active", "hypervolume", "front_size", "cache_hits"]
        self.archive: list = []  # the non-dominated set of every mask evaluated so far

    def values(self, fitness: float, info: dict, mask: np.ndarray) -> tuple:
        if self.is_empty(mask):
            return tuple(WORST[name] for name in self.names)
        found = {"accuracy": fitness, "active": float(np.mean(mask)), "ood": info.get("ood_auroc")}
        if found.get("ood") is None and "ood" in self.names:
            raise ConfigError(
                "The objective 'ood' needs out-of-distribution images: pass --ood-images DIR, "
                "--ood-dataset NAME or --ood-features FILE.npz."
            )
        return tuple(float(found[name]) for name in self.names)

    def front(self, individuals: list) -> list:
        """The non-dominated members (DEAP's non-dominated sort, first front), in their order."""
        return first_front(individuals)

    def hypervolume(self, individuals: list) -> float:
        """Hypervolume of the non-dominated members against :data:`REFERENCE`."""
        return hypervolume(self.front(individuals), self.reference, self.weights)

    def record(self, evaluation, scored: list, cache_hits: int) -> dict:
        """The Logbook row after ``evaluation`` (``scored[-1]`` is its individual).

        ``hypervolume`` and ``front_size`` are those of the non-dominated set
        of every mask evaluated so far, which never shrinks, so the curve
        shows the search's progress whatever NSGA-II's survival drops.
        """
        self.archive = first_front(self.archive + [scored[-1]])
        return dict(
            evaluation=evaluation.index + 1,
            **dict(zip(self.names, evaluation.values)),
            n_active=evaluation.n_active,
            hypervolume=hypervolume(self.archive, self.reference, self.weights),
            front_size=len(self.archive),
            cache_hits=cache_hits,
        )


def make_objectives(names, is_empty=None) -> SingleObjective | ParetoObjectives:
    """:class:`SingleObjective` for None, else :class:`ParetoObjectives`."""
    return SingleObjective() if parse_objectives(names) is None else ParetoObjectives(names, is_empty)


def first_front(individuals: list) -> list:
    """The individuals no other dominates (DEAP's ``sortNondominated``), in their input order."""
    from deap import tools

    if not individuals:
        return []
    front = {
        id(ind) for ind in tools.sortNondominated(individuals, len(individuals), first_front_only=True)[0]
    }
    return [ind for ind in individuals if id(ind) in front]


def hypervolume(front: list, reference: tuple, weights: tuple) -> float:
    """DEAP's hypervolume of ``front`` (individuals) against ``reference`` (objective values).

    Points that do not strictly improve on the reference in every objective
    add no volume and are left out (the empty set has volume 0).
    """
    from deap.benchmarks.tools import hypervolume as deap_hypervolume

    weights = np.asarray(weights)
    limit = -np.asarray(reference) * weights  # DEAP minimises -wvalues
    inside = [ind for ind in front if np.all(-np.asarray(ind.fitness.wvalues) < limit)]
    return float(deap_hypervolume(inside, ref=limit)) if inside else 0.0
