"""Run an exported model on uint8 images in a fresh process, with only the runtime its format needs.

    python fresh_predict.py MODEL.tflite|MODEL.keras IMAGES.npy OUT.npz [BATCH]

Run by path (never imported), so it never imports ``evoprune_deap``. A
``.tflite`` model runs in ``ai_edge_litert``'s interpreter (TensorFlow's where
that is the only one installed), without Keras; a ``.keras`` model is loaded
with plain ``keras.saving.load_model``. IMAGES.npy holds (n, h, w, 3) uint8
images of one size; OUT.npz gets ``probabilities`` (n, C) and ``info`` (JSON:
the runtime and which of keras, tensorflow, jax and evoprune_deap this process
imported).
"""

import json
import sys

import numpy as np


def interpreter(path):
    try:
        from ai_edge_litert.interpreter import Interpreter

        runtime = "ai_edge_litert"
    except ImportError:  # only TensorFlow installed
        from tensorflow.lite import Interpreter

        runtime = "tensorflow.lite"
    return Interpreter(model_path=path), runtime


def classify(model, images, batch_size=32):
    """Class probabilities of (n, h, w, 3) uint8 images, ``batch_size`` at a time."""
    source, target = model.get_input_details()[0], model.get_output_details()[0]
    shape, rows = None, []
    for start in range(0, len(images), batch_size):
        batch = np.ascontiguousarray(images[start : start + batch_size])
        if batch.shape != shape:
            model.resize_tensor_input(source["index"], batch.shape, strict=True)  # only the batch may vary
            model.allocate_tensors()
            shape = batch.shape
        model.set_tensor(source["index"], batch)
        model.invoke()
        rows.append(model.get_tensor(target["index"]).copy())
    return np.concatenate(rows)


def keras_classify(path, images, batch_size=32):
    import keras

    model = keras.saving.load_model(path)
    return np.asarray(
        model.predict(images, batch_size=batch_size, verbose=0)
    ), f"keras ({keras.backend.backend()})"


if __name__ == "__main__":
    model_path, images_path, out_path = sys.argv[1:4]
    batch_size = int(sys.argv[4]) if len(sys.argv) > 4 else 32
    if model_path.endswith(".keras"):
        probabilities, runtime = keras_classify(model_path, np.load(images_path), batch_size)
    else:
        model, runtime = interpreter(model_path)
        probabilities = classify(model, np.load(images_path), batch_size)
    imported = [name for name in ("keras", "tensorflow", "jax", "evoprune_deap") if name in sys.modules]
    np.savez(
        out_path, probabilities=probabilities, info=json.dumps({"runtime": runtime, "modules": imported})
    )
