"""File size, latency and agreement of exported image-to-class models, side by side in one run, on this CPU.

    python benchmarks/deploy_speed.py [--runs results/export/runs] [--models results/export/models]
        [--repeats 30] [--out results/benchmarks/deploy_speed.md]
    python benchmarks/deploy_speed.py --run RUN_DIR --models DIR [--out FILE]

Needs the runs of experiments/export_elpv.py (it makes them), or with --run one finished run (its best
head only, e.g. `evoprune run --preset quick --seed 0 --run-dir RUN_DIR`). Models: the unpruned network
(the fc1 run's unpruned reference), the fc1- and fs-pruned best heads, and the NSGA-II run's 50-100
ensemble, each as .keras (run by Keras on TensorFlow, `predict_on_batch`, traced once before timing; Keras on
JAX ran EfficientNet-Lite0 about 13x slower here (22 ms per image at batch 32, against 1.7),
which is why the toolkit extracts features on TensorFlow; KERAS_BACKEND=jax to see it), LiteRT float32,
float16 weights, int8 dynamic-range (`--quantize dynamic`) and int8 full-integer (`--quantize int8`,
calibrated on 300 training images), in ai_edge_litert's interpreter with 2 threads. Input: ELPV test
images, uint8 RGB at 128 px. Latency per image: the median over --repeats calls of batch 1 and of
batch 32 (divided by 32), after a warm-up call; the models are timed in turn within each repeat, so
a slow spell of this shared machine hits them all alike. Agreement: each model in a fresh process
(`evoprune_deap.shipping.litert.predict`) on all the test images at 128 px, its predicted class against
the two-stage pipeline (cached features -> the saved head; the unpruned network: against its LiteRT
float32 model), and its test accuracy beside the two-stage one.
"""

import argparse
import os
import sys
import time

os.environ.setdefault(
    "KERAS_BACKEND", "tensorflow"
)  # Keras' fastest CPU convolutions; before any Keras import

import numpy as np
import pandas as pd

from evoprune_deap.report.tables import to_markdown
from evoprune_deap.shipping.deploy_check import agreement, split_images, two_stage
from evoprune_deap.shipping.export import export_model
from evoprune_deap.shipping.litert import predict
from evoprune_deap.storage import write_text
from evoprune_deap.tensorflow_worker import shared_tensorflow_worker

FORMATS = {  # name in the table -> (format, quantize, file suffix)
    "keras": ("keras", "none", ".keras"),
    "litert float32": ("litert", "none", ".tflite"),
    "litert float16": ("litert", "float16", "_fp16.tflite"),
    "litert int8 dynamic": ("litert", "dynamic", "_dynamic.tflite"),
    "litert int8 full": ("litert", "int8", "_int8.tflite"),
}


def _models(runs: str, run: str | None) -> dict:
    """name -> (run_dir, selected file, member) of each network, as experiments/export_elpv.py makes them."""
    if run is not None:
        return {"best": (run, None, None)}
    return {
        "unpruned": (os.path.join(runs, "fc1"), None, "unpruned"),
        "fc1 best": (os.path.join(runs, "fc1"), None, None),
        "fs best": (os.path.join(runs, "fs"), None, None),
        "nsga2 ensemble 50-100": (
            os.path.join(runs, "nsga2"),
            os.path.join(runs, "nsga2", "ensemble", "ensemble_50-100.keras"),
            None,
        ),
    }


class Runner:
    """Calls one exported model on a batch of uint8 images."""

    def __init__(self, path: str):
        self.path = path
        if path.endswith(".keras"):
            import keras

            self.model = keras.saving.load_model(path)
            self.shape = None
        else:
            from ai_edge_litert.interpreter import Interpreter

            self.model = Interpreter(model_path=path, num_threads=2)
            self.input = self.model.get_input_details()[0]["index"]
            self.output = self.model.get_output_details()[0]["index"]
            self.shape = None

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        if self.path.endswith(".keras"):
            return np.asarray(self.model.predict_on_batch(batch))
        if batch.shape != self.shape:
            self.model.resize_tensor_input(self.input, batch.shape, strict=True)
            self.model.allocate_tensors()
            self.shape = batch.shape
        self.model.set_tensor(self.input, batch)
        self.model.invoke()
        return self.model.get_tensor(self.output)


