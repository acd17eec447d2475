"""The dense head: built physically pruned, trained with the paper's settings.

The head is ``features -> Dense(h1, relu) [-> Dense(h2, relu)] -> Dense(C, softmax)``.
A mask's head is built with only its active inputs and units, its initial
weights sliced from one full-width draw, so it computes exactly what the
full-width head multiplied by the 0/1 masks computes (see
:func:`build_masked_head`, used as the reference in tests and benchmarks).
"""

from __future__ import annotations

import numpy as np

from .config import HeadConfig
from .errors import ConfigError
from .encodings import HeadMasks
from .seeding import derive_seed, make_rng


def initial_weights(n_features: int, hidden_units: tuple, n_classes: int, seed: int,
                    use_bias: bool = False) -> list[np.ndarray]:
    """Full-width Glorot-uniform kernels (and zero biases) in Keras layer order."""
    rng = make_rng(seed)
    dims = (n_features, *hidden_units, n_classes)
    weights = []
    for layer, (fan_in, fan_out) in enumerate(zip(dims[:-1], dims[1:])):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        weights.append(rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(np.float32))
        if use_bias or layer == len(dims) - 2:
            weights.append(np.zeros(fan_out, dtype=np.float32))
    return weights


def slice_weights(full: list[np.ndarray], masks: HeadMasks, use_bias: bool) -> list[np.ndarray]:
    """Keep the rows and columns of active inputs and units."""
    keeps = [masks.inputs, *masks.hidden]
    sliced, position = [], 0
    for layer in range(len(keeps)):
        kernel = full[position][keeps[layer]]
        if layer + 1 < len(keeps):
            kernel = kernel[:, keeps[layer + 1]]
        sliced.append(kernel)
        position += 1
        is_output = layer == len(keeps) - 1
        if use_bias or is_output:
            bias = full[position]
            sliced.append(bias if is_output else bias[keeps[layer + 1]])
            position += 1
    return sliced


def _compile(model, config: HeadConfig, steps_per_execution: int = 1):
    import keras

    model.compile(
        steps_per_execution=steps_per_execution,
        optimizer=keras.optimizers.SGD(learning_rate=config.learning_rate, momentum=config.momentum,
                                       nesterov=config.nesterov),
        loss="sparse_categorical_crossentropy",
    )
    return model


def build_head(n_inputs: int, widths: tuple, n_classes: int, config: HeadConfig, weights=None):
    """Build and compile a dense head with the given (active) widths."""
    import keras

    layers = [keras.Input((n_inputs,))]
    layers += [keras.layers.Dense(w, activation="relu", use_bias=config.use_bias, name=f"fc{i + 1}")
               for i, w in enumerate(widths)]
    layers.append(keras.layers.Dense(n_classes, activation="softmax", name="output"))
    model = keras.Sequential(layers, name="pruned_head")
    if weights is not None:
        model.set_weights(weights)
    return _compile(model, config)


def build_masked_head(masks: HeadMasks, n_classes: int, config: HeadConfig, full_weights):
    """The reference design: full-width layers multiplied by constant 0/1 masks."""
    import keras

    from .layers import ConstantMask

    inputs = keras.Input((masks.inputs.shape[0],))
    x = ConstantMask(masks.inputs)(inputs)
    for i, mask in enumerate(masks.hidden):
        x = keras.layers.Dense(mask.shape[0], activation="relu", use_bias=config.use_bias, name=f"fc{i + 1}")(x)
        x = ConstantMask(mask)(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="output")(x)
    model = keras.Model(inputs, outputs, name="masked_head")
    model.set_weights(full_weights)
    return _compile(model, config)


def reset_optimizer(model) -> None:
    """Fresh optimizer state (iteration 0, zero momentum), learning rate kept."""
    if model.optimizer.built:
        for variable in model.optimizer.variables:
            if not variable.path.endswith("learning_rate"):
                variable.assign(np.zeros(tuple(variable.shape), dtype=variable.dtype))


