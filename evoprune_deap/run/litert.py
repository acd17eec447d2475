"""LiteRT (``.tflite``) conversion and the interpreter, each in a child process.

Conversion needs Keras on the TensorFlow backend, while the toolkit runs Keras
on JAX: :func:`convert` runs this module as ``python -m evoprune_deap.run.litert
KERAS TFLITE QUANTIZE`` with ``KERAS_BACKEND=tensorflow``. It loads the
``.keras`` model and exports it with Keras' public ``model.export(format="litert")``,
restricted to LiteRT's built-in ops (no TensorFlow "flex" ops, which phone and
microcontroller runtimes lack); ``dynamic`` adds TensorFlow's default
optimisation, dynamic-range int8 weights; ``float16`` half-precision weights.

:func:`predict` runs :file:`fresh_predict.py` by path, so that process imports
numpy and the LiteRT interpreter only for a ``.tflite`` model (neither Keras
nor ``evoprune_deap``), and plain Keras for a ``.keras`` one.
"""

from __future__ import annotations

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


def convert(keras_path: str, tflite_path: str, quantize: str = "none") -> None:
    """Convert a saved ``.keras`` model (built-in layers only) to ``.tflite`` in a TensorFlow-backend process."""
    done = _child([sys.executable, "-m", __name__, keras_path, tflite_path, quantize],
                  {"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"})
    if done.returncode != 0 or not os.path.isfile(tflite_path):
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise ConversionError(f"LiteRT conversion of {keras_path!r} failed:\n{tail}")


def predict(model_path: str, images: np.ndarray, batch_size: int = 32, env: dict | None = None) -> dict:
    """Run an exported ``.tflite`` or ``.keras`` model on uint8 images in a fresh process without evoprune_deap.

    Returns ``{"probabilities": (n, C) array, "runtime": str, "modules": [...]}``:
    the interpreter package used, and which of keras, tensorflow, jax and
    evoprune_deap that process had imported.
    """
    with tempfile.TemporaryDirectory() as scratch:
        images_path, out_path = os.path.join(scratch, "images.npy"), os.path.join(scratch, "out.npz")
        np.save(images_path, np.asarray(images, dtype=np.uint8))
        done = _child([sys.executable, PREDICT_SCRIPT, model_path, images_path, out_path, str(batch_size)], env)
        if done.returncode != 0:
            raise ConversionError(f"Running {model_path!r} in a fresh process failed: {done.stderr.strip()[-800:]}")
        with np.load(out_path) as saved:
            probabilities = saved["probabilities"]
            info = json.loads(str(saved["info"]))
    return {"probabilities": probabilities, **info}


def _main(keras_path: str, tflite_path: str, quantize: str) -> None:
    import keras
    import tensorflow as tf

    model = keras.saving.load_model(keras_path)
    options = {"none": {}, "dynamic": {"optimizations": [tf.lite.Optimize.DEFAULT]},
               "float16": {"optimizations": [tf.lite.Optimize.DEFAULT], "target_spec": {"supported_types": [tf.float16]}}
               }[quantize]
    spec = {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS], **options.pop("target_spec", {})}
    model.export(tflite_path, format="litert", verbose=False, target_spec=spec, **options)


if __name__ == "__main__":
    _main(*sys.argv[1:4])