def _export_all(networks: dict, models: str) -> dict:
    """(network, format name) -> model file, each exported unless it already exists."""
    paths = {}
    for name, (run_dir, selected, member) in networks.items():
        if not os.path.exists(os.path.join(run_dir, "summary.json")):
            sys.exit(f"{run_dir} is missing: run `python experiments/export_elpv.py` first.")
        stem = os.path.join(models, name.replace(" ", "_"))
        for key, (fmt, quantize, suffix) in FORMATS.items():
            path = stem + suffix
            if not os.path.exists(path):  # one conversion at a time: each is CPU-heavy
                export_model(
                    run_dir, member=member, selected=selected, format=fmt, quantize=quantize, out=path
                )
            paths[(name, key)] = path
    return paths


def _latency(paths: dict, images: np.ndarray, repeats: int) -> dict:
    """(network, format name, batch size) -> median seconds per image, the models timed in turn."""
    batches = {1: images[:1], 32: images[:32]}
    runners = {key: Runner(path) for key, path in paths.items()}
    seconds = {(*key, size): [] for key in runners for size in batches}
    for runner in runners.values():  # compile / allocate both shapes before timing
        for batch in batches.values():
            runner(batch)
    for _ in range(repeats):
        for key, runner in runners.items():
            for size, batch in batches.items():
                start = time.perf_counter()
                runner(batch)
                seconds[(*key, size)].append((time.perf_counter() - start) / size)
    return {key: float(np.median(values)) for key, values in seconds.items()}


def _agreement(paths: dict, networks: dict) -> dict:
    """(network, format name) -> agreement with the two-stage pipeline (or LiteRT float32), fresh processes.

    The unpruned network has no saved head: it is compared with its LiteRT float32 model.
    """
    found = {}
    for name, (run_dir, selected, member) in networks.items():
        images, features, labels = split_images(run_dir)
        outputs = {key: predict(paths[(name, key)], images)["probabilities"] for key in FORMATS}
        head = selected or os.path.join(run_dir, "best_head.keras")
        reference = outputs["litert float32"] if member else two_stage(head, features)
        for key in FORMATS:
            found[(name, key)] = agreement(reference, outputs[key], labels)
            found[(name, key)]["against"] = "litert float32" if member else "two-stage"
    return found


def _table(paths: dict, latency: dict, agree: dict) -> pd.DataFrame:
    rows = []
    for name, fmt in paths:
        same = agree[(name, fmt)]
        rows.append(
            {
                "network": name,
                "format": fmt,
                "file_MiB": os.path.getsize(paths[(name, fmt)]) / 2**20,
                "ms_per_image_batch1": 1e3 * latency[(name, fmt, 1)],
                "ms_per_image_batch32": 1e3 * latency[(name, fmt, 32)],
                "same_class": same["agree"],
                "against": same["against"],
                "accuracy": same["accuracy"],
                "reference_accuracy": same["reference_accuracy"],
            }
        )
    table = pd.DataFrame(rows)
    base = table[table["format"] == "litert float32"].set_index("network")["ms_per_image_batch1"]
    table["speedup_vs_litert_float32_batch1"] = [
        base[name] / ms for name, ms in zip(table["network"], table["ms_per_image_batch1"])
    ]
    return table


def run(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default=os.path.join("results", "export", "runs"))
    parser.add_argument("--run", default=None, help="one finished run: its best head only")
    parser.add_argument("--models", default=os.path.join("results", "export", "models"))
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--out", default=os.path.join("results", "benchmarks", "deploy_speed.md"))
    args = parser.parse_args(argv)
    networks = _models(args.runs, args.run)
    with shared_tensorflow_worker():  # one TensorFlow start-up for every conversion
        paths = _export_all(networks, args.models)
    images, _, _ = split_images(next(iter(networks.values()))[0])
    table = _table(paths, _latency(paths, images, args.repeats), _agreement(paths, networks))
    import keras

    command = "python benchmarks/deploy_speed.py" + (f" --run {args.run}" if args.run else "")
    text = (
        f"# Exported models: size, latency and agreement ({os.cpu_count()} CPU cores, median of "
        f"{args.repeats} repeats, ELPV test images at 128 px; Keras on {keras.backend.backend()}, "
        f"LiteRT with 2 threads)\n\n`{command}`\n\n" + to_markdown(table) + "\n"
    )
    write_text(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(run())
