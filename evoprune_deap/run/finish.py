"""How a run ends, in small steps: the best head from the search's own weights, the one unpruned
reference, the saved head, the plot, the summary (see the README's Architecture section)."""

from __future__ import annotations

import threading
import time

import numpy as np

from ..compare.front import front_masks, write_front
from ..config import ExperimentConfig
from ..head.costs import count_flops, count_parameters
from ..head.models.stack import deployable_head
from ..head.scoring import HeadScore
from ..records.directory import RunDirectory
from ..records.summary import RunSummary
from ..report.plots import save_convergence, unpruned_fitness
from ..search.bits import mask_key
from ..search.callbacks import Callback
from ..search.evaluator import GAState
from ..search.ranking import best_index, rank_key
from .reevaluation import reevaluate

_CLIENT_SIDE_LOCK = threading.Lock()


class BestWeights(Callback):
    """Keeps the trained weights the search returned for the best mask so far (and any tied with it).

    The best is the GA's rule (:func:`~evoprune_deap.search.ranking.rank_key`:
    fitness, then fewer active bits), also that of a multi-objective run's
    most accurate member; the run ships these weights and never trains its
    best head a second time. A replayed evaluation (a resumed run) brings no
    weights: :meth:`weights` then returns None.
    """

    def __init__(self):
        self.best_key, self.kept = None, {}

    def on_evaluation(self, evaluation, state):
        key = rank_key(evaluation.fitness, evaluation.n_active)
        if self.best_key is None or key > self.best_key:
            self.best_key, self.kept = key, {}
        if key == self.best_key and evaluation.payload:
            self.kept[mask_key(evaluation.mask)] = evaluation.payload

    def weights(self, mask) -> tuple | None:
        """The fold weights of ``mask``'s head, if it is the best and was trained in this process's run."""
        return self.kept.get(mask_key(mask))


def score_best(fitness, mask: np.ndarray, kept: BestWeights) -> HeadScore:
    """Validation, test and hold-out figures of the best head: from the weights the search trained.

    Only where those weights are not at hand (the best was replayed from the
    log of a resumed run) is the head trained again, from its own seed: the
    same head, since training is deterministic.
    """
    weights = kept.weights(mask)
    if weights is None:
        return fitness.score(mask, with_test=True)
    return fitness.local().score_many([mask], with_test=True, fold_weights=[weights])[0]


def train_reference(fitness, directory: RunDirectory) -> HeadScore:
    """The run's one unpruned reference: the full mask's head, trained once by the run's fitness.

    Its seed follows the rule of every mask (run seed, mask bits, fold); its
    weights are saved (``unpruned_head.npz``) for the baselines, which prune
    this head, and its figures go to ``summary.json`` and ``baselines.csv``.
    """
    reference = fitness.score(fitness.encoding.full_mask(), with_test=True)
    directory.write_unpruned(reference.fold_weights)
    return reference


def save_best_head(
    config: ExperimentConfig, directory: RunDirectory, best: HeadScore, masks, save: bool = True
):
    """The best head as a Keras model taking the full feature vector (saved as ``best_head.keras`` with
    ``save``)."""
    if best.weights is None:  # an empty mask: nothing to save
        return None
    with _CLIENT_SIDE_LOCK:  # campaigns finish runs from several threads; Keras' naming is global
        model = deployable_head(best.weights, masks, config.head)
        if save:
            model.save(directory.file(RunDirectory.BEST_HEAD))
    return model


def summarise(
    config: ExperimentConfig,
    fitness,
    state: GAState,
    best_mask: np.ndarray,
    best_fitness: float,
    best: HeadScore,
    unpruned: HeadScore,
    started: float,
    search_seconds: float,
    **extra,
) -> RunSummary:
    """The run's :class:`RunSummary` (not yet written)."""
    import keras

    feature_set, encoding = fitness.feature_set, fitness.encoding
    masks, full = encoding.head_masks(best_mask), encoding.head_masks(encoding.full_mask())
    n_classes, bias = feature_set.n_classes, config.head.use_bias
    params, params_full = count_parameters(masks, n_classes, bias), count_parameters(full, n_classes, bias)
    flops, flops_full = count_flops(masks, n_classes), count_flops(full, n_classes)
    return RunSummary(
        encoding=encoding.name,
        protocol=config.run.protocol,
        seed=config.run.seed,
        source=feature_set.metadata.get("source"),
        backbone=feature_set.metadata.get("backbone"),
        n_classes=n_classes,
        n_folds=len(feature_set.splits),
        fitness=best_fitness,
        val_accuracy=best.val_accuracy,
        test_accuracy=best.test_accuracy,
        unpruned_val_accuracy=unpruned.val_accuracy,
        unpruned_test_accuracy=unpruned.test_accuracy,
        n_bits=encoding.n_bits,
        n_active=int(best_mask.sum()),
        active_percent=100.0 * float(best_mask.mean()),
        parameters=params,
        parameters_unpruned=params_full,
        parameter_reduction_percent=100.0 * (1 - params / params_full),
        flops=flops,
        flops_unpruned=flops_full,
        flop_reduction_percent=100.0 * (1 - flops / flops_full),
        evaluations=state.n_evaluations,
        cache_hits=state.cache_hits,
        replayed_evaluations=sum(evaluation.replayed for evaluation in state.history),
        stop_reason=state.stop_reason,
        search_seconds=search_seconds,
        wall_seconds=time.perf_counter() - started,
        keras_backend=keras.backend.backend(),
        holdout_accuracy=best.holdout_accuracy,
        unpruned_holdout_accuracy=unpruned.holdout_accuracy,
        test_ood_auroc=best.test_ood_auroc,
        unpruned_test_ood_auroc=unpruned.test_ood_auroc,
        **extra,
    )


