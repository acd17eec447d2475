"""evoprune-deap: evolutionary pruning of transfer-learning heads (EvoPruneDeepTL).

Importing the package picks the Keras backend unless the user already chose
one with ``KERAS_BACKEND``: JAX, measured several times faster than TensorFlow
for the small dense heads trained here on CPU (see benchmarks/).
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    BackboneError,
    ConfigError,
    DatasetError,
    EncodingError,
    EvopruneError,
    FeatureCacheError,
    RunDirectoryError,
    RunInterrupted,
)

__all__ = [
    "__version__",
    "BackboneError",
    "ConfigError",
    "DatasetError",
    "EncodingError",
    "EvopruneError",
    "FeatureCacheError",
    "RunDirectoryError",
    "RunInterrupted",
]
