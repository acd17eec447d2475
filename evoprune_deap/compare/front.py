"""The Pareto front of a multi-objective run: its members, their test figures, and choosing among them.

``front.csv`` holds one row per distinct mask of the final population's
first non-dominated front (DEAP's non-dominated sort), sorted by active units:
the objectives the GA saw (validation figures under the honest protocol), the
test figures of the same head (retrained from its seed, as fitness did), and
the mask. Choosing reads validation columns only, never test.
"""

from __future__ import annotations

import numpy as np

from ..errors import EvopruneError
from ..report.plots import save_front, save_hypervolume
from ..search.bits import mask_hash, mask_key, mask_to_hex
from ..search.ranking import knee_index
from .baselines import run_baselines

FRONT_COLUMNS = (
    "mask_hash",
    "n_active",
    "active_percent",
    "accuracy",
    "val_accuracy",
    "ood_auroc",
    "test_accuracy",
    "test_ood_auroc",
    "holdout_accuracy",
    "epochs",
    "mask",
)


def front_masks(population: list) -> list[np.ndarray]:
    """The distinct masks of the population's first front, fewest active units first (then by bits)."""
    from ..search.objectives import first_front

    masks = {mask_key(ind.mask): ind.mask for ind in first_front(population)}
    return sorted(masks.values(), key=lambda mask: (int(mask.sum()), mask_to_hex(mask)))


def front_rows(fitness, masks: list, accuracies: list) -> list[dict]:
    """Score each front member on test (and hold-out, OOD test) with ``fitness``; ``accuracies``: the GA's
    values."""
    rows = []
    for mask, accuracy, score in zip(masks, accuracies, fitness.score_many(masks, with_test=True)):
        rows.append(
            {
                "mask_hash": mask_hash(mask),
                "n_active": int(mask.sum()),
                "active_percent": round(100.0 * float(mask.mean()), 4),
                "accuracy": accuracy,
                "val_accuracy": score.val_accuracy,
                "ood_auroc": score.ood_auroc,
                "test_accuracy": score.test_accuracy,
                "test_ood_auroc": score.test_ood_auroc,
                "holdout_accuracy": score.holdout_accuracy,
                "epochs": score.epochs,
                "mask": mask_to_hex(mask),
            }
        )
    return rows


def spread(n_members: int, n: int) -> list[int]:
    """``n`` indices spread evenly over ``range(n_members)`` (ends included), for baselines along a front."""
    if n <= 0 or n_members == 0:
        return []
    return sorted(set(np.linspace(0, n_members - 1, min(n, n_members)).round().astype(int).tolist()))


def parse_percent(text: str) -> float:
    """``"30%"``, ``"30"`` or ``"0.3"`` -> 30.0 (a fraction below 1 is read as a share)."""
    try:
        value = float(str(text).strip().rstrip("%"))
    except ValueError:
        raise EvopruneError(f"--max-active {text!r} is not a percentage; write e.g. 30% or 0.3.") from None
    value = value * 100 if value < 1 and not str(text).strip().endswith("%") else value
    if not 0 < value <= 100:
        raise EvopruneError(f"--max-active {text!r} is outside (0%, 100%]; write e.g. 30%.")
    return value


