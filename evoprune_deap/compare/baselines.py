"""The paper's baselines, at the sparsity of a GA solution, under the same protocol.

For a GA result (an encoding and its best mask), each baseline keeps the same
share of the same layer(s):

- ``unpruned``: the full head;
- ``linear_probe``: no head at all, a multinomial logistic regression on the
  standardised features (scikit-learn), its L2 strength chosen on validation
  accuracy from :data:`LINEAR_PROBE_C`: what a user would try first;
- ``random``: random masks with the same number of active units per layer;
- ``weight_magnitude``: one-shot pruning of the smallest-magnitude weights of the
  pruned layer(s) of the trained unpruned head, then fine-tuning;
- ``neuron_l2``: one-shot removal of the units (for ``fs``: input features)
  with the lowest L2 norm of their incoming (outgoing) weights, then fine-tuning;
- ``polynomial_decay``: gradual magnitude pruning of the trained head with
  sparsity ``s_t = s_f + (s_0 - s_f) (1 - t / T)^3``, s_0 = 0.1, updated every 5
  epochs until T = 25 (epochs 0-24 ramp up), then 26 epochs at the final sparsity (the paper's
  tfmot schedule, as kernel masks changing over the epochs).

Weight sparsity of a layer = 1 - (active units of that layer / its units), the
"% active" of the GA solution. Every head is trained with the run's head
settings and seeds and scored on validation and test like the GA's best head,
through the one trainer (:mod:`evoprune_deap.head.trainer`; the pruning methods
by :mod:`evoprune_deap.head.fine_tune`) and the one forward pass.
"""

from __future__ import annotations

import numpy as np

from ..config import HeadConfig
from ..data.features import FeatureSet
from ..evaluation.fitness import MaskFitness
from ..head.fine_tune import MaskSchedule, fine_tune, seeded_once_orders
from ..head.forward import TrainedHead
from ..head.masks import Encoding
from ..head.weights import HeadWeights
from ..seeding import derive_seed, make_rng

POLY_INITIAL_SPARSITY = 0.1
POLY_POWER = 3
POLY_END_EPOCH = 25
POLY_FREQUENCY = 5
POLY_EXTRA_EPOCHS = 26
LINEAR_PROBE_C = tuple(float(c) for c in 10.0 ** np.arange(-3, 3))
"""Inverse regularisation strengths the linear probe chooses from on validation accuracy."""