def fit_head(model, x: np.ndarray, y: np.ndarray, config: HeadConfig, seed: int,
             max_epochs: int | None = None) -> int:
    """Train with the paper's protocol; return the number of epochs run.

    SGD (lr, momentum, Nesterov from ``config``), batch ``config.batch_size``,
    at most ``max_epochs`` epochs, EarlyStopping on the training loss
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
    return len(history.history["loss"])


def predict_classes(model, x: np.ndarray) -> np.ndarray:
    """Class index of each row of ``x``."""
    return np.argmax(np.asarray(model.predict(x, batch_size=1024, verbose=0)), axis=1)


def accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    """Fraction of rows of ``x`` classified as ``y``."""
    return float(np.mean(predict_classes(model, x) == y))


WIDTH_MULTIPLE = 16
"""Active widths are rounded up to a multiple of this, the padding units masked
to zero, so a run compiles a bounded number of head shapes."""


def padded_width(n_active: int, n_total: int, multiple: int = WIDTH_MULTIPLE) -> int:
    """Smallest multiple of ``multiple`` >= n_active (at least one), capped at n_total."""
    return min(n_total, max(multiple, -(-n_active // multiple) * multiple))


ENGINES = ("auto", "compiled", "keras-fit")
"""How :class:`HeadTrainer` runs the training protocol: ``compiled`` is
:class:`evoprune_deap.compiled_fit.CompiledFit` (JAX backend only), ``keras-fit``
is :func:`fit_head` (any backend), ``auto`` picks ``compiled`` on JAX."""


class HeadTrainer:
    """Trains physically pruned heads, reusing one compiled Keras model per shape.

    Each mask's head has its active inputs and units, plus zero-masked padding
    up to a multiple of :data:`WIDTH_MULTIPLE`; its initial weights are sliced
    from the full-width draw of the mask's seed, and the optimizer state is
    reset, so training a reused model is training a fresh one.

    Parameters
    ----------
    n_features, n_classes : int
    config : HeadConfig
    engine : {"auto", "compiled", "keras-fit"}
        See :data:`ENGINES`. Both engines compute the same weights (tested);
        ``compiled`` runs the whole protocol in one XLA program and measured
        1.2-1.8x faster per epoch here (benchmarks/fitness_speed.py).
    """

    def __init__(self, n_features: int, n_classes: int, config: HeadConfig, engine: str = "auto"):
        from . import compiled_fit

        if engine not in ENGINES:
            raise ConfigError(f"engine must be one of {', '.join(ENGINES)}; got {engine!r}.")
        if engine == "compiled" and not compiled_fit.is_available():
            raise ConfigError("engine 'compiled' needs the JAX Keras backend; set KERAS_BACKEND=jax "
                              "or use engine 'keras-fit'.")
        if engine == "auto":
            engine = "compiled" if compiled_fit.is_available() else "keras-fit"
        self.n_features, self.n_classes, self.config, self.engine = n_features, n_classes, config, engine
        self._models: dict[tuple, object] = {}
        self._compiled: dict[tuple, object] = {}

    def shape_for(self, masks: HeadMasks) -> tuple:
        totals = (masks.inputs.shape[0], *(m.shape[0] for m in masks.hidden))
        return tuple(padded_width(n, total) for n, total in zip(masks.n_active, totals))

    def _model(self, shape: tuple, steps: int):
        key = shape + (steps,)
        if key not in self._models:
            import keras

            from .layers import UnitMask

            layers = [keras.Input((shape[0],))]
            for i, width in enumerate(shape[1:]):
                layers.append(keras.layers.Dense(width, activation="relu", use_bias=self.config.use_bias,
                                                 name=f"fc{i + 1}"))
                layers.append(UnitMask(width, name=f"fc{i + 1}_mask"))
            layers.append(keras.layers.Dense(self.n_classes, activation="softmax", name="output"))
            model = keras.Sequential(layers, name="padded_head")
            self._models[key] = _compile(model, self.config, steps_per_execution=steps)
        return self._models[key]

    def _inputs(self, x: np.ndarray, masks: HeadMasks, width: int) -> np.ndarray:
        selected = x[:, masks.inputs]
        if selected.shape[1] == width:
            return selected
        return np.pad(selected, ((0, 0), (0, width - selected.shape[1])))

    def train(self, masks: HeadMasks, x: np.ndarray, y: np.ndarray, seed: int):
        """Train the head of ``masks`` on (x, y), x of shape (n, n_features).

        Returns
        -------
        model : keras.Model
            A reused model: use it (or :meth:`export`) before the next ``train``.
        epochs : int
        """
        shape = self.shape_for(masks)
        steps = -(-x.shape[0] // self.config.batch_size) if self.engine == "keras-fit" else 1
        model = self._model(shape, steps)
        full = initial_weights(self.n_features, tuple(m.shape[0] for m in masks.hidden),
                               self.n_classes, seed, self.config.use_bias)
        sliced = iter(slice_weights(full, masks, self.config.use_bias))
        active = list(masks.hidden)
        for layer in model.layers:
            values = []
            for variable in layer.weights:
                target = np.zeros(tuple(variable.shape), dtype=np.float32)
                if variable.trainable:
                    block = next(sliced)
                    target[tuple(slice(0, n) for n in block.shape)] = block
                else:  # the unit mask: active units first, then masked padding
                    target[: int(active.pop(0).sum())] = 1.0
                values.append(target)
            if values:
                layer.set_weights(values)
        reset_optimizer(model)
        inputs = self._inputs(x, masks, shape[0])
        if self.engine == "keras-fit":
            return model, fit_head(model, inputs, y, self.config, seed)
        if shape not in self._compiled:
            from .compiled_fit import CompiledFit

            self._compiled[shape] = CompiledFit(model, self.config)
        return model, self._compiled[shape](inputs, y, seed)

    def predict_classes(self, model, masks: HeadMasks, x: np.ndarray) -> np.ndarray:
        """Class of each row of x (n, n_features) for a model from :meth:`train`."""
        return predict_classes(model, self._inputs(x, masks, model.input_shape[-1]))

    def export(self, model, masks: HeadMasks):
        """A standalone, unpadded head (input: the full feature vector) with the trained weights."""
        widths = tuple(int(m.sum()) for m in masks.hidden)
        n_inputs = int(masks.inputs.sum())
        weights = []
        for layer in model.layers:
            for variable in layer.weights:
                if variable.trainable:
                    weights.append(np.asarray(variable))
        dims = (n_inputs, *widths, self.n_classes)
        trimmed, position = [], 0
        for i, (rows, cols) in enumerate(zip(dims[:-1], dims[1:])):
            trimmed.append(weights[position][:rows, :cols])
            position += 1
            if self.config.use_bias or i == len(dims) - 2:
                trimmed.append(weights[position][:cols])
                position += 1
        return deployable_head(build_head(n_inputs, widths, self.n_classes, self.config, trimmed), masks)


def deployable_head(model, masks: HeadMasks):
    """Wrap a trained pruned head so it takes the full feature vector."""
    import keras

    from .layers import SelectFeatures

    inputs = keras.Input((masks.inputs.shape[0],), name="features")
    x = inputs
    if not masks.inputs.all():
        x = SelectFeatures(np.flatnonzero(masks.inputs), name="select_features")(x)
    return keras.Model(inputs, model(x), name="evoprune_head")


def count_parameters(masks: HeadMasks, n_classes: int, use_bias: bool) -> int:
    """Trainable parameters of the physically pruned head."""
    dims = [int(m.sum()) for m in (masks.inputs, *masks.hidden)] + [n_classes]
    weights = sum(a * b for a, b in zip(dims[:-1], dims[1:]))
    biases = (sum(dims[1:-1]) if use_bias else 0) + n_classes
    return weights + biases


def count_flops(masks: HeadMasks, n_classes: int) -> int:
    """Multiply-add FLOPs (2 per weight) of one forward pass of one sample."""
    dims = [int(m.sum()) for m in (masks.inputs, *masks.hidden)] + [n_classes]
    return 2 * sum(a * b for a, b in zip(dims[:-1], dims[1:]))
