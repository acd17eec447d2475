"""evoprune-deap: evolutionary pruning of transfer-learning heads (EvoPruneDeepTL).

Importing the package picks the Keras backend unless the user already chose
one with ``KERAS_BACKEND``: JAX, measured several times faster than TensorFlow
for the small dense heads trained here on CPU (see benchmarks/).
"""

import os
import warnings

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Keras (3.13+) asks ``hasattr(np, "object")`` when it imports its ONNX helper, which NumPy 1.24-1.26 answer
# with this FutureWarning on every command's stderr; found by the requirements' floors run (.ci/floors).
warnings.filterwarnings("ignore", message="In the future `np.object` will be defined", category=FutureWarning)

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
from .version import __version__  # noqa: E402,F401

_PUBLIC = {  # name -> module that defines it, imported on first use so `import evoprune_deap` stays light
    "ExperimentConfig": ".config",
    "load_config": ".config",
    "FeatureSet": ".data.features",
    "load_source": ".data.images.sources",
    "extract_features": ".data.extraction",
    "load_feature_set": ".run.experiment",
    "run_experiment": ".run.experiment",
    "resume_run": ".run.experiment",
    "run_campaign": ".run.campaign",
    "write_report": ".report.tables",
    "export_member": ".shipping.members",
    "build_ensemble": ".shipping.members",
    "export_model": ".shipping.export",
    "load_head": ".head.models.stack",
    "EvoPruneClassifier": ".estimators",
    "EvoPruneFeatureSelector": ".estimators",
}


def __getattr__(name: str):
    if name in _PUBLIC:
        import importlib

        value = getattr(importlib.import_module(_PUBLIC[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_PUBLIC))


__all__ = [
    "__version__",
    *_PUBLIC,
    "BackboneError",
    "ConfigError",
    "DatasetError",
    "EncodingError",
    "EvopruneError",
    "FeatureCacheError",
    "RunDirectoryError",
    "RunInterrupted",
]
