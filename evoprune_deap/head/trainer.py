"""The one trainer: the paper's training protocol as one pure JAX function over P heads.

:func:`protocol` builds ``run(state, unit_masks, x, y, columns, orders,
sample_weights, first, until) -> state``: up to ``max_epochs`` epochs of
shuffled mini-batch SGD (Nesterov momentum, as Keras' ``SGD``), each epoch's
mean training loss (Keras' sparse categorical cross-entropy on the softmax),
and EarlyStopping on that loss (``min_delta``, ``patience``, the best
epoch's weights kept), inside one ``jax.lax.while_loop``. Its state is a
:class:`TrainState`, read by field; weights are a
:class:`~evoprune_deap.head.weights.HeadWeights` pytree. For one head
(P = 1) it is jitted as it is; for P heads it is ``jax.vmap``-ped over a
leading head axis, so each head keeps its own weights, unit masks, inputs,
shuffles and early stopping (a stopped head is frozen while others go on).

A mask's head is built physically: only its active inputs and units, its
initial weights sliced from one full-width Glorot draw, so it computes what
the full-width head times 0/1 masks computes (tested against Keras ``fit``
of that masked head, :func:`~evoprune_deap.head.models.stack.fit_head`: the epoch
shuffles are the ones that function makes Keras draw, :func:`epoch_orders`).
Widths are padded by the one rule of :func:`~evoprune_deap.head.forward.padded_width`, fine where
heads train alone, by powers of two where they train batched (so that heads of different densities
share a program); a head's padded shape depends on its own mask only.

:class:`HeadTrainer` chooses P: one head per program on a CPU (measured
faster there, ``benchmarks/batched_speed.py``), heads of one padded shape
together on a GPU, or as ``[head] engine`` says (:mod:`~evoprune_deap.head.batching`).
The pruning baselines run the same protocol from given weights, with kernel
masks and without early stopping where they ask (:mod:`~evoprune_deap.head.fine_tune`).
Keras is not used here.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from ..config import HeadConfig
from ..seeding import derive_seed
from .batching import SEGMENT_EPOCHS, head_bytes, heads_per_program, memory_budget, split_batches
from .forward import COARSE, FINE, TrainedHead, forward, pad_inputs, padded_dims
from .masks import HeadMasks
from .weights import HeadWeights

EPSILON = 1e-7
"""Keras' fuzz factor, clipping probabilities in the cross-entropy."""


class TrainState(NamedTuple):
    """Where the protocol stands: what ``run`` takes and returns (one head; vmapped, a leading head axis)."""

    epoch: object  # int32: epochs run so far
    weights: HeadWeights
    velocity: HeadWeights  # SGD momentum, one array per weight
    best_loss: object  # float32
    best_weights: HeadWeights
    wait: object  # int32: epochs since the last improvement
    stopped: object  # bool: early stopping fired
    losses: object  # float32 (max_epochs,): each epoch's loss, NaN where not run


def initial_state(weights: HeadWeights, n_epochs: int) -> TrainState:
    """The state training starts from: epoch 0, zero momentum, no best yet."""
    import jax
    import jax.numpy as jnp

    weights = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float32), weights)
    return TrainState(
        jnp.int32(0),
        weights,
        jax.tree_util.tree_map(jnp.zeros_like, weights),
        jnp.float32(jnp.inf),
        weights,
        jnp.int32(0),
        jnp.bool_(False),
        jnp.full(n_epochs, jnp.nan, jnp.float32),
    )


def crossentropy(logits, labels):
    """Per-sample sparse categorical cross-entropy of softmax(logits), as Keras computes it."""
    import jax
    import jax.numpy as jnp

    probabilities = jax.nn.softmax(logits, axis=-1)
    probabilities = probabilities / jnp.sum(probabilities, axis=-1, keepdims=True)
    log_prob = jnp.log(jnp.clip(probabilities, EPSILON, 1.0 - EPSILON))
    return -jnp.sum(jax.nn.one_hot(labels, logits.shape[-1]) * log_prob, axis=-1)


def sgd(weights: HeadWeights, velocity: HeadWeights, grads: HeadWeights, config: HeadConfig):
    """One step of Keras' SGD (momentum, optionally Nesterov), leaf by leaf; returns (weights, velocity)."""
    import jax
    import jax.numpy as jnp

    rate, momentum = jnp.float32(config.learning_rate), jnp.float32(config.momentum)
    if config.momentum == 0:
        return jax.tree_util.tree_map(lambda w, g: w - g * rate, weights, grads), velocity
    velocity = jax.tree_util.tree_map(lambda m, g: m * momentum - g * rate, velocity, grads)
    if config.nesterov:
        weights = jax.tree_util.tree_map(
            lambda w, m, g: w + (m * momentum - g * rate), weights, velocity, grads
        )
    else:
        weights = jax.tree_util.tree_map(lambda w, m: w + m, weights, velocity)
    return weights, velocity


