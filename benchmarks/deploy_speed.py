"""File size and latency of exported image-to-class models, side by side in one run, on this CPU.

    python benchmarks/deploy_speed.py [--runs results/export/runs] [--models results/export/models]
        [--repeats 30] [--out results/benchmarks/deploy_speed.md]

Needs the runs of experiments/export_elpv.py (it makes them). Models: the unpruned network (the fc1
run's unpruned reference), the fc1- and fs-pruned best heads, and the NSGA-II run's 50-100 ensemble,
each as .keras (run by Keras on TensorFlow, `predict_on_batch`, traced once before timing; Keras on
JAX ran EfficientNet-Lite0 about 13x slower here (22 ms per image at batch 32, against 1.7),
which is why the toolkit extracts features on TensorFlow; KERAS_BACKEND=jax to see it), LiteRT float32
and LiteRT int8 (dynamic range), in ai_edge_litert's interpreter with 2 threads. Input: ELPV test
images, uint8 RGB at 128 px. Latency per image: the median over --repeats calls of batch 1 and of
batch 32 (divided by 32), after a warm-up call; the models are timed in turn within each repeat, so
a slow spell of this shared machine hits them all alike.
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
from evoprune_deap.shipping.deploy_check import split_images
from evoprune_deap.shipping.export import export_model
from evoprune_deap.storage import write_text

FORMATS = [("keras", "none", ".keras"), ("litert", "none", ".tflite"), ("litert", "dynamic", "_int8.tflite")]


def _models(runs: str, models: str) -> dict:
    """name -> (run_dir, selected file or member) of each network, as experiments/export_elpv.py makes them."""
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


def run(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default=os.path.join("results", "export", "runs"))
    parser.add_argument("--models", default=os.path.join("results", "export", "models"))
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--out", default=os.path.join("results", "benchmarks", "deploy_speed.md"))
    args = parser.parse_args(argv)
    paths = {}
    for name, (run_dir, selected, member) in _models(args.runs, args.models).items():
        if not os.path.exists(os.path.join(run_dir, "summary.json")):
            sys.exit(f"{run_dir} is missing: run `python experiments/export_elpv.py` first.")
        stem = os.path.join(args.models, name.replace(" ", "_"))
        for fmt, quantize, suffix in FORMATS:
            path = stem + suffix
            if not os.path.exists(path):
                export_model(
                    run_dir, member=member, selected=selected, format=fmt, quantize=quantize, out=path
                )
            paths[
                (name, fmt + (" int8" if quantize == "dynamic" else " float32" if fmt == "litert" else ""))
            ] = path
    images, _, _ = split_images(os.path.join(args.runs, "fc1"))
    batches = {1: images[:1], 32: images[:32]}
    runners = {key: Runner(path) for key, path in paths.items()}
    seconds = {(key, size): [] for key in runners for size in batches}
    for runner in runners.values():  # compile / allocate both shapes before timing
        for batch in batches.values():
            runner(batch)
    for _ in range(args.repeats):
        for key, runner in runners.items():
            for size, batch in batches.items():
                start = time.perf_counter()
                runner(batch)
                seconds[(key, size)].append((time.perf_counter() - start) / size)
    rows = [
        {
            "network": name,
            "format": fmt,
            "file_MiB": os.path.getsize(paths[(name, fmt)]) / 2**20,
            "ms_per_image_batch1": 1e3 * float(np.median(seconds[((name, fmt), 1)])),
            "ms_per_image_batch32": 1e3 * float(np.median(seconds[((name, fmt), 32)])),
        }
        for (name, fmt) in paths
    ]
    table = pd.DataFrame(rows)
    base = table[(table["network"] == "unpruned")].set_index("format")
    table["speedup_vs_unpruned_batch1"] = [
        base.loc[f, "ms_per_image_batch1"] / v for f, v in zip(table["format"], table["ms_per_image_batch1"])
    ]
    import keras

    text = (
        f"# Exported models: size and latency ({os.cpu_count()} CPU cores, median of {args.repeats} repeats, "
        f"ELPV test images at 128 px; Keras on {keras.backend.backend()}, LiteRT with 2 threads)\n\n"
        "`python benchmarks/deploy_speed.py`\n\n" + to_markdown(table) + "\n"
    )
    write_text(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(run())
