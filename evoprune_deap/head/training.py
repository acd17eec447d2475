"""Training the head of a mask with the paper's protocol, physically pruned.

The head is ``features -> Dense(h1, relu) [-> Dense(h2, relu)] -> Dense(C, softmax)``.
A mask's head is built with only its active inputs and units, its initial
weights sliced from one full-width draw, so it computes exactly what the
full-width head multiplied by the 0/1 masks computes (tested against the
masked reference built by :func:`masked_reference_head`).

Active widths are padded to a multiple of :data:`WIDTH_MULTIPLE` with masked
units, so a run compiles a bounded number of head shapes, and one compiled
program (:class:`PaddedHead`) serves every mask of its shape.
"""

from __future__ import annotations

import numpy as np

from ..config import ENGINES, HeadConfig
from ..errors import ConfigError
from ..seeding import derive_seed
from .masks import HeadMasks
from .stack import build_stack, compile_head, set_unit_masks
from .trained import TrainedHead
from .weights import HeadWeights

WIDTH_MULTIPLE = 16
"""Active widths are rounded up to a multiple of this, the padding masked."""


def padded_width(n_active: int, n_total: int, multiple: int = WIDTH_MULTIPLE) -> int:
    """Smallest multiple of ``multiple`` >= n_active (at least one), capped at n_total."""
    return min(n_total, max(multiple, -(-n_active // multiple) * multiple))


def reset_optimizer(model) -> None:
    """Fresh optimizer state (iteration 0, zero momentum), learning rate kept."""
    if model.optimizer.built:
        for variable in model.optimizer.variables:
            if not variable.path.endswith("learning_rate"):
                variable.assign(np.zeros(tuple(variable.shape), dtype=variable.dtype))


def fit_head(model, x: np.ndarray, y: np.ndarray, config: HeadConfig, seed: int,
             max_epochs: int | None = None) -> list[float]:
    """Train a compiled Keras head with ``fit`` and the paper's protocol; return each epoch's loss.

    SGD (from ``config``), batch ``config.batch_size``, at most ``max_epochs``
    (default ``config.max_epochs``) epochs, EarlyStopping on the training loss
    (``min_delta``, ``patience``, restoring the best weights).

    Keras (and so Python's and numpy's global generators) is reseeded from
    ``seed`` at the start of every epoch, so each epoch's shuffle depends only
    on (seed, epoch), not on whether Keras drew numbers while building a fresh
    model: a reused model trains exactly like a new one.
    """
    import keras

    keras.utils.set_random_seed(seed)
    stop = keras.callbacks.EarlyStopping(monitor="loss", min_delta=config.min_delta,
                                         patience=config.patience, restore_best_weights=True)
    reseed = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: keras.utils.set_random_seed(derive_seed(seed, "epoch", epoch)))
    history = model.fit(x, y, batch_size=config.batch_size, epochs=max_epochs or config.max_epochs,
                        shuffle=True, verbose=0, callbacks=[reseed, stop])
    return [float(loss) for loss in history.history["loss"]]


def masked_reference_head(masks: HeadMasks, n_classes: int, config: HeadConfig, weights: HeadWeights):
    """The reference design: the full-width head with its inputs and units multiplied by 0/1 masks."""
    model = build_stack(masks.inputs.shape[0], masks.n_total[1:], n_classes, config,
                        unit_masks=True, input_mask=True, name="masked_head")
    weights.assign_to(model)
    set_unit_masks(model, masks)
    return compile_head(model, config)


def resolve_engine(engine: str) -> str:
    """``auto`` -> ``batched`` on a JAX GPU, ``compiled`` on a JAX CPU, else ``keras-fit``; check the others."""
    from .compiled import is_available

    if engine not in ENGINES:
        raise ConfigError(f"Invalid value for `engine`: expected one of {ENGINES}. Received: engine={engine!r}.")
    if engine in ("compiled", "batched") and not is_available():
        raise ConfigError(f"engine {engine!r} needs the JAX Keras backend; set KERAS_BACKEND=jax "
                          "or use engine 'keras-fit'.")
    if engine == "auto":
        if not is_available():
            return "keras-fit"
        import jax

        return "batched" if jax.default_backend() == "gpu" else "compiled"
    return engine


class PaddedHead:
    """One compiled Keras head of a padded shape, reused by every mask of that shape.

    Hidden layers are followed by unit masks (active units first, then the
    masked padding); the inputs are zero-padded. Both engines compute the same
    weights (tested): ``compiled`` runs the whole protocol in one XLA program
    (:class:`~evoprune_deap.head.compiled.CompiledFit`), ``keras-fit`` runs
    :func:`fit_head` with one execution per epoch.
    """

    def __init__(self, shape: tuple, n_classes: int, config: HeadConfig, engine: str, n_samples: int):
        self.shape, self.config, self.engine = shape, config, engine
        self.dims = (*shape, n_classes)
        steps = -(-n_samples // config.batch_size) if engine == "keras-fit" else 1
        model = build_stack(shape[0], shape[1:], n_classes, config, unit_masks=True, name="padded_head")
        self.model = compile_head(model, config, steps_per_execution=steps)
        self._fit = self.batched_fit = None
        if engine == "compiled":
            from .compiled import CompiledFit

            self._fit = CompiledFit(self.model, config)
        elif engine == "batched":
            from .batched import BatchedFit

            self.batched_fit = BatchedFit(self.model, config)

    def pad_inputs(self, x: np.ndarray, masks: HeadMasks) -> np.ndarray:
        """The active columns of x (n, n_features), zero-padded to the padded input width."""
        selected = x[:, masks.inputs]
        if selected.shape[1] == self.shape[0]:
            return selected
        return np.pad(selected, ((0, 0), (0, self.shape[0] - selected.shape[1])))

    def load(self, weights: HeadWeights, masks: HeadMasks) -> None:
        """Put a physical head's weights (padded) and unit masks into the model."""
        weights.resize(self.dims).assign_to(self.model)
        set_unit_masks(self.model, hidden=[np.arange(width) < n for width, n in
                                           zip(self.shape[1:], masks.n_active[1:])])

    def fit(self, weights: HeadWeights, masks: HeadMasks, x: np.ndarray, y: np.ndarray,
            seed: int) -> tuple[HeadWeights, list]:
        """Train from ``weights`` (physical) on (x, y); return the trained physical weights and epoch losses."""
        self.load(weights, masks)
        reset_optimizer(self.model)
        inputs = self.pad_inputs(x, masks)
        if self._fit is None:
            losses = fit_head(self.model, inputs, y, self.config, seed)
        else:
            self._fit(inputs, y, seed)
            losses = self._fit.history
        trained = HeadWeights.from_model(self.model, len(self.shape) - 1)
        return trained.resize(weights.dims), losses

    def predict_proba(self, weights: HeadWeights, masks: HeadMasks, x: np.ndarray) -> np.ndarray:
        """Class probabilities of x (n, n_features) under a physical head's weights."""
        self.load(weights, masks)
        return np.asarray(self.model.predict(self.pad_inputs(x, masks), batch_size=1024, verbose=0))


class HeadTrainer:
    """Trains physically pruned heads, one compiled :class:`PaddedHead` per padded shape.

    Parameters
    ----------
    n_features, n_classes : int
    config : HeadConfig
        The head's widths, bias, optimiser and training protocol, and
        ``engine`` (see :data:`evoprune_deap.config.ENGINES`).
    """

    def __init__(self, n_features: int, n_classes: int, config: HeadConfig):
        self.n_features, self.n_classes, self.config = n_features, n_classes, config
        self.engine = resolve_engine(config.engine)
        self._programs: dict[tuple, PaddedHead] = {}

    def padded_shape(self, masks: HeadMasks) -> tuple:
        """Padded widths of the inputs and hidden layers of ``masks``' head."""
        return tuple(padded_width(n, total) for n, total in zip(masks.n_active, masks.n_total))

    def program(self, masks: HeadMasks, n_samples: int) -> PaddedHead:
        """The compiled head serving ``masks`` (built on first use)."""
        shape = self.padded_shape(masks)
        key = shape + (n_samples if self.engine == "keras-fit" else 0,)
        if key not in self._programs:
            self._programs[key] = PaddedHead(shape, self.n_classes, self.config, self.engine, n_samples)
        return self._programs[key]

    def train_many(self, masks: list, x: np.ndarray, y: np.ndarray, seeds: list) -> list[TrainedHead]:
        """Train the heads of several masks on (x, y), each from its seed; the same heads as :meth:`train`.

        With the ``batched`` engine, heads of the same batch shape train
        together (in batches capped by memory, see
        :mod:`evoprune_deap.head.batched`); otherwise one by one.
        """
        if self.engine != "batched":
            return [self.train(m, x, y, seed) for m, seed in zip(masks, seeds)]
        from .batched import head_bytes, memory_budget, split_batches

        groups: dict[tuple, list[int]] = {}
        for i, m in enumerate(masks):
            groups.setdefault(self.batch_shape(m), []).append(i)
        heads = [None] * len(masks)
        for shape, members in groups.items():
            per_head = head_bytes((*shape, self.n_classes), x.shape[0], self.config.batch_size)
            for part in split_batches(len(members), per_head, memory_budget()):
                chosen = [members[k] for k in part]
                trained = self._train_batch(shape, [masks[i] for i in chosen], x, y, [seeds[i] for i in chosen])
                for i, head in zip(chosen, trained):
                    heads[i] = head
        return heads

    def batch_shape(self, masks: HeadMasks) -> tuple:
        """The padded shape ``masks``' head trains at under the ``batched`` engine (a power of two per layer).

        It depends on the head only, never on the other heads of its batch,
        so a mask's training does not depend on its batch.
        """
        from .batched import bucket_width

        return tuple(bucket_width(width, total) for width, total in zip(self.padded_shape(masks), masks.n_total))

    def _train_batch(self, shape: tuple, masks: list, x: np.ndarray, y: np.ndarray, seeds: list) -> list[TrainedHead]:
        if shape not in self._programs:
            self._programs[shape] = PaddedHead(shape, self.n_classes, self.config, "batched", x.shape[0])
        program = self._programs[shape]
        starts, unit_masks, initial = [], [], []
        for m, seed in zip(masks, seeds):
            initial.append(self.initial_weights(m, seed))
            program.load(initial[-1], m)
            starts.append([v.value for v in program.model.trainable_variables])
            unit_masks.append([v.value for v in program.model.non_trainable_variables])
        columns = None
        if any(not m.inputs.all() for m in masks):
            columns = [np.pad(np.flatnonzero(m.inputs), (0, shape[0] - int(m.inputs.sum())),
                              constant_values=x.shape[1]) for m in masks]
        reset_optimizer(program.model)
        heads = []
        for m, start, (epochs, best, losses) in zip(masks, initial, program.batched_fit(
                x, y, starts, unit_masks, columns, seeds)):
            for variable, value in zip(program.model.trainable_variables, best):
                variable.assign(value)
            weights = HeadWeights.from_model(program.model, len(shape) - 1).resize(start.dims)
            heads.append(TrainedHead(masks=m, weights=weights, losses=tuple(losses), config=self.config,
                                     runner=program))
        return heads

    def initial_weights(self, masks: HeadMasks, seed: int) -> HeadWeights:
        """The physical head's initial weights: sliced from the full-width draw of ``seed``."""
        dims = (self.n_features, *masks.n_total[1:], self.n_classes)
        return HeadWeights.glorot(dims, seed, self.config.use_bias).select(masks)

    def train(self, masks: HeadMasks, x: np.ndarray, y: np.ndarray, seed: int) -> TrainedHead:
        """Train the head of ``masks`` on (x, y), x of shape (n, n_features), from seed ``seed``."""
        if self.engine == "batched":
            return self._train_batch(self.batch_shape(masks), [masks], x, y, [seed])[0]
        program = self.program(masks, x.shape[0])
        weights, losses = program.fit(self.initial_weights(masks, seed), masks, x, y, seed)
        return TrainedHead(masks=masks, weights=weights, losses=tuple(losses), config=self.config, runner=program)
