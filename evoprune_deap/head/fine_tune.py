"""Fine-tuning a trained head under weight masks: the one trainer's protocol from given weights.

The pruning baselines (:mod:`evoprune_deap.compare.baselines`) start from the
run's trained unpruned head, switch weights off with 0/1 kernel masks (one
array per layer, or None for a layer left whole) and train on. They use the
trainer's pure protocol (:func:`~evoprune_deap.head.trainer.protocol`: the
same SGD, batches, shuffles and early stopping as every GA mask), which
multiplies each kernel by its mask after every update, so a pruned weight
stays exactly zero. A :class:`MaskSchedule` changes the masks at chosen
epochs (gradual pruning). The head keeps its full widths; it is scored by
:func:`~evoprune_deap.head.forward.forward` like any other.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from ..config import HeadConfig
from .forward import TrainedHead
from .masks import HeadMasks
from .trainer import (
    SEGMENT_EPOCHS,
    apply_kernel_masks,
    batch_indices,
    epoch_orders,
    initial_state,
    programs,
)
from .weights import HeadWeights


class MaskSchedule(NamedTuple):
    """Kernel masks over the epochs of a training.

    At the start of each epoch of ``epochs`` (the first is 0),
    ``masks(epoch, weights)`` gives the kernel masks in effect from that
    epoch on (a 0/1 array or None per layer), from the weights reached so far
    (numpy :class:`~evoprune_deap.head.weights.HeadWeights`, pruned weights
    zero): a magnitude schedule reads them, a table does not.
    """

    epochs: tuple
    masks: Callable

    @classmethod
    def fixed(cls, kernel_masks) -> "MaskSchedule":
        """The same masks for the whole training."""
        return cls((0,), lambda epoch, weights: kernel_masks)

    @classmethod
    def table(cls, masks_at: dict) -> "MaskSchedule":
        """The masks of a table ``{epoch: kernel masks}`` (it must have epoch 0)."""
        if 0 not in masks_at:
            raise ValueError(f"A mask schedule starts at epoch 0; the table has epochs {sorted(masks_at)}.")
        return cls(tuple(sorted(masks_at)), lambda epoch, weights: masks_at[epoch])


def seeded_once_orders(seed: int, n_samples: int, n_epochs: int) -> np.ndarray:
    """Sample order of each epoch when numpy's global generator is seeded once, with ``seed``, before
    training (Keras ``fit`` after ``keras.utils.set_random_seed(seed)``): successive permutations."""
    generator = np.random.RandomState(seed)
    return np.stack([generator.permutation(n_samples) for _ in range(n_epochs)]).astype(np.int32)


def fine_tune(
    config: HeadConfig,
    start: HeadWeights,
    x: np.ndarray,
    y: np.ndarray,
    seed: int,
    schedule: MaskSchedule | None = None,
    epochs: int | None = None,
    early_stopping: bool = True,
    orders: np.ndarray | None = None,
) -> TrainedHead:
    """Train the full-width head from the weights ``start`` on (x, y), under the masks of ``schedule``.

    Parameters
    ----------
    config : HeadConfig
        The optimiser, batch size and early stopping (``max_epochs`` unless ``epochs`` is given).
    start : HeadWeights
        The starting weights (e.g. the trained unpruned reference), inputs first.
    x, y : ndarray
        Training features (n, n_features) and labels.
    seed : int
        The epoch shuffles (:func:`~evoprune_deap.head.trainer.epoch_orders`), unless ``orders`` gives
        them, shape (epochs, n).
    schedule : MaskSchedule or None
        The kernel masks (None: no weight is pruned).
    early_stopping : bool
        False: every epoch runs and the last epoch's weights are kept.

    Returns
    -------
    TrainedHead
        All inputs and units; pruned weights exactly zero; one loss per epoch run.
    """
    import jax.numpy as jnp

    run = programs(config, early_stopping)[0]
    n_epochs = epochs or config.max_epochs
    orders = epoch_orders(seed, x.shape[0], n_epochs) if orders is None else np.asarray(orders)[:n_epochs]
    indices, sample_weights = batch_indices(orders, config.batch_size)
    changes = set() if schedule is None else {e for e in schedule.epochs if e < n_epochs}
    bounds = sorted(changes | set(range(0, n_epochs, SEGMENT_EPOCHS)) | {n_epochs})
    data = (jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.int32), None, jnp.asarray(indices))
    state, kernel_masks = initial_state(start, n_epochs), None
    for first, until in zip(bounds[:-1], bounds[1:]):
        if first in changes:
            masks = schedule.masks(first, state.weights.numpy())
            kernel_masks = tuple(None if m is None else jnp.asarray(m, jnp.float32) for m in masks)
            state = state._replace(weights=apply_kernel_masks(state.weights, kernel_masks))
        state = run(
            state, None, *data, jnp.asarray(sample_weights), jnp.int32(0), jnp.int32(until), kernel_masks
        )
        if bool(state.stopped):
            break
    epochs_run = int(state.epoch)
    return TrainedHead(
        masks=HeadMasks.full(start.dims[0], start.dims[1:-1]),
        weights=state.best_weights.numpy(),
        losses=tuple(float(v) for v in np.asarray(state.losses)[:epochs_run]),
        config=config,
    )
