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
from .encodings import HeadMasks
from .seeding import make_rng


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


def _compile(model, config: HeadConfig):
    import keras

    model.compile(
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


def fit_head(model, x: np.ndarray, y: np.ndarray, config: HeadConfig, seed: int,
             max_epochs: int | None = None) -> int:
    """Train with the paper's protocol; return the number of epochs run.

    SGD (lr, momentum, Nesterov from ``config``), batch ``config.batch_size``,
    at most ``max_epochs`` epochs, EarlyStopping on the training loss
    (``min_delta``, ``patience``, restoring the best weights). Reseeds Keras
    (and so Python's and numpy's global generators) with ``seed``.
    """
    import keras

    keras.utils.set_random_seed(seed)
    stop = keras.callbacks.EarlyStopping(monitor="loss", min_delta=config.min_delta,
                                         patience=config.patience, restore_best_weights=True)
    history = model.fit(x, y, batch_size=config.batch_size, epochs=max_epochs or config.max_epochs,
                        shuffle=True, verbose=0, callbacks=[stop])
    return len(history.history["loss"])


def predict_classes(model, x: np.ndarray) -> np.ndarray:
    """Class index of each row of ``x``."""
    return np.argmax(np.asarray(model.predict(x, batch_size=1024, verbose=0)), axis=1)


def accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    """Fraction of rows of ``x`` classified as ``y``."""
    return float(np.mean(predict_classes(model, x) == y))


def train_pruned_head(masks: HeadMasks, x: np.ndarray, y: np.ndarray, n_classes: int,
                      config: HeadConfig, seed: int):
    """Build the physically pruned head for ``masks`` and train it.

    Returns
    -------
    model : keras.Model
        Takes the active input features, shape (n, n_active_inputs).
    epochs : int
    """
    full = initial_weights(masks.inputs.shape[0], tuple(m.shape[0] for m in masks.hidden),
                           n_classes, seed, config.use_bias)
    widths = tuple(int(m.sum()) for m in masks.hidden)
    model = build_head(int(masks.inputs.sum()), widths, n_classes, config,
                       slice_weights(full, masks, config.use_bias))
    epochs = fit_head(model, x[:, masks.inputs], y, config, seed)
    return model, epochs


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
