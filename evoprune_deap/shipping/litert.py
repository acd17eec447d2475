"""LiteRT (``.tflite``) conversion in the TensorFlow worker, and the interpreter in a fresh process.

Conversion needs Keras on the TensorFlow backend, while the toolkit runs Keras
on JAX: :func:`convert` runs in the TensorFlow worker process
(:mod:`evoprune_deap.tensorflow_worker`; inside a command, the one its
extractions use). It loads the ``.keras`` model and exports it with Keras'
public ``model.export(format="litert")``, restricted to LiteRT's built-in ops
(no TensorFlow "flex" ops, which phone and microcontroller runtimes lack).
``int8`` is full-integer post-training quantisation: int8 weights and
activations, their ranges calibrated on a representative set of images
(:data:`CALIBRATION_IMAGES` of the run's training images, passed as a
``.npy`` file); the model keeps its interface, raw uint8 RGB images in (the
pixels need no quantisation parameters) and float32 probabilities out (the
int8 softmax dequantised), so an app calls it as the float32 one.
``dynamic`` is dynamic-range int8 (int8 weights, float activations);
``float16`` half-precision weights. What the converter prints from C++ is
kept off the terminal; a failure is one line that quotes its reason.

:func:`predict` runs :file:`fresh_predict.py` by path, so that process imports
numpy and the LiteRT interpreter only for a ``.tflite`` model (neither Keras
nor ``evoprune_deap``), and plain Keras for a ``.keras`` one.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from ..errors import EvopruneError

PREDICT_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fresh_predict.py")


class ConversionError(EvopruneError):
    """TensorFlow's LiteRT converter failed on a model."""


def _child(command: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(env or {})})


REASON_CHARS = 300
"""The most of the converter's error message a failure quotes (its first line can be a whole MLIR module)."""


class _ConverterFailed(Exception):
    """Raised in the worker: the first line of the converter's error."""


def convert(
    keras_path: str, tflite_path: str, quantize: str = "none", calibration: str | None = None
) -> None:
    """Convert a saved ``.keras`` model (built-in layers only) to ``.tflite`` in the TensorFlow worker.

    ``calibration``: for ``quantize="int8"``, a ``.npy`` file of uint8 images
    of the model's input size, the representative set of its activations.
    """
    from ..tensorflow_worker import tensorflow_worker

    if (quantize == "int8") != (calibration is not None):
        raise ValueError("quantize='int8' needs calibration images, and only it takes them.")
    with tensorflow_worker() as worker:  # a worker that died is raised inside, so the next job gets a new one
        try:
            job = worker.submit(_convert_in_worker, keras_path, tflite_path, quantize, calibration)
            failed = job.exception()
        except concurrent.futures.process.BrokenProcessPool as exc:
            failed = exc
        if isinstance(
            failed, concurrent.futures.process.BrokenProcessPool
        ):  # the converter aborted its process
            raise ConversionError(
                f"LiteRT conversion of {keras_path!r} failed: the TensorFlow worker died ({failed})."
            ) from failed
    if isinstance(failed, _ConverterFailed):  # the model's fault; the worker goes on
        raise ConversionError(f"LiteRT conversion of {keras_path!r} failed: {failed}") from None
    if failed is not None:
        raise failed
    if not os.path.isfile(tflite_path):
        raise ConversionError(f"LiteRT conversion of {keras_path!r} wrote no {tflite_path!r}.")


def predict(model_path: str, images: np.ndarray, batch_size: int = 32, env: dict | None = None) -> dict:
    """Run an exported ``.tflite`` or ``.keras`` model on uint8 images in a fresh process, no evoprune_deap.

    Returns ``{"probabilities": (n, C) array, "runtime": str, "modules": [...]}``:
    the interpreter package used, and which of keras, tensorflow, jax and
    evoprune_deap that process had imported.
    """
    with tempfile.TemporaryDirectory() as scratch:
        images_path, out_path = os.path.join(scratch, "images.npy"), os.path.join(scratch, "out.npz")
        np.save(images_path, np.asarray(images, dtype=np.uint8))
        done = _child(
            [sys.executable, PREDICT_SCRIPT, model_path, images_path, out_path, str(batch_size)], env
        )
        if done.returncode != 0:
            raise ConversionError(
                f"Running {model_path!r} in a fresh process failed: {done.stderr.strip()[-800:]}"
            )
        with np.load(out_path) as saved:
            probabilities = saved["probabilities"]
            info = json.loads(str(saved["info"]))
    return {"probabilities": probabilities, **info}


CALIBRATION_IMAGES = 300
"""Training images in the representative set of ``--quantize int8`` (LiteRT suggests a few hundred)."""


def _representative(calibration: str):
    """The converter's representative dataset: one image at a time, as the model's uint8 input."""
    images = np.load(calibration, allow_pickle=False)

    def generate():
        for image in images:
            yield [image[None]]

    return generate


def _converter_options(quantize: str, calibration: str | None) -> dict:
    import tensorflow as tf

    optimize = {"optimizations": [tf.lite.Optimize.DEFAULT]}
    return {
        "none": lambda: {},
        "int8": lambda: {**optimize, "representative_dataset": _representative(calibration)},
        "dynamic": lambda: optimize,
        "float16": lambda: {**optimize, "target_spec": {"supported_types": [tf.float16]}},
    }[quantize]()


def _convert_in_worker(keras_path: str, tflite_path: str, quantize: str, calibration: str | None) -> None:
    """In the TensorFlow worker (TensorFlow imported quietly there): load and export, the converter's native
    output kept off the terminal."""
    import keras
    import tensorflow as tf

    from ..quiet import native_stderr_silenced

    options = _converter_options(quantize, calibration)
    spec = {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS], **options.pop("target_spec", {})}
    with native_stderr_silenced():
        try:
            keras.saving.load_model(keras_path).export(
                tflite_path, format="litert", verbose=False, target_spec=spec, **options
            )
        except Exception as exc:  # its message can hold the whole MLIR module: its first line ends with why
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise _ConverterFailed(
                reason if len(reason) <= REASON_CHARS else "..." + reason[-REASON_CHARS:]
            ) from None