def polynomial_sparsity(
    epoch: int,
    final: float,
    initial: float = POLY_INITIAL_SPARSITY,
    end_epoch: int = POLY_END_EPOCH,
    frequency: int = POLY_FREQUENCY,
    power: int = POLY_POWER,
) -> float:
    """Target sparsity in effect during ``epoch`` (updated every ``frequency`` epochs)."""
    step = min(end_epoch, (epoch // frequency) * frequency)
    return final + (initial - final) * (1 - step / end_epoch) ** power


def magnitude_mask(kernel: np.ndarray, sparsity: float) -> np.ndarray:
    """0/1 mask keeping the largest-|w| weights; exactly round(sparsity * size) pruned."""
    n_pruned = int(round(sparsity * kernel.size))
    mask = np.ones(kernel.size, dtype=np.float32)
    mask[np.argsort(np.abs(kernel), axis=None, kind="stable")[:n_pruned]] = 0
    return mask.reshape(kernel.shape)


def neuron_mask(kernel: np.ndarray, n_keep: int, axis: int) -> np.ndarray:
    """0/1 mask keeping the ``n_keep`` units of highest L2 norm.

    ``axis=0`` ranks columns (units, by their incoming weights); ``axis=1``
    ranks rows (inputs, by their outgoing weights).
    """
    norms = np.linalg.norm(kernel, axis=axis)
    keep = np.argsort(-norms, kind="stable")[:n_keep]
    mask = np.zeros_like(kernel, dtype=np.float32)
    if axis == 0:
        mask[:, keep] = 1
    else:
        mask[keep, :] = 1
    return mask


def random_masks(encoding: Encoding, mask: np.ndarray, n_draws: int, rng: np.random.Generator) -> list:
    """Masks with the same active count per layer as ``mask``, positions at random."""
    masks = encoding.head_masks(mask)
    if encoding.name == "both":
        sizes = [m.shape[0] for m in masks.hidden]
        counts = [int(m.sum()) for m in masks.hidden]
    else:
        sizes, counts = [encoding.n_bits], [int(mask.sum())]
    draws = []
    for _ in range(n_draws):
        parts = []
        for size, count in zip(sizes, counts):
            part = np.zeros(size, dtype=bool)
            part[rng.permutation(size)[:count]] = True
            parts.append(part)
        draws.append(np.concatenate(parts))
    return draws


class PrunableHead:
    """The run's trained unpruned head of one fold, to prune with kernel masks and fine-tune by the trainer.

    Pruning is a 0/1 mask on the kernels of the hidden layers ``targets``
    (one array per layer, ``{layer: mask}``); fine-tuning is the trainer's
    protocol from the trained weights (:func:`~evoprune_deap.head.fine_tune.fine_tune`),
    which keeps the pruned weights at zero; scores come from the one forward pass.
    """

    def __init__(
        self,
        feature_set: FeatureSet,
        encoding: Encoding,
        config: HeadConfig,
        seed: int,
        fold: int,
        trained: HeadWeights,
    ):
        self.config, self.seed = config, seed
        self.arrays = feature_set.arrays(fold)
        dims = (feature_set.n_features, *encoding.hidden_units, feature_set.n_classes)
        if tuple(trained.dims) != dims:
            raise ValueError(f"The unpruned reference has widths {trained.dims}, the head {dims}.")
        self.trained = trained
        self.targets = {"fc1": [0], "fc2": [1], "both": [0, 1], "fs": [0]}[encoding.name]

    def kernel(self, layer: int) -> np.ndarray:
        """The trained kernel of hidden layer ``layer`` (0: ``fc1``)."""
        return np.asarray(self.trained.layers[layer].kernel)

    def kernel_masks(self, masks: dict) -> tuple:
        """One entry per layer of the head: the mask of ``masks`` ({layer: 0/1 kernel mask}) or None."""
        return tuple(masks.get(layer) for layer in range(len(self.trained.layers)))

    def fine_tune(self, masks: dict) -> TrainedHead:
        """The trained head pruned by ``masks`` ({layer: 0/1 kernel mask}), then fine-tuned."""
        x, y = self.arrays["train"]
        schedule = MaskSchedule.fixed(self.kernel_masks(masks))
        return fine_tune(self.config, self.trained, x, y, derive_seed(self.seed, "fine-tune"), schedule)

    def scores(self, head: TrainedHead) -> tuple[float, float, float]:
        """Validation, test and hold-out accuracy of ``head`` (NaN for an empty part)."""
        return tuple(_accuracy(head.logits, *self.arrays[part]) for part in SCORED_PARTS)


SCORED_PARTS = ("val", "test", "holdout")


def _accuracy(predict_scores, x: np.ndarray, y: np.ndarray) -> float:
    if not len(y):
        return float("nan")
    return float(np.mean(np.argmax(predict_scores(x), axis=1) == y))


def linear_probe(feature_set: FeatureSet, fold: int = 0) -> dict:
    """Logistic regression on one split's features; C chosen on validation (ties: the stronger penalty).

    Returns the C chosen and the validation, test and hold-out accuracies
    (NaN for an empty part). Without a validation part C = 1.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    arrays = feature_set.arrays(fold)
    has_val = len(arrays["val"][1]) > 0
    best = None
    for c in LINEAR_PROBE_C if has_val else (1.0,):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))
        model.fit(*arrays["train"])
        scores = {f"{part}_accuracy": _accuracy(model.predict_proba, *arrays[part]) for part in SCORED_PARTS}
        if best is None or scores["val_accuracy"] > best["val_accuracy"]:
            best = {"C": c, **scores}
    return best


def _layer_sparsities(encoding: Encoding, mask: np.ndarray, targets: list) -> dict:
    masks = encoding.head_masks(mask)
    if encoding.name == "fs":
        return {0: 1 - float(masks.inputs.mean())}
    return {layer: 1 - float(masks.hidden[layer].mean()) for layer in targets}


def run_baselines(
    feature_set: FeatureSet,
    encoding: Encoding,
    config: HeadConfig,
    protocol: str,
    seed: int,
    best_mask: np.ndarray,
    n_random: int = 3,
    with_references: bool = True,
    reference=None,
    fitness_config=None,
    split_seed: int = 0,
) -> list[dict]:
    """Score every baseline at the sparsity of ``best_mask``.

    ``with_references=False`` leaves out the two that do not depend on the
    sparsity (the unpruned head and the linear probe), for callers scoring
    several sparsities. ``reference`` is the run's unpruned head (a
    :class:`~evoprune_deap.head.scoring.HeadScore` with its fold weights, see
    :func:`~evoprune_deap.run.finish.train_reference`): its row is the
    ``unpruned`` one, and the one-shot and gradual methods prune it. Without
    it, it is trained here by the run's rule (the same head: the run seed and
    the full mask give its seed). Random masks train by that rule too, and are
    scored by the run's ``fitness_config`` (seeds, repeats, folds; ``split_seed``
    draws the folds), so their test figure is that of their deployed head.

    Returns
    -------
    list of dict
        One row per (method, draw): method, draw, val_accuracy, test_accuracy,
        holdout_accuracy (NaN without a hold-out), active_percent (of the
        encoding's units), ``C`` for the linear probe and, for weight methods,
        the weight sparsity reached in each pruned layer.
    """
    best_mask = encoding.check_mask(best_mask)
    fitness = MaskFitness(
        feature_set, encoding, config, protocol, seed, fitness_config=fitness_config, split_seed=split_seed
    )
    if reference is None:
        reference = fitness.score(encoding.full_mask(), with_test=True)
    rows = _reference_rows(feature_set, reference) if with_references else []
    rng = make_rng(derive_seed(seed, "random-baseline"))
    for draw, mask in enumerate(random_masks(encoding, best_mask, n_random, rng)):
        score = fitness.score(mask, with_test=True)
        rows.append(
            {
                "method": "random",
                "draw": draw,
                **_score_columns(score),
                "active_percent": 100.0 * float(mask.mean()),
            }
        )
    return rows + _pruning_rows(feature_set, encoding, config, seed, best_mask, reference)


def _reference_rows(feature_set: FeatureSet, reference) -> list[dict]:
    """The rows that do not depend on the sparsity: the unpruned head, the linear probe (mean of folds)."""
    probes = [linear_probe(feature_set, fold) for fold in range(len(feature_set.splits))]
    return [
        {"method": "unpruned", "draw": 0, **_score_columns(reference), "active_percent": 100.0},
        {
            "method": "linear_probe",
            "draw": 0,
            "active_percent": 100.0,
            **{name: float(np.mean([p[name] for p in probes])) for name in probes[0]},
        },
    ]


def _pruning_rows(feature_set, encoding, config, seed: int, best_mask: np.ndarray, reference) -> list[dict]:
    """One row per pruning method, at the sparsity of ``best_mask``: scores averaged over the folds, and
    the weight sparsity reached in each pruned layer (of the last fold)."""
    per_fold = {m: [] for m in ("weight_magnitude", "neuron_l2", "polynomial_decay")}
    reached = {m: {} for m in per_fold}
    for fold in range(len(feature_set.splits)):
        head = PrunableHead(
            feature_set,
            encoding,
            config,
            derive_seed(seed, "baseline-head", fold),
            fold,
            reference.fold_weights[fold],
        )
        sparsity = _layer_sparsities(encoding, best_mask, head.targets)
        for method in per_fold:
            if method == "polynomial_decay":
                trained, masks = _polynomial_decay(head, sparsity)
            else:
                masks = _one_shot_masks(method, head, encoding, best_mask, sparsity)
                trained = head.fine_tune(masks)
            per_fold[method].append(head.scores(trained))
            reached[method] = {f"fc{layer + 1}": 1 - float(masks[layer].mean()) for layer in sparsity}
    active_percent = 100.0 * float(best_mask.mean())
    return [
        {
            "method": method,
            "draw": 0,
            "active_percent": active_percent,
            **{
                f"{part}_accuracy": float(value) for part, value in zip(SCORED_PARTS, np.mean(scores, axis=0))
            },
            **{f"weight_sparsity_{k}": v for k, v in reached[method].items()},
        }
        for method, scores in per_fold.items()
    ]


def _score_columns(score) -> dict:
    holdout = float("nan") if score.holdout_accuracy is None else score.holdout_accuracy
    return {
        "val_accuracy": score.val_accuracy,
        "test_accuracy": score.test_accuracy,
        "holdout_accuracy": holdout,
    }


def _one_shot_masks(method: str, head: PrunableHead, encoding: Encoding, best_mask, sparsity: dict) -> dict:
    """The kernel masks of ``weight_magnitude`` or ``neuron_l2`` on the trained head, {layer: mask}."""
    masks, counts = {}, encoding.head_masks(best_mask)
    for layer, target in sparsity.items():
        kernel = head.kernel(layer)
        if method == "weight_magnitude":
            masks[layer] = magnitude_mask(kernel, target)
        elif encoding.name == "fs":  # neuron_l2 on the inputs: rows, by their outgoing weights
            masks[layer] = neuron_mask(kernel, int(counts.inputs.sum()), axis=1)
        else:  # neuron_l2 on units: columns, by their incoming weights
            masks[layer] = neuron_mask(kernel, int(counts.hidden[layer].sum()), axis=0)
    return masks


def _polynomial_decay(head: PrunableHead, sparsity: dict) -> tuple[TrainedHead, dict]:
    """Gradual magnitude pruning on the paper's schedule (51 epochs in all, no early stopping).

    At epochs 0, 5, ..., 25 each pruned layer's kernel is pruned to
    :func:`polynomial_sparsity` by magnitude (weights pruned before stay
    pruned: they are zero). The epochs shuffle as Keras ``fit`` did when
    seeded once with the head's seed (:func:`~evoprune_deap.head.fine_tune.seeded_once_orders`),
    so the figures are those of the earlier Keras implementation. Returns
    the trained head and the final masks.
    """
    current = {}

    def masks(epoch: int, weights: HeadWeights) -> tuple:
        for layer, final in sparsity.items():
            kernel = np.asarray(weights.layers[layer].kernel)
            current[layer] = magnitude_mask(kernel, polynomial_sparsity(epoch, final))
        return head.kernel_masks(current)

    x, y = head.arrays["train"]
    n_epochs = POLY_END_EPOCH + POLY_EXTRA_EPOCHS
    schedule = MaskSchedule(tuple(range(0, POLY_END_EPOCH + 1, POLY_FREQUENCY)), masks)
    trained = fine_tune(
        head.config,
        head.trained,
        x,
        y,
        head.seed,
        schedule,
        epochs=n_epochs,
        early_stopping=False,
        orders=seeded_once_orders(head.seed, len(y), n_epochs),
    )
    return trained, current