def apply_kernel_masks(weights: HeadWeights, kernel_masks) -> HeadWeights:
    """Each kernel times its 0/1 mask (a layer whose mask is None is left as it is); biases untouched."""
    return HeadWeights(
        tuple(
            layer if mask is None else layer._replace(kernel=layer.kernel * mask)
            for layer, mask in zip(weights.layers, kernel_masks)
        )
    )


def protocol(config: HeadConfig, early_stopping: bool = True):
    """The paper's protocol for one head, as a pure function (see the module docstring).

    ``run(state, unit_masks, x, y, columns, orders, sample_weights, first, until, kernel_masks=None)``
    runs epochs from ``state`` until epoch ``until`` or early stopping.
    ``orders`` (epochs, steps, batch) holds the sample indices of the
    batches of epochs ``first, first + 1, ...``; ``sample_weights`` (steps,
    batch) marks their real samples (the last batch is padded). ``columns``
    (or None) picks the head's inputs from ``x``, where an index past the
    real columns reads zeros. ``kernel_masks`` (or None): a 0/1 array or
    None per layer, multiplied into that kernel after every update, so a
    pruned weight stays exactly zero. Without ``early_stopping`` every epoch
    runs and the weights kept are the last epoch's (Keras ``fit`` with no callback).
    """
    import jax
    import jax.numpy as jnp

    def run(
        state: TrainState, unit_masks, x, y, columns, orders, sample_weights, first, until, kernel_masks=None
    ) -> TrainState:
        n_samples = jnp.sum(sample_weights)
        if columns is not None:  # a zero column for the padding inputs
            x = jnp.concatenate([x, jnp.zeros((x.shape[0], 1), x.dtype)], axis=1)
        step = _batch_step(config, unit_masks, x, y, columns, kernel_masks)

        def epoch(state: TrainState) -> TrainState:
            (weights, velocity, total), _ = jax.lax.scan(
                step,
                (state.weights, state.velocity, jnp.float32(0.0)),
                (orders[state.epoch - first], sample_weights),
            )
            return _end_epoch(state, weights, velocity, total / n_samples, config, early_stopping)

        return jax.lax.while_loop(lambda s: (s.epoch < until) & ~s.stopped, epoch, state)

    return run


def _batch_step(config: HeadConfig, unit_masks, x, y, columns, kernel_masks):
    """One batch of an epoch, for ``jax.lax.scan``: the loss and its gradient, the SGD update, the kernel
    masks; the carry sums the epoch's loss (weighted by the batch's real samples)."""
    import jax
    import jax.numpy as jnp

    def batch_loss(weights, xb, yb, wb):
        return jnp.sum(crossentropy(forward(weights, xb, unit_masks), yb) * wb) / jnp.sum(wb)

    gradient = jax.value_and_grad(batch_loss)

    def step(carry, batch):
        weights, velocity, total = carry
        index, wb = batch
        xb = x[index] if columns is None else x[index][:, columns]
        loss, grads = gradient(weights, xb, y[index], wb)
        weights, velocity = sgd(weights, velocity, grads, config)
        if kernel_masks is not None:
            weights = apply_kernel_masks(weights, kernel_masks)
        return (weights, velocity, total + loss * jnp.sum(wb)), None

    return step


def _end_epoch(state: TrainState, weights, velocity, loss, config: HeadConfig, early_stopping: bool):
    """The state after an epoch whose mean training loss is ``loss``: Keras' EarlyStopping on the training
    loss (min_delta, patience, best weights kept), or every epoch counted without ``early_stopping``."""
    import jax
    import jax.numpy as jnp

    min_delta, patience = jnp.float32(config.min_delta), config.patience
    # keras.callbacks.EarlyStopping: the first epoch always counts as an improvement;
    # without early stopping every epoch does (the last one's weights are kept).
    improved = (state.epoch == 0) | (loss + min_delta < state.best_loss)
    if not early_stopping:
        improved = jnp.bool_(True)
    wait = jnp.where(improved, 0, state.wait + 1)
    return TrainState(
        epoch=state.epoch + 1,
        weights=weights,
        velocity=velocity,
        best_loss=jnp.where(improved, loss, state.best_loss),
        best_weights=jax.tree_util.tree_map(
            lambda new, old: jnp.where(improved, new, old), weights, state.best_weights
        ),
        wait=wait,
        stopped=~improved & (wait >= patience) & (state.epoch > 0),
        losses=state.losses.at[state.epoch].set(loss),
    )


