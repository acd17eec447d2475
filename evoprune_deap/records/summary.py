"""The summary of a finished run (``summary.json``), as a typed record."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..errors import RunDirectoryError

METHODS = (
    "ga",
    "nsga2",
    "unpruned",
    "linear_probe",
    "random",
    "weight_magnitude",
    "neuron_l2",
    "polynomial_decay",
)
"""Every method a run's tables name, in table order (the GA first); ``nsga2`` is a multi-objective
run's most accurate front member, the others the baselines of :mod:`evoprune_deap.compare.baselines`."""


@dataclass(frozen=True, kw_only=True)
class RunSummary:
    """What a finished run found, and what it cost.

    Accuracies of the best head and of the unpruned head trained the same
    way (mean over folds for k-fold data); ``fitness`` is the GA's score of
    the best mask (validation accuracy, or test under the paper protocol).
    """

    encoding: str
    protocol: str
    seed: int
    source: str | None
    backbone: str | None
    n_classes: int
    n_folds: int
    fitness: float
    val_accuracy: float
    test_accuracy: float
    unpruned_val_accuracy: float
    unpruned_test_accuracy: float
    n_bits: int
    n_active: int
    active_percent: float
    parameters: int
    parameters_unpruned: int
    parameter_reduction_percent: float
    flops: int
    flops_unpruned: int
    flop_reduction_percent: float
    evaluations: int
    cache_hits: int
    stop_reason: str
    search_seconds: float  # this process's: a resumed run's earlier processes are not counted
    wall_seconds: float  # this process's, as search_seconds
    keras_backend: str
    holdout_accuracy: float | None = None  # where the run's features hold out training data
    unpruned_holdout_accuracy: float | None = None
    test_ood_auroc: float | None = None  # where the run has out-of-distribution images (test vs OOD test)
    unpruned_test_ood_auroc: float | None = None
    objectives: list | None = (
        None  # a multi-objective run's objectives; its "best" is the front's most accurate
    )
    front_size: int | None = None
    hypervolume: float | None = None
    replayed_evaluations: int | None = None  # of ``evaluations``, those an earlier process trained (resume)
    # The final re-evaluation ([fitness] reevaluate = K): the shipped head is the chosen mask's, and
    # the search's own best (by logged fitness) is reported beside it, so one run measures the effect.
    logged_fitness: float | None = None  # the chosen mask's fitness in the search (= fitness)
    reevaluated_fitness: float | None = None  # its mean fresh fitness (fresh seeds, same data)
    reevaluations: int | None = None  # fresh fitness evaluations, apart from the budget (K x R)
    final_repeats: int | None = None
    search_best_fitness: float | None = None
    search_best_reevaluated_fitness: float | None = None
    search_best_n_active: int | None = None
    search_best_test_accuracy: float | None = None
    search_best_holdout_accuracy: float | None = None

    @property
    def optimism(self) -> float | None:
        """Reported (test) accuracy minus accuracy on the hold-out no selection saw; None without one."""
        return None if self.holdout_accuracy is None else self.test_accuracy - self.holdout_accuracy

    def to_dict(self) -> dict:
        """The fields, less those of the final re-evaluation where a run had none (as before it existed)."""
        return {
            name: value
            for name, value in dataclasses.asdict(self).items()
            if not (value is None and name in REEVALUATION_FIELDS)
        }

    @classmethod
    def from_dict(cls, data: dict, where: str = "summary") -> "RunSummary":
        """Build from a ``summary.json`` mapping; keys this version does not know are ignored.

        Raises
        ------
        RunDirectoryError
            A field is missing.
        """
        names = [field.name for field in dataclasses.fields(cls)]
        required = [field.name for field in dataclasses.fields(cls) if field.default is dataclasses.MISSING]
        missing = [name for name in required if name not in data]
        if missing:
            raise RunDirectoryError(
                f"{where} lacks {', '.join(missing)}; it was not written by this "
                "version of evoprune-deap or was edited."
            )
        return cls(**{name: data[name] for name in names if name in data})


REEVALUATION_FIELDS = (
    "logged_fitness",
    "reevaluated_fitness",
    "reevaluations",
    "final_repeats",
    "search_best_fitness",
    "search_best_reevaluated_fitness",
    "search_best_n_active",
    "search_best_test_accuracy",
    "search_best_holdout_accuracy",
)
"""The summary's fields of the final re-evaluation, left out of ``summary.json`` where a run had none."""
