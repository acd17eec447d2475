"""Many heads in one compiled program: the ``batched`` engine, for GPUs.

One head of 1280-512-512 uses a sliver of a GPU. This engine trains P heads
of one encoding together: the per-head protocol of
:func:`~evoprune_deap.head.compiled.protocol_program` vmapped over a leading
head axis, in one ``jax.jit`` program. Heads are grouped by padded shape
(each layer's active width rounded up to a power of two, so that few programs
compile; the padding masked, as for one head), and each keeps its own initial
weights, unit masks, input columns, epoch shuffles, early stopping (the
vmapped while loop freezes a stopped head while the others go on) and epoch
count. A head's shape depends on its own mask only, and its arithmetic does
not depend on the other heads, so a mask's weights and fitness are bit for
bit the same in any batch (tested); they equal training it alone with the
``compiled`` engine to float rounding (weights within 1e-6, tested).

Batches are capped by memory (:func:`head_bytes`, :func:`memory_budget`)
and split when larger; the number of heads is padded to a power of two with
copies whose results are dropped, again to bound the programs compiled.
"""

from __future__ import annotations

import numpy as np

from ..config import HeadConfig
from .compiled import SEGMENT_EPOCHS, batched, epoch_orders, initial_state, protocol_program

MAX_HEADS = 256
"""Most heads in one program."""
CPU_MEMORY_BYTES = 4 * 2**30
"""Memory a batch may use where the device does not report its own (the CPU)."""
DEVICE_MEMORY_FRACTION = 0.5
"""Share of a GPU's free memory a batch may use."""


def bucket_width(width: int, total: int, smallest: int = 16) -> int:
    """The power of two >= ``width`` (at least ``smallest``), capped at ``total``."""
    return min(total, max(smallest, 1 << (int(width) - 1).bit_length()))


def head_bytes(dims: tuple, n_samples: int, batch_size: int) -> int:
    """Device memory one head of widths ``dims`` takes in a batch (an estimate, float32).

    Weights, best weights, momentum and gradients (4 copies of the
    parameters), one segment's epoch orders and one batch's activations.
    """
    parameters = sum(a * b + b for a, b in zip(dims[:-1], dims[1:]))
    return 4 * (4 * parameters + SEGMENT_EPOCHS * n_samples + 4 * batch_size * sum(dims))


def memory_budget() -> int:
    """Bytes a batch may use: a share of the device's free memory, or :data:`CPU_MEMORY_BYTES`."""
    import jax

    stats = jax.devices()[0].memory_stats() or {}
    if "bytes_limit" in stats:
        return int(DEVICE_MEMORY_FRACTION * (stats["bytes_limit"] - stats.get("bytes_in_use", 0)))
    return CPU_MEMORY_BYTES


def split_batches(n_heads: int, per_head: int, budget: int, max_heads: int = MAX_HEADS) -> list[range]:
    """Consecutive ranges of heads, each within ``budget`` bytes and ``max_heads``, sizes as equal as can be."""
    size = max(1, min(max_heads, budget // max(per_head, 1)))
    n_batches = -(-n_heads // size)
    bounds = np.linspace(0, n_heads, n_batches + 1).round().astype(int)
    return [range(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def _stack(trees: list):
    import jax
    import jax.numpy as jnp

    return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *trees)


class BatchedFit:
    """Train P heads of one padded shape at once with the paper's protocol.

    Parameters
    ----------
    model : keras.Model
        The compiled padded head (its variables give the layout; their
        values are not used).
    config : HeadConfig
    """

    def __init__(self, model, config: HeadConfig):
        import jax

        self.model, self.config = model, config
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        vmapped = jax.vmap(protocol_program(model, config), in_axes=(0, 0, None, None, 0, 0, None, None, None))
        self._run = jax.jit(vmapped)

    def __call__(self, x: np.ndarray, y: np.ndarray, starts: list, unit_masks: list, columns: list | None,
                 seeds: list) -> list[tuple[int, list, list]]:
        """Train one head per entry; return (epochs, best trainable values, epoch losses) of each.

        ``starts[i]``: the head's initial trainable values (padded);
        ``unit_masks[i]``: its non-trainable values; ``columns[i]``: the
        indices of its inputs in ``x``, padded with ``x.shape[1]`` (a zero
        column), or None for every head taking all of ``x``.
        """
        import jax.numpy as jnp

        n_heads, n_epochs, n_samples = len(starts), self.config.max_epochs, x.shape[0]
        # A power of two, at least 2: few programs compile, and XLA lowers a batch of one head
        # differently (other rounding), which would make a head's weights depend on its batch.
        width = max(2, 1 << (n_heads - 1).bit_length())
        take = list(range(n_heads)) + [0] * (width - n_heads)
        optimizer_state = [v.value for v in self.model.optimizer.variables]
        state = _stack([initial_state(list(starts[i]), optimizer_state, n_epochs) for i in take])
        masks = _stack([list(unit_masks[i]) for i in take])
        cols = None if columns is None else jnp.asarray(np.stack([columns[i] for i in take]), jnp.int32)
        data = (jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.int32))
        seeds = [seeds[i] for i in take]
        for first in range(0, n_epochs, SEGMENT_EPOCHS):
            until = min(first + SEGMENT_EPOCHS, n_epochs)
            stopped = np.asarray(state[6])
            orders = np.zeros((width, until - first, n_samples), dtype=np.int32)
            for i in np.flatnonzero(~stopped):
                orders[i] = epoch_orders(seeds[i], n_samples, until - first, first)
            indices, weights = batched(orders.reshape(-1, n_samples), self.config.batch_size)
            indices = indices.reshape(width, until - first, *indices.shape[1:])
            state = self._run(state, masks, *data, cols, jnp.asarray(indices), jnp.asarray(weights),
                              jnp.int32(first), jnp.int32(until))
            if bool(np.all(np.asarray(state[6]))):
                break
        epochs, losses = np.asarray(state[0]), np.asarray(state[7])
        best = [np.asarray(leaf) for leaf in state[4]]
        return [(int(epochs[i]), [leaf[i] for leaf in best], losses[i, :epochs[i]].tolist())
                for i in range(n_heads)]