def select_member(
    front, max_active: float | None = None, min_accuracy: float | None = None, knee: bool = False
) -> int:
    """Row position in ``front`` (a front.csv DataFrame) chosen by exactly one rule, on the GA's accuracy.

    ``max_active`` (percent): the most accurate member with at most that
    share of units active (ties: fewer active). ``min_accuracy``: the member
    with the fewest active units reaching that accuracy (ties: more
    accurate). ``knee``: :func:`knee_index`.

    Raises
    ------
    EvopruneError
        Not exactly one rule, or no member satisfies it (the message gives the front's range).
    """
    rules = [rule for rule in (max_active, min_accuracy) if rule is not None] + ([knee] if knee else [])
    if len(rules) != 1:
        raise EvopruneError("Choose one rule: --max-active PERCENT, --min-accuracy A or --knee.")
    active, accuracy = front["active_percent"].to_numpy(float), front["accuracy"].to_numpy(float)
    ranges = (
        f"the front spans {active.min():.1f}-{active.max():.1f}% active and accuracy "
        f"{accuracy.min():.4f}-{accuracy.max():.4f}"
    )
    if knee:
        return knee_index(active, accuracy)
    if max_active is not None:
        allowed = np.flatnonzero(active <= max_active + 1e-9)
        if allowed.size == 0:
            raise EvopruneError(f"No front member has at most {max_active:g}% active units; {ranges}.")
        return int(min(allowed, key=lambda i: (-accuracy[i], active[i])))
    if not 0 < min_accuracy <= 1:
        raise EvopruneError(f"--min-accuracy {min_accuracy} is not an accuracy in (0, 1]; write e.g. 0.9.")
    allowed = np.flatnonzero(accuracy >= min_accuracy)
    if allowed.size == 0:
        raise EvopruneError(f"No front member reaches accuracy {min_accuracy:g}; {ranges}.")
    return int(min(allowed, key=lambda i: (active[i], -accuracy[i])))


def parse_window(text: str) -> tuple[float, float]:
    """``"85-95"`` -> (85.0, 95.0): a window of percentiles, 0 <= low <= high <= 100."""
    try:
        low, high = (float(part) for part in str(text).split("-"))
    except ValueError:
        raise EvopruneError(f"--window {text!r} is not LOW-HIGH percentiles; write e.g. 85-95.") from None
    if not 0 <= low <= high <= 100:
        raise EvopruneError(f"--window {text!r} needs 0 <= LOW <= HIGH <= 100; write e.g. 85-95.")
    return low, high


def window_members(front, low: float, high: float) -> list[int]:
    """Row positions of the members whose accuracy lies between the ``low`` and ``high`` percentiles of the
    front's."""
    accuracy = front["accuracy"].to_numpy(float)
    lo, hi = np.percentile(accuracy, [low, high])
    rows = np.flatnonzero((accuracy >= lo - 1e-12) & (accuracy <= hi + 1e-12)).tolist()
    if not rows:
        raise EvopruneError(
            f"No front member's accuracy lies in the window {low:g}-{high:g} (percentiles of the front's "
            f"{len(accuracy)} accuracies, {accuracy.min():.4f}-{accuracy.max():.4f}); widen --window "
            "(e.g. --window 50-100, or 0-100 for every member)."
        )
    return rows


FRONT_BASELINES = 3
"""Sparsities along the front (ends and middle) at which the pruning baselines are scored."""


def write_front(
    config,
    fitness,
    state,
    directory,
    masks: list,
    accuracies: list,
    summary,
    reference,
    n_baselines: int = FRONT_BASELINES,
) -> None:
    """Write ``front.csv``, ``front_baselines.csv``, ``front.png`` and ``hypervolume.png`` of a finished run.

    The pruning baselines (:func:`~evoprune_deap.compare.baselines.run_baselines`)
    are scored at the sparsities of ``n_baselines`` members spread along the
    front, pruning the run's unpruned ``reference``; that head and the linear probe once.
    """
    import pandas as pd

    front = pd.DataFrame(front_rows(fitness, masks, accuracies), columns=list(FRONT_COLUMNS))
    directory.write_table(directory.FRONT, front)
    rows = []
    for k, member in enumerate(spread(len(masks), n_baselines)):
        for row in run_baselines(
            fitness.feature_set,
            fitness.encoding,
            config.head,
            config.run.protocol,
            config.run.seed,
            masks[member],
            n_random=1,
            with_references=k == 0,
            reference=reference,
            fitness_config=config.fitness,
            split_seed=config.data.split_seed,
        ):
            rows.append({**row, "front_member": front["mask_hash"][member]})
    baselines = pd.DataFrame(rows)
    directory.write_table(directory.FRONT_BASELINES, baselines)
    title = f"{summary.source} {summary.encoding} seed {summary.seed}"
    save_front(
        front, baselines, summary, tuple(config.ga.objectives), directory.file(directory.FRONT_PLOT), title
    )
    save_hypervolume(list(state.logbook), directory.file(directory.HYPERVOLUME_PLOT), title)
