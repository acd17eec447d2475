"""The paper's training protocol as one compiled program (JAX backend).

``keras.Model.fit`` returns to Python after every epoch (callbacks, metrics,
the data iterator), and the heads here are small, so on this CPU that
overhead is a large share of an epoch. :class:`CompiledFit` runs the whole
protocol -- up to ``max_epochs`` epochs of shuffled mini-batch SGD, the
epoch's mean training loss, EarlyStopping(monitor="loss", min_delta,
patience, restore_best_weights=True) -- inside one ``jax.jit`` call, with the
training data on the device.

It computes what :func:`evoprune_deap.head.training.fit_head` computes with Keras'
``fit`` (tests compare the two): the same per-epoch shuffles (Keras' JAX
trainer draws ``np.random.permutation(n)`` after ``fit_head`` reseeds numpy
at each epoch, reproduced here by :func:`epoch_orders`), the same batches
(the last one smaller), the same Keras loss and optimizer (called through
Keras' stateless API), the same epoch loss (a running float32 mean weighted
by batch size) and the same early-stopping decisions. Only the compiled
program differs, so weights agree to float rounding.
"""

from __future__ import annotations

import numpy as np

from ..config import HeadConfig
from ..seeding import derive_seed


SEGMENT_EPOCHS = 50
"""Epochs per call of the compiled program (a few seconds of work)."""


def epoch_orders(seed: int, n_samples: int, n_epochs: int, first: int = 0) -> np.ndarray:
    """Sample order of epochs ``first .. first + n_epochs - 1``, shape (n_epochs, n_samples).

    Epoch ``e`` is ``np.random.permutation(n_samples)`` right after numpy's
    global generator is seeded with ``derive_seed(seed, "epoch", e)``: what
    :func:`evoprune_deap.head.training.fit_head` makes Keras' ``fit`` draw.
    """
    orders = np.empty((n_epochs, n_samples), dtype=np.int32)
    for row, epoch in enumerate(range(first, first + n_epochs)):
        orders[row] = np.random.RandomState(derive_seed(seed, "epoch", epoch)).permutation(n_samples)
    return orders