@functools.cache
def programs(config: HeadConfig, early_stopping: bool = True):
    """The jitted protocol for one head and for P heads (vmapped), shared by every trainer of ``config``."""
    import jax

    run = protocol(config, early_stopping)
    return jax.jit(run), jax.jit(jax.vmap(run, in_axes=(0, 0, None, None, 0, 0, None, None, None)))


def epoch_orders(seed: int, n_samples: int, n_epochs: int, first: int = 0) -> np.ndarray:
    """Sample order of epochs ``first .. first + n_epochs - 1``, shape (n_epochs, n_samples).

    Epoch ``e`` is ``np.random.permutation(n_samples)`` right after numpy's
    global generator is seeded with ``derive_seed(seed, "epoch", e)``: what
    :func:`~evoprune_deap.head.models.stack.fit_head` makes Keras' ``fit`` draw.
    """
    orders = np.empty((n_epochs, n_samples), dtype=np.int32)
    for row, epoch in enumerate(range(first, first + n_epochs)):
        orders[row] = np.random.RandomState(derive_seed(seed, "epoch", epoch)).permutation(n_samples)
    return orders


def batch_indices(orders: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Split each epoch's order into batches, the last one padded.

    Returns indices (n_epochs, n_steps, batch_size) and 0/1 weights
    (n_steps, batch_size) marking the real samples of each batch.
    """
    n_epochs, n_samples = orders.shape
    n_steps = -(-n_samples // batch_size)
    padding = n_steps * batch_size - n_samples
    indices = np.concatenate([orders, np.zeros((n_epochs, padding), dtype=orders.dtype)], axis=1)
    weights = np.concatenate([np.ones(n_samples, np.float32), np.zeros(padding, np.float32)])
    return indices.reshape(n_epochs, n_steps, batch_size), weights.reshape(n_steps, batch_size)


def _columns(masks: list, width: int, n_features: int):
    """Each head's input columns, padded to ``width`` with ``n_features`` (a zero column); None where
    every head reads all of x (no gather)."""
    import jax.numpy as jnp

    if all(m.inputs.all() for m in masks):
        return None
    return jnp.asarray(
        np.stack(
            [
                np.pad(np.flatnonzero(m.inputs), (0, width - m.n_active[0]), constant_values=n_features)
                for m in masks
            ]
        ),
        jnp.int32,
    )


def _stack(trees: list):
    import jax
    import jax.numpy as jnp

    return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *trees)


class HeadTrainer:
    """Trains physically pruned heads of one feature width and class count.

    Parameters
    ----------
    n_features, n_classes : int
    config : HeadConfig
        The head's widths, bias, optimiser, training protocol and ``engine``
        (how many heads share a program, :func:`heads_per_program`).
    """

    def __init__(self, n_features: int, n_classes: int, config: HeadConfig):
        self.n_features, self.n_classes, self.config = n_features, n_classes, config
        self.heads_per_program = heads_per_program(config.engine)
        self.steps_per_octave = FINE if self.heads_per_program == 1 else COARSE

    def initial_weights(self, masks: HeadMasks, seed: int) -> HeadWeights:
        """The physical head's initial weights: sliced from the full-width draw of ``seed``."""
        dims = (self.n_features, *masks.n_total[1:], self.n_classes)
        return HeadWeights.glorot(dims, seed, self.config.use_bias).select(masks)

    def train(self, masks: HeadMasks, x: np.ndarray, y: np.ndarray, seed: int) -> TrainedHead:
        """Train the head of ``masks`` on (x, y), x of shape (n, n_features), from seed ``seed``."""
        return self.train_many([masks], x, y, [seed])[0]

    def train_many(self, masks: list, x: np.ndarray, y: np.ndarray, seeds: list) -> list[TrainedHead]:
        """Train the head of each mask on (x, y), each from its seed.

        One head per program, or (``heads_per_program`` > 1) the heads of
        one padded shape together, in batches capped by memory. A head's
        result never depends on the other heads of its batch (tested).
        """
        if self.heads_per_program == 1:
            return [self._train_one(m, x, y, seed) for m, seed in zip(masks, seeds)]
        groups: dict[tuple, list[int]] = {}
        for i, m in enumerate(masks):
            groups.setdefault(padded_dims(m, self.n_classes, self.steps_per_octave), []).append(i)
        heads = [None] * len(masks)
        budget = memory_budget()
        for dims, members in groups.items():
            per_head = head_bytes(dims, x.shape[0], self.config.batch_size)
            for part in split_batches(len(members), per_head, budget, self.heads_per_program):
                chosen = [members[k] for k in part]
                trained = self._train_batch(
                    dims, [masks[i] for i in chosen], x, y, [seeds[i] for i in chosen]
                )
                for i, head in zip(chosen, trained):
                    heads[i] = head
        return heads

    def _unit_masks(self, masks: HeadMasks, dims: tuple) -> tuple:
        return tuple(np.arange(width, dtype=np.int64) < n for width, n in zip(dims[1:-1], masks.n_active[1:]))

    def _finish(self, masks: HeadMasks, best: HeadWeights, epochs: int, losses) -> TrainedHead:
        physical = (*masks.n_active, self.n_classes)
        weights = best.numpy().resize(physical)
        return TrainedHead(
            masks=masks, weights=weights, losses=tuple(float(v) for v in losses[:epochs]), config=self.config
        )

    def _train_one(self, masks: HeadMasks, x, y, seed: int) -> TrainedHead:
        import jax.numpy as jnp

        single, _ = programs(self.config)
        dims, n_epochs = padded_dims(masks, self.n_classes, self.steps_per_octave), self.config.max_epochs
        start = self.initial_weights(masks, seed).resize(dims)
        unit_masks = tuple(jnp.asarray(m, jnp.float32) for m in self._unit_masks(masks, dims))
        orders, sample_weights = batch_indices(
            epoch_orders(seed, x.shape[0], n_epochs), self.config.batch_size
        )
        data = (
            jnp.asarray(pad_inputs(x, masks, dims[0])),
            jnp.asarray(y, jnp.int32),
            None,
            jnp.asarray(orders),
            jnp.asarray(sample_weights),
            jnp.int32(0),
        )
        state = initial_state(start, n_epochs)
        for until in range(SEGMENT_EPOCHS, n_epochs + SEGMENT_EPOCHS, SEGMENT_EPOCHS):
            state = single(state, unit_masks, *data, jnp.int32(min(until, n_epochs)))
            if bool(state.stopped):
                break
        return self._finish(masks, state.best_weights, int(state.epoch), np.asarray(state.losses))

    def _train_batch(self, dims: tuple, masks: list, x, y, seeds: list) -> list[TrainedHead]:
        import jax.numpy as jnp

        _, batched = programs(self.config)
        n_heads, n_epochs, n_samples = len(masks), self.config.max_epochs, x.shape[0]
        # A power of two, at least 2: few programs compile, and XLA lowers a batch of one head
        # differently (other rounding), which would make a head's weights depend on its batch.
        width = max(2, 1 << (n_heads - 1).bit_length())
        take = list(range(n_heads)) + [0] * (width - n_heads)
        state = _stack(
            [initial_state(self.initial_weights(masks[i], seeds[i]).resize(dims), n_epochs) for i in take]
        )
        unit_masks = _stack(
            [tuple(jnp.asarray(m, jnp.float32) for m in self._unit_masks(masks[i], dims)) for i in take]
        )
        columns = _columns([masks[i] for i in take], dims[0], x.shape[1])
        data = (jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.int32), columns)
        for first in range(0, n_epochs, SEGMENT_EPOCHS):
            until = min(first + SEGMENT_EPOCHS, n_epochs)
            stopped = np.asarray(state.stopped)
            orders = np.zeros((width, until - first, n_samples), dtype=np.int32)
            for i in np.flatnonzero(~stopped):
                orders[i] = epoch_orders(seeds[take[i]], n_samples, until - first, first)
            indices, sample_weights = batch_indices(orders.reshape(-1, n_samples), self.config.batch_size)
            indices = indices.reshape(width, until - first, *indices.shape[1:])
            state = batched(
                state,
                unit_masks,
                *data,
                jnp.asarray(indices),
                jnp.asarray(sample_weights),
                jnp.int32(first),
                jnp.int32(until),
            )
            if bool(np.all(np.asarray(state.stopped))):
                break
        import jax

        epochs, losses = np.asarray(state.epoch), np.asarray(state.losses)
        best = jax.tree_util.tree_map(np.asarray, state.best_weights)
        return [
            self._finish(
                masks[i], jax.tree_util.tree_map(lambda a, i=i: a[i], best), int(epochs[i]), losses[i]
            )
            for i in range(n_heads)
        ]
