"""The final re-evaluation, against the winner's curse (``[fitness] reevaluate = K``, ``final_repeats = R``).

The best of many noisy scores is biased upwards: the search's best mask scored
above what the same mask scores when trained again. After the search, the K
best distinct masks by logged fitness are trained R more times each, from
fresh seeds (:meth:`~evoprune_deap.evaluation.fitness.MaskFitness.reseeded`:
never a seed the search used), on the same data and protocol; the run ships the
mask of the highest mean fresh fitness (ties: fewer active bits, then the
higher logged fitness). Re-evaluating only at the final selection is the
variant of noisy optimisation that holds up as noise grows (Diaz and Handl,
Informatica 39, 2015); sklearn-genetic-opt does it since 0.13.

Each candidate's row is journaled to ``reevaluation.csv`` as it finishes, so
a resumed run trains only the candidates not yet there, and ends as an
uninterrupted one. The re-evaluations are not evaluations of the budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import RunDirectoryError
from ..records.directory import RunDirectory
from ..records.evaluation_log import read_log
from ..records.reevaluation_log import append_candidate, candidate_row, read_candidates, write_candidates
from ..search.bits import mask_hash, mask_key
from ..search.ranking import best_index, rank_key


def candidates(rows: list[dict], search_best, k: int) -> list[tuple]:
    """The ``k`` best distinct masks of an evaluations log as ``(mask, logged fitness)``, best first.

    Ordered by the GA's rule (fitness, then fewer active bits; the earlier on
    ties), the search's best (``search_best``, a mask) first whatever the log.
    """
    logged, order = {}, []
    for row in rows:
        key = mask_key(row["mask"])
        if key not in logged and not math.isnan(row["fitness"]):
            logged[key] = (row["mask"], row["fitness"])
            order.append(key)
    ranked = sorted(order, key=lambda key: rank_key(logged[key][1], int(logged[key][0].sum())), reverse=True)
    first = mask_key(search_best)
    ranked = [first] + [key for key in ranked if key != first]
    return [logged[key] for key in ranked[:k] if key in logged]


def choose(rows: list[dict]) -> int:
    """The index of the candidate with the highest mean fresh fitness (ties: fewer active bits, then the
    earlier candidate, which logged the higher fitness)."""
    return best_index([row["fresh_mean"] for row in rows], [row["n_active"] for row in rows])


@dataclass(frozen=True)
class Reevaluation:
    """The rows of ``reevaluation.csv`` (see :mod:`~evoprune_deap.records.reevaluation_log`) and the
    chosen one; row 0 is the search's best."""

    rows: list
    chosen: int

    @property
    def mask(self) -> np.ndarray:
        return self.rows[self.chosen]["mask"]

    @property
    def logged_fitness(self) -> float:
        return self.rows[self.chosen]["logged_fitness"]

    def summary_fields(self, search_best) -> dict:
        """The fields of ``summary.json`` (see :class:`~evoprune_deap.records.summary.RunSummary`);
        ``search_best`` is the search best's :class:`~evoprune_deap.head.scoring.HeadScore`."""
        chosen, first = self.rows[self.chosen], self.rows[0]
        return {
            "logged_fitness": chosen["logged_fitness"],
            "reevaluated_fitness": chosen["fresh_mean"],
            "reevaluations": sum(row["final_repeats"] for row in self.rows),
            "final_repeats": chosen["final_repeats"],
            "search_best_fitness": first["logged_fitness"],
            "search_best_reevaluated_fitness": first["fresh_mean"],
            "search_best_n_active": first["n_active"],
            "search_best_test_accuracy": search_best.test_accuracy,
            "search_best_holdout_accuracy": search_best.holdout_accuracy,
        }


def reevaluate(fitness, directory: RunDirectory, search_best, k: int, repeats: int) -> Reevaluation:
    """Score the ``k`` best masks of the run's log ``repeats`` more times through ``fitness``
    (:meth:`~evoprune_deap.evaluation.fitness.Fitness.rescore_many`, here or on a cluster), journaling
    each candidate's row; candidates already in ``reevaluation.csv`` (a resumed run) are not trained again.

    Raises
    ------
    RunDirectoryError
        ``reevaluation.csv`` holds other candidates than the log's (an edited file).
    """
    path = directory.file(RunDirectory.REEVALUATION)
    wanted = candidates(read_log(directory.file(RunDirectory.EVALUATIONS)), search_best, k)
    done = read_candidates(path)
    for row, (mask, _fitness) in zip(done, wanted):
        if row["mask_hash"] != mask_hash(mask) or row["final_repeats"] != repeats:
            raise RunDirectoryError(
                f"{path!r} holds other candidates than the run's log (candidate {row['candidate']}); "
                "it was edited? Delete it to re-evaluate again, then resume."
            )
    todo = wanted[len(done) :]
    if todo:
        scored = fitness.rescore_many([mask for mask, _ in todo], repeats)
        for number, ((mask, logged), scores) in enumerate(zip(todo, scored), start=len(done) + 1):
            fresh = [score.result(fitness.protocol)[0] for score in scores]
            epochs = sum(score.epochs for score in scores)
            append_candidate(path, candidate_row(number, mask, logged, fresh, epochs))
    rows = read_candidates(path)
    chosen = choose(rows)
    write_candidates(path, rows, rows[chosen]["candidate"])
    return Reevaluation(rows, chosen)