def batched(orders: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
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


def is_available() -> bool:
    """True when Keras runs on JAX, the backend this program is written for."""
    import keras

    return keras.backend.backend() == "jax"


def protocol_program(model, config: HeadConfig):
    """The paper's protocol for one head, as a pure function of arrays (to jit, or to vmap over heads).

    ``program(state, non_trainable, x, y, columns, indices, weights, first, until)``
    runs epochs from ``state`` until epoch ``until`` or early stopping and
    returns the new state: (epoch number, weights, optimizer state, best loss,
    best weights, epochs without improvement, stopped, loss of each epoch).
    ``indices`` (epochs, steps, batch) holds the batches of epochs
    ``first, first + 1, ...``; ``weights`` (steps, batch) marks their real
    samples. ``columns`` (or None) picks the head's inputs from each batch of
    ``x``, where a column index past the real ones reads zeros.
    """
    import jax
    import jax.numpy as jnp
    import keras

    optimizer = model.optimizer
    min_delta = jnp.float32(config.min_delta)
    patience = config.patience

    def program(state, non_trainable, x, y, columns, indices, weights, first, until):
        n_samples = jnp.sum(weights)
        if columns is not None:  # a zero column for the padding inputs
            x = jnp.concatenate([x, jnp.zeros((x.shape[0], 1), x.dtype)], axis=1)

        def batch_loss(trainable, xb, yb, wb):
            probabilities, _ = model.stateless_call(trainable, non_trainable, xb, training=True)
            per_sample = keras.losses.sparse_categorical_crossentropy(yb, probabilities)
            return jnp.sum(per_sample * wb) / jnp.sum(wb)

        gradient = jax.value_and_grad(batch_loss)

        def step(carry, batch):
            trainable, optimizer_state, total = carry
            index, wb = batch
            xb = x[index] if columns is None else x[index][:, columns]
            loss, grads = gradient(trainable, xb, y[index], wb)
            trainable, optimizer_state = optimizer.stateless_apply(optimizer_state, grads, trainable)
            return (trainable, optimizer_state, total + loss * jnp.sum(wb)), None

        def epoch(state):
            number, trainable, optimizer_state, best_loss, best, wait, _, losses = state
            (trainable, optimizer_state, total), _ = jax.lax.scan(
                step, (trainable, optimizer_state, jnp.float32(0.0)), (indices[number - first], weights))
            loss = total / n_samples
            # keras.callbacks.EarlyStopping: the first epoch always counts as an improvement.
            improved = (number == 0) | (loss + min_delta < best_loss)
            best_loss = jnp.where(improved, loss, best_loss)
            best = jax.tree_util.tree_map(lambda new, old: jnp.where(improved, new, old), trainable, best)
            wait = jnp.where(improved, 0, wait + 1)
            stop = ~improved & (wait >= patience) & (number > 0)
            losses = losses.at[number].set(loss)
            return number + 1, trainable, optimizer_state, best_loss, best, wait, stop, losses

        def running(state):
            return (state[0] < until) & ~state[6]

        return jax.lax.while_loop(running, epoch, state)

    return program


def initial_state(trainable: list, optimizer_state: list, n_epochs: int) -> tuple:
    """The state :func:`protocol_program` starts from."""
    import jax.numpy as jnp

    return (jnp.int32(0), trainable, optimizer_state, jnp.float32(jnp.inf), trainable, jnp.int32(0),
            jnp.bool_(False), jnp.full(n_epochs, jnp.nan, jnp.float32))


class CompiledFit:
    """Train one compiled Keras model with the paper's protocol in one call.

    Parameters
    ----------
    model : keras.Model
        Compiled with ``loss="sparse_categorical_crossentropy"`` and the
        optimizer to use; its current weights are the starting point and its
        optimizer state should be fresh (:func:`evoprune_deap.head.training.reset_optimizer`).
    config : HeadConfig
        ``batch_size``, ``max_epochs``, ``patience`` and ``min_delta``.
    """

    def __init__(self, model, config: HeadConfig):
        import jax

        self.model, self.config = model, config
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        self._run = jax.jit(protocol_program(model, config))
        self.history: list[float] = []

    def __call__(self, x: np.ndarray, y: np.ndarray, seed: int, max_epochs: int | None = None) -> int:
        """Train on (x, y) from the model's current weights; return the epochs run.

        The model ends with the best epoch's weights, as with
        ``restore_best_weights=True``; :attr:`history` holds each epoch's
        training loss. The program runs :data:`SEGMENT_EPOCHS` epochs per
        call, so Python (and Ctrl-C) gets control back every few seconds.
        """
        import jax.numpy as jnp

        model = self.model
        n_epochs = max_epochs or self.config.max_epochs
        indices, weights = batched(epoch_orders(seed, x.shape[0], n_epochs), self.config.batch_size)
        state = initial_state([v.value for v in model.trainable_variables],
                              [v.value for v in model.optimizer.variables], n_epochs)
        data = ([v.value for v in model.non_trainable_variables], jnp.asarray(x, jnp.float32),
                jnp.asarray(y, jnp.int32), None, jnp.asarray(indices), jnp.asarray(weights), jnp.int32(0))
        for until in range(SEGMENT_EPOCHS, n_epochs + SEGMENT_EPOCHS, SEGMENT_EPOCHS):
            state = self._run(state, *data, jnp.int32(min(until, n_epochs)))
            if bool(state[6]):
                break
        epochs, best, losses = int(state[0]), state[4], state[7]
        for variable, value in zip(model.trainable_variables, best):
            variable.assign(value)
        self.history = np.asarray(losses)[:epochs].tolist()
        return epochs
