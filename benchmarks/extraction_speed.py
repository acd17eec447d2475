"""Extraction throughput (images/s) and peak memory, streaming a large image folder.

Builds a folder of N real ELPV images (300x300 PNG, reused cyclically under new
names) and extracts it at each image size with the default backbone, reporting
images/s and the peak resident memory of this process and of the extraction
worker.

    python benchmarks/extraction_speed.py --n-images 10000 --sizes 128 224
"""

import argparse
import os
import resource
import shutil
import tempfile
import time

import evoprune_deap  # noqa: F401  (sets the Keras backend)
from evoprune_deap.data.extraction import extract_features
from evoprune_deap.data.images.sources import elpv_source, load_source


def build_folder(root: str, n_images: int) -> str:
    """Fill root/<class>/ with n_images ELPV files (hard links, or copies across devices)."""
    source = elpv_source()
    paths = _elpv_paths()
    for i in range(n_images):
        label = source.class_names[source.labels[i % len(paths)]]
        os.makedirs(os.path.join(root, label), exist_ok=True)
        target = os.path.join(root, label, f"{i:05d}.png")
        try:
            os.link(paths[i % len(paths)], target)
        except OSError:
            shutil.copy(paths[i % len(paths)], target)
    return root


def _elpv_paths():
    import csv
    import importlib.util

    data = os.path.join(list(importlib.util.find_spec("elpv_dataset").submodule_search_locations)[0], "data")
    with open(os.path.join(data, "labels.csv")) as stream:
        return [
            os.path.join(data, row[0])
            for row in csv.reader(stream, delimiter=" ", skipinitialspace=True)
            if row
        ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=10000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 224])
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="evoprune-bench-")
    try:
        folder = build_folder(os.path.join(workdir, "images"), args.n_images)
        source = load_source(images=folder)
        print(f"{'size':>5} {'images':>7} {'seconds':>8} {'images/s':>9} {'parent MB':>10} {'worker MB':>10}")
        for size in args.sizes:
            start = time.perf_counter()
            extract_features(source, image_size=size, out=os.path.join(workdir, f"f{size}.npz"), reuse=False)
            seconds = time.perf_counter() - start
            parent = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            print(
                f"{size:>5} {args.n_images:>7} {seconds:>8.1f} {args.n_images / seconds:>9.1f} "
                f"{parent:>10.0f} {worker:>10.0f}",
                flush=True,
            )
        print("(seconds include the worker start and backbone build; peak memory is the maximum so far)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