def draw_convergence(directory: RunDirectory, summary: RunSummary) -> None:
    """``convergence.png``, drawn by the report layer from the run's evaluations log."""
    save_convergence(
        directory.read_evaluations(),
        directory.file(RunDirectory.CONVERGENCE),
        f"{summary.source} {summary.encoding} seed {summary.seed}",
        unpruned_fitness(summary),
    )


def finish_heads(
    config,
    fitness,
    state: GAState,
    directory: RunDirectory,
    kept: BestWeights,
    best_mask,
    artifacts: bool = True,
    best: HeadScore | None = None,
):
    """The steps every run ends with: logbook and best mask, the best head's figures (from the search's
    weights; ``best`` where they are already scored), the unpruned reference, ``best_head.keras`` (with
    ``artifacts``); returns (best score, unpruned score, model)."""
    directory.write_logbook(state.logbook)
    directory.write_best_mask(fitness.encoding.name, best_mask)
    best = best if best is not None else score_best(fitness, best_mask, kept)
    unpruned = train_reference(fitness, directory)
    model = save_best_head(config, directory, best, fitness.encoding.head_masks(best_mask), artifacts)
    return best, unpruned, model


def finish_run(
    config,
    fitness,
    state: GAState,
    directory: RunDirectory,
    kept: BestWeights,
    started: float,
    search_seconds: float,
    artifacts: bool = True,
):
    """A single-objective run's ending, in steps: the final re-evaluation (with ``[fitness] reevaluate``),
    logbook and best mask, the best head's figures (from the search's weights), the unpruned reference,
    ``best_head.keras``, the plot, then the summary (last: a run with a summary has all its files; until
    then it can resume)."""
    best_mask, best_fitness = state.best.mask, state.best.fitness.values[0]
    extra, best = {}, None
    if config.fitness.reevaluate:  # the shipped head becomes the chosen mask's; the search's best is reported
        outcome = reevaluate(
            fitness, directory, best_mask, config.fitness.reevaluate, config.fitness.n_final_repeats
        )
        searched = score_best(fitness, best_mask, kept)
        extra = outcome.summary_fields(searched)
        best = searched if outcome.chosen == 0 else None
        best_mask, best_fitness = outcome.mask, outcome.logged_fitness
    best, unpruned, model = finish_heads(config, fitness, state, directory, kept, best_mask, artifacts, best)
    summary = summarise(
        config, fitness, state, best_mask, best_fitness, best, unpruned, started, search_seconds, **extra
    )
    if artifacts:
        draw_convergence(directory, summary)
    directory.write_summary(summary)
    return summary, model


def finish_front(
    config,
    fitness,
    state: GAState,
    directory: RunDirectory,
    kept: BestWeights,
    started: float,
    search_seconds: float,
    artifacts: bool = True,
):
    """A multi-objective run's ending: as :func:`finish_run` with the front's most accurate member as the
    run's best head, then ``front.csv``, the baselines along the front and the front's plots, then the
    summary."""
    masks = front_masks(state.population)
    values = {mask_key(ind.mask): ind.fitness.values for ind in state.population}
    accuracies = [values[mask_key(mask)][0] for mask in masks]
    chosen = best_index(accuracies, [int(mask.sum()) for mask in masks])
    best_mask, best_fitness = masks[chosen], accuracies[chosen]
    last = state.logbook[-1] if len(state.logbook) else {}
    best, unpruned, model = finish_heads(config, fitness, state, directory, kept, best_mask, artifacts)
    summary = summarise(
        config,
        fitness,
        state,
        best_mask,
        best_fitness,
        best,
        unpruned,
        started,
        search_seconds,
        objectives=list(config.ga.objectives),
        front_size=len(masks),
        hypervolume=last.get("hypervolume"),
    )
    if artifacts:
        draw_convergence(directory, summary)
    write_front(config, fitness, state, directory, masks, accuracies, summary, unpruned)
    directory.write_summary(summary)
    return summary, model
