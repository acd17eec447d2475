"""Keras at the edges: the one builder of the dense stack, the deployable head, and the keras-fit reference.

No head is trained or scored with Keras (the trainer is :mod:`evoprune_deap.head.trainer`,
the forward pass :mod:`evoprune_deap.head.forward`). Keras builds the exported
``.keras`` head and the reference the tests train against: the full-width
head with its inputs and units multiplied by 0/1 masks, trained with Keras
``fit`` (:func:`masked_reference_head`, :func:`fit_head`). Every one of them is
``features -> Dense(h1, relu) [-> Dense(h2, relu)] -> Dense(C, softmax)``
built here, with the dense layers named ``fc1``, ``fc2``, ``output``
(:func:`evoprune_deap.head.weights.layer_names`).
"""

from __future__ import annotations

import numpy as np

from ...config import HeadConfig
from ...seeding import derive_seed
from ..masks import HeadMasks


def build_stack(
    n_inputs: int,
    widths: tuple,
    n_classes: int,
    config: HeadConfig,
    *,
    unit_masks: bool = False,
    input_mask: bool = False,
    name: str = "head",
):
    """Build (uncompiled) ``n_inputs -> widths... -> n_classes`` as a Keras Sequential, its weights zeros.

    Every caller assigns the weights it built the stack for (a trained head,
    the run's unpruned reference, an initial draw of the trainer's), so the
    kernels start at zeros instead of a Keras Glorot draw: on JAX that draw
    compiles a program per kernel shape (about 0.3 s each) only to be
    overwritten.

    Parameters
    ----------
    n_inputs : int
    widths : tuple of int
        Hidden layer widths.
    n_classes : int
    config : HeadConfig
        ``use_bias`` of the hidden layers (the output layer always has one).
    unit_masks, input_mask : bool
        Add a :class:`~evoprune_deap.head.models.layers.UnitMask` after each hidden
        layer (``fc1_mask``..) / on the inputs (``input_mask``), all ones.
    """
    import keras

    from .layers import UnitMask

    layers = [keras.Input((n_inputs,))]
    if input_mask:
        layers.append(UnitMask(n_inputs, name="input_mask"))
    for i, width in enumerate(widths):
        layers.append(
            keras.layers.Dense(
                width,
                activation="relu",
                use_bias=config.use_bias,
                kernel_initializer="zeros",
                name=f"fc{i + 1}",
            )
        )
        if unit_masks:
            layers.append(UnitMask(width, name=f"fc{i + 1}_mask"))
    layers.append(
        keras.layers.Dense(n_classes, activation="softmax", kernel_initializer="zeros", name="output")
    )
    return keras.Sequential(layers, name=name)


def set_unit_masks(model, masks: HeadMasks | None = None, hidden: tuple = ()) -> None:
    """Set the UnitMask layers of a head built with ``unit_masks``/``input_mask``.

    ``masks`` sets the input mask and the hidden masks; ``hidden`` (one 0/1
    vector per hidden layer) sets only the hidden ones.
    """
    if masks is not None:
        model.get_layer("input_mask").set_mask(masks.inputs)
        hidden = masks.hidden
    for i, mask in enumerate(hidden):
        model.get_layer(f"fc{i + 1}_mask").set_mask(mask)


def compile_head(model, config: HeadConfig, steps_per_execution: int = 1):
    """Compile with the paper's optimiser (SGD, lr, momentum, Nesterov) and cross-entropy."""
    import keras

    model.compile(
        steps_per_execution=steps_per_execution,
        optimizer=keras.optimizers.SGD(
            learning_rate=config.learning_rate, momentum=config.momentum, nesterov=config.nesterov
        ),
        loss="sparse_categorical_crossentropy",
    )
    return model


def deployable_head(weights, masks: HeadMasks, config: HeadConfig, name: str = "evoprune_head"):
    """A standalone Keras head taking the full feature vector, for inference (saved without optimizer state).

    Parameters
    ----------
    weights : HeadWeights
        Of the physically pruned head (active inputs and units only).
    masks : HeadMasks
        Which inputs the head reads (a ``SelectFeatures`` layer picks them).
    """
    import keras

    from ...quiet import import_tensorflow_quietly
    from .layers import SelectFeatures

    import_tensorflow_quietly()  # Keras imports it to save a model; without the start-up lines

    pruned = build_stack(weights.dims[0], weights.dims[1:-1], weights.dims[-1], config, name="pruned_head")
    weights.assign_to(pruned)
    inputs = keras.Input((masks.inputs.shape[0],), name="features")
    x = inputs
    if not masks.inputs.all():
        x = SelectFeatures(np.flatnonzero(masks.inputs), name="select_features")(x)
    return keras.Model(inputs, pruned(x), name=name)


def load_head(path: str):
    """Load a saved head (``best_head.keras``, ``evoprune select`` / ``ensemble`` files): a Keras model
    taking the full feature vector.

    Imports the layers a saved head may use (``SelectFeatures`` for ``fs``
    heads, ``MajorityVote``) so Keras can rebuild it; ``import evoprune_deap``
    alone stays light.
    """
    import keras

    from ...quiet import import_tensorflow_quietly
    from . import layers  # noqa: F401  (registers the custom layers with Keras)

    import_tensorflow_quietly()  # Keras may import it to load; without its start-up lines
    return keras.saving.load_model(path)


def fit_head(
    model, x: np.ndarray, y: np.ndarray, config: HeadConfig, seed: int, max_epochs: int | None = None
) -> list[float]:
    """Train a compiled Keras head with ``fit`` and the paper's protocol; return each epoch's loss.

    SGD (from ``config``), batch ``config.batch_size``, at most ``max_epochs``
    (default ``config.max_epochs``) epochs, EarlyStopping on the training loss
    (``min_delta``, ``patience``, restoring the best weights).

    Keras (and so Python's and numpy's global generators) is reseeded from
    ``seed`` at the start of every epoch, so each epoch's shuffle depends only
    on (seed, epoch): the orders :func:`evoprune_deap.head.trainer.epoch_orders` gives the trainer.
    """
    import keras

    keras.utils.set_random_seed(seed)
    stop = keras.callbacks.EarlyStopping(
        monitor="loss", min_delta=config.min_delta, patience=config.patience, restore_best_weights=True
    )
    reseed = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: keras.utils.set_random_seed(derive_seed(seed, "epoch", epoch))
    )
    history = model.fit(
        x,
        y,
        batch_size=config.batch_size,
        epochs=max_epochs or config.max_epochs,
        shuffle=True,
        verbose=0,
        callbacks=[reseed, stop],
    )
    return [float(loss) for loss in history.history["loss"]]


def masked_reference_head(masks: HeadMasks, n_classes: int, config: HeadConfig, weights):
    """The reference design: the full-width head with its inputs and units multiplied by 0/1 masks."""
    model = build_stack(
        masks.inputs.shape[0],
        masks.n_total[1:],
        n_classes,
        config,
        unit_masks=True,
        input_mask=True,
        name="masked_head",
    )
    weights.assign_to(model)
    set_unit_masks(model, masks)
    return compile_head(model, config)
