"""Choosing and shipping heads of a multi-objective run: one member (``select``) or a vote (``ensemble``).

Both retrain the chosen masks from the run's seed, as fitness did (so a
member's head is the one its front row describes), on the run's own features,
and write a ``.keras`` model taking the full feature vector and a JSON record
of what was chosen, by which rule, and its figures. Rules read the GA's
accuracy (validation under the honest protocol), never test.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..compare.front import parse_percent, parse_window, select_member, window_members
from ..errors import RunDirectoryError
from ..head.forward import head_logits, softmax
from ..head.ood import confidence, ood_auroc
from ..records.directory import RunDirectory
from ..search.bits import mask_from_hex
from ..search.ranking import best_index
from ..storage import write_json, write_text


@dataclass
class FinishedFront:
    """A finished multi-objective run, opened to retrain its members."""

    directory: RunDirectory
    config: object
    front: object  # DataFrame of front.csv
    fitness: object  # MaskFitness on the run's features

    @classmethod
    def open(cls, run_dir: str) -> "FinishedFront":
        from ..data.loading import load_feature_set
        from ..evaluation.setup import make_fitness

        directory = RunDirectory(run_dir)
        front = directory.read_front()
        config = directory.read_config()
        feature_set = load_feature_set(config)
        recorded = directory.read_environment().get("features", {}).get("key")
        if recorded is not None and recorded != feature_set.metadata.get("key"):
            raise RunDirectoryError(
                f"The features differ from those run {run_dir!r} was made with; its heads "
                "can only be rebuilt on the same data (same dataset, cache and OOD images)."
            )
        return cls(directory, config, front, make_fitness(config, feature_set))

    def masks(self, rows: list) -> list[np.ndarray]:
        return [mask_from_hex(self.front["mask"].iloc[row]) for row in rows]

    def default_path(self, folder: str, name: str) -> str:
        return os.path.join(self.directory.path, folder, name)


def _save(model, path: str, record: dict) -> dict:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    model.save(path)
    write_json(os.path.splitext(path)[0] + ".json", record)
    return record


def _checked_out(out: str | None) -> str | None:
    if out is not None and not out.endswith(".keras"):
        raise RunDirectoryError(f"--out {out!r} must end with .keras (Keras' model format).")
    return out


def export_member(
    run_dir: str,
    max_active: str | None = None,
    min_accuracy: float | None = None,
    knee: bool = False,
    out: str | None = None,
) -> dict:
    """Retrain the front member a rule chooses and save it as a ``.keras`` head with a JSON summary.

    Returns the summary (also written beside the model): rule, mask, the
    front row's figures and those of the retrained head, the model's path.
    """
    from ..head.models.stack import deployable_head

    out = _checked_out(out)
    limit = None if max_active is None else parse_percent(max_active)
    run = FinishedFront.open(run_dir)
    row = select_member(run.front, max_active=limit, min_accuracy=min_accuracy, knee=knee)
    mask = run.masks([row])[0]
    score = run.fitness.score(mask, with_test=True)
    rule = (
        "knee" if knee else f"max_active_{limit:g}" if limit is not None else f"min_accuracy_{min_accuracy:g}"
    )
    member = run.front.iloc[row]
    path = out or run.default_path("selected", f"{rule}_{member['mask_hash']}.keras")
    model = deployable_head(score.weights, run.fitness.encoding.head_masks(mask), run.config.head)
    return _save(
        model,
        path,
        {
            "rule": rule,
            "run_dir": run.directory.path,
            "seed": run.config.run.seed,
            "model": path,
            "mask_hash": member["mask_hash"],
            "n_active": int(member["n_active"]),
            "active_percent": float(member["active_percent"]),
            "accuracy": float(member["accuracy"]),
            "val_accuracy": score.val_accuracy,
            "test_accuracy": score.test_accuracy,
            "holdout_accuracy": score.holdout_accuracy,
            "ood_auroc": score.ood_auroc,
            "test_ood_auroc": score.test_ood_auroc,
            "mask": member["mask"],
        },
    )


def vote(heads: list, x: np.ndarray) -> np.ndarray:
    """What the saved ensemble outputs on features x:
    :func:`~evoprune_deap.head.models.layers.majority_vote` of its members' class probabilities, each from
    the one forward pass (``heads``: (weights, masks) pairs)."""
    from ..head.models.layers import majority_vote

    probabilities = [softmax(head_logits(weights, masks, x)) for weights, masks in heads]
    return np.asarray(majority_vote(probabilities)) if len(heads) > 1 else probabilities[0]


def ensemble_scores(heads: list, feature_set, ga) -> tuple:
    """Test accuracy of the vote and test OOD AUROC of the members' mean confidence (None without OOD
    images), both from the one forward pass; ``ga`` gives the OOD score and temperature."""
    x_test, y_test = feature_set.arrays(0)["test"]
    accuracy = float(np.mean(np.argmax(vote(heads, x_test), axis=1) == y_test))
    if feature_set.ood is None:
        return accuracy, None

    def mean_confidence(x):
        return np.mean(
            [confidence(head_logits(w, m, x), ga.ood_score, ga.ood_temperature) for w, m in heads], axis=0
        )

    return accuracy, ood_auroc(mean_confidence(x_test), mean_confidence(feature_set.ood["test"]))


def build_ensemble(run_dir: str, window: str = "85-95", out: str | None = None) -> dict:
    """A majority vote of the front members whose accuracy lies in a percentile ``window`` of the front's.

    Each member is retrained from its seed; the ensemble is one Keras model
    (the members' heads and a :class:`~evoprune_deap.head.models.layers.MajorityVote`).
    Reports test accuracy (the vote the saved model computes, :func:`vote`) and test OOD
    AUROC (the members' mean confidence, scored as each member's), against
    the front's most accurate member. Writes ``.keras``, ``.json`` and a
    ``.csv`` with one row per member, the ensemble and the best member.
    """
    import pandas as pd

    out = _checked_out(out)
    low, high = parse_window(window)
    run = FinishedFront.open(run_dir)
    rows = window_members(run.front, low, high)
    masks = run.masks(rows)
    encoding, config, fitness = run.fitness.encoding, run.config, run.fitness
    scores = fitness.score_many(masks, with_test=True)
    heads = [(score.weights, encoding.head_masks(mask)) for mask, score in zip(masks, scores)]
    model = ensemble_model(heads, config.head, fitness.feature_set.n_features)
    accuracy, auroc = ensemble_scores(heads, fitness.feature_set, config.ga)
    front = run.front
    best = best_index(front["accuracy"].tolist(), front["n_active"].tolist())
    table = _ensemble_table(front, rows, scores, best, accuracy, auroc)
    name = f"ensemble_{low:g}-{high:g}"
    path = out or run.default_path("ensemble", f"{name}.keras")
    record = _save(
        model,
        path,
        {
            "window": [low, high],
            "run_dir": run.directory.path,
            "seed": config.run.seed,
            "model": path,
            "members": [front["mask_hash"].iloc[r] for r in rows],
            "test_accuracy": accuracy,
            "test_ood_auroc": auroc,
            "best_member": front["mask_hash"].iloc[best],
            "best_member_test_accuracy": float(front["test_accuracy"].iloc[best]),
            "best_member_test_ood_auroc": None
            if pd.isna(front["test_ood_auroc"].iloc[best])
            else float(front["test_ood_auroc"].iloc[best]),
        },
    )
    write_text(os.path.splitext(path)[0] + ".csv", table.to_csv(index=False))
    return {**record, "table": table}


def ensemble_model(heads: list, config, n_features: int):
    """The saved ensemble: one Keras model over the full feature vector, the members' deployable heads
    (``heads``: (weights, masks) pairs) and a :class:`~evoprune_deap.head.models.layers.MajorityVote`."""
    import keras

    from ..head.models.layers import MajorityVote
    from ..head.models.stack import deployable_head

    members = [deployable_head(w, m, config, name=f"member_{k}") for k, (w, m) in enumerate(heads)]
    inputs = keras.Input((n_features,), name="features")
    outputs = (
        MajorityVote(name="majority_vote")([head(inputs) for head in members])
        if len(members) > 1
        else members[0](inputs)
    )
    return keras.Model(inputs, outputs, name="evoprune_ensemble")


def _ensemble_table(front, rows: list, scores: list, best: int, accuracy: float, auroc):
    """One row per member, the ensemble's and the front's best single member's."""
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "member": front["mask_hash"].iloc[r],
                "active_percent": front["active_percent"].iloc[r],
                "accuracy": front["accuracy"].iloc[r],
                "test_accuracy": s.test_accuracy,
                "test_ood_auroc": s.test_ood_auroc,
            }
            for r, s in zip(rows, scores)
        ]
        + [
            {
                "member": f"ensemble ({len(rows)} votes)",
                "active_percent": float(front["active_percent"].iloc[rows].sum()),
                "accuracy": np.nan,
                "test_accuracy": accuracy,
                "test_ood_auroc": auroc,
            },
            {
                "member": f"best single member ({front['mask_hash'].iloc[best]})",
                "active_percent": front["active_percent"].iloc[best],
                "accuracy": front["accuracy"].iloc[best],
                "test_accuracy": front["test_accuracy"].iloc[best],
                "test_ood_auroc": front["test_ood_auroc"].iloc[best],
            },
        ]
    )
