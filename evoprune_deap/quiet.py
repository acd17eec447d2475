"""Keep native libraries' start-up lines (TensorFlow's absl and oneDNN notices) off the user's terminal.

TensorFlow prints them from C++ straight to file descriptor 2 when it is first
imported, whatever Python's logging or warnings say. Keras imports it lazily
(to save a model, for instance), and the backbones run on it, so the package
imports it first, here, with descriptor 2 pointed at /dev/null for the
duration of the import only. Errors raised by the import still reach the user
as Python exceptions.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys


@contextlib.contextmanager
def native_stderr_silenced():
    """Point file descriptor 2 at /dev/null inside the block (Python's ``sys.stderr`` is flushed first)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as sink:
            os.dup2(sink.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow (if installed and not yet imported) without its start-up lines."""
    if "tensorflow" in sys.modules or importlib.util.find_spec("tensorflow") is None:
        return
    with native_stderr_silenced():
        import tensorflow  # noqa: F401
