"""The names and limits every config key is checked against, and the paper's settings per encoding."""

from __future__ import annotations

import re

ENCODINGS = ("fc1", "fc2", "both", "fs")
PROTOCOLS = ("honest", "paper")
MUTATIONS = ("one_bit", "per_bit")
ENGINES = ("auto", "single", "batched")
"""How many heads share one program of the trainer (:mod:`evoprune_deap.head.trainer`, pure JAX
whatever Keras' backend): ``single`` one, ``batched`` those of one padded shape, ``auto``
batched on a GPU and single on a CPU (measured faster there)."""
OBJECTIVES = ("accuracy", "active", "ood")
"""Objectives of the multi-objective GA (see :mod:`evoprune_deap.search.objectives`)."""
OOD_SCORES = ("msp", "energy")
"""Confidence scores for the ``ood`` objective: maximum softmax probability, or the energy score."""
BACKBONES = ("efficientnet_lite0", "resnet50", "densenet121", "vgg19")
MIN_IMAGE_SIZE = 32
MAX_IMAGE_SIZE = 1024
"""Largest image side: a batch of 64 such images already takes 0.8 GB as float32."""

MAX_HIDDEN_UNITS = 16384
"""Widest hidden layer (32 times the paper's 512): two such layers already take 4.6 GB to train; the run
also checks the head against this machine's memory once the features are known."""
MAX_POPULATION = 10000
MAX_EVALUATIONS = 10**6
MAX_EPOCHS = 100000
MAX_HOLDOUT_FRACTION = 0.5
"""Largest hold-out share of train: half of each class's training images still train."""

PAPER_HIDDEN_UNITS = {"fc1": (512, 512), "fc2": (512, 512), "both": (512, 512), "fs": (512,)}
"""The paper's head per encoding (its FS results use one hidden layer of 512):
the widths used when ``[head] hidden_units`` is not set."""
PAPER_EVALUATIONS = {"fc1": 200, "fc2": 200, "both": 300, "fs": 200}
"""The paper's budget per encoding: the value used when ``[ga] evaluations`` is not set."""

PATH_FIELDS = ("images", "test_images", "features", "weights", "ood_images", "ood_features")
"""The [data] keys that name files or folders."""

FITNESS_SEEDS = ("per-mask", "common")
"""How masks' heads are seeded: ``per-mask`` (from the run seed and the mask's bits) or ``common``
(one seed for every mask of a run, the authors' way: common random numbers)."""

DEFAULT_FINAL_REPEATS = 3
"""Fresh scores per re-evaluated mask when ``[fitness] reevaluate`` is set alone."""

SCHEDULER_ADDRESS = re.compile(r"^((tcp|tls)://)?(\[[0-9a-fA-F:]+\]|[A-Za-z0-9._-]+):[0-9]{1,5}$")
"""A Dask scheduler's address: ``tcp://HOST:PORT``, ``tls://HOST:PORT`` or ``HOST:PORT``."""
