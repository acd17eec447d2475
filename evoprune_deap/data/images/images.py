"""Image files: decoding to RGB uint8, and the check that every file decodes before any work starts."""

from __future__ import annotations

import os
import warnings
from typing import Callable, Sequence

import numpy as np

from ...errors import DatasetError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")

MAX_PIXELS_VARIABLE = "EVOPRUNE_MAX_IMAGE_PIXELS"
"""Environment variable that raises (or, at 0, lifts) PIL's decompression-bomb limit for trusted large
images."""


def to_rgb_uint8(image, image_size: int) -> np.ndarray:
    """Convert a PIL image of any mode (L, RGBA, P, I;16...) to resized RGB uint8."""
    from PIL import Image

    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        span = max(array.max() - array.min(), 1.0)
        image = Image.fromarray(((array - array.min()) / span * 255).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    image = image.convert("RGB")
    if image.size != (image_size, image_size):
        image = image.resize((image_size, image_size), Image.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


_PIL_DEFAULT: list = []


def pixel_limit():
    """PIL's decompression-bomb limit, or the one ``EVOPRUNE_MAX_IMAGE_PIXELS`` sets (None: no limit).

    Raises
    ------
    DatasetError
        The variable is not a whole number of pixels.
    """
    from PIL import Image

    if not _PIL_DEFAULT:  # PIL's own limit, before this module sets the global from the variable
        _PIL_DEFAULT.append(Image.MAX_IMAGE_PIXELS)
    value = os.environ.get(MAX_PIXELS_VARIABLE)
    if value is None:
        return _PIL_DEFAULT[0]
    if not value.strip().isdigit():
        raise DatasetError(
            f"{MAX_PIXELS_VARIABLE}={value!r} is not a number of pixels; set e.g. "
            f"{MAX_PIXELS_VARIABLE}=200000000, or 0 for no limit (or unset it for PIL's default)."
        )
    return int(value) or None


def _open_checked(path: str, read: Callable):
    """``read(image)`` on the opened file; every failure is one DatasetError naming the file and the fix."""
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = pixel_limit()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return read(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DatasetError(
            f"Image {path!r} has more pixels than the limit of {Image.MAX_IMAGE_PIXELS} that guards against "
            f"decompression bombs ({exc.__class__.__name__}); if you trust the file, allow it with "
            f"{MAX_PIXELS_VARIABLE}=<pixels> (0: no limit), or shrink the image."
        ) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        empty = os.path.isfile(path) and os.path.getsize(path) == 0
        reason = "it is empty (0 bytes)" if empty else f"{exc.__class__.__name__}: {exc}"
        raise DatasetError(f"Cannot read image {path!r} ({reason}); remove or replace the file.") from exc


def check_image_files(paths: Sequence[str]) -> None:
    """Every file opens as an image within the pixel limit and passes PIL's integrity check (a truncated
    or corrupt PNG fails it), without decoding the pixels: about 0.3 ms a file, done before a backbone
    loads so that a bad file is refused at once.

    Raises
    ------
    DatasetError
        Naming the first bad file and the fix.
    """
    for path in paths:
        _open_checked(path, lambda image: image.verify())


def file_loader(paths: Sequence[str]) -> Callable[[np.ndarray, int], np.ndarray]:
    """``load(indices, image_size)``: the files ``paths[indices]`` as uint8 RGB, errors naming the file."""

    def load(indices: np.ndarray, image_size: int) -> np.ndarray:
        batch = np.empty((len(indices), image_size, image_size, 3), dtype=np.uint8)
        for row, index in enumerate(indices):
            batch[row] = _open_checked(paths[index], lambda image: to_rgb_uint8(image, image_size))
        return batch

    load.paths = tuple(paths)
    return load


def array_loader(images: np.ndarray) -> Callable[[np.ndarray, int], np.ndarray]:
    """``load(indices, image_size)``: rows of an in-memory uint8 image array as RGB."""

    def load(indices: np.ndarray, image_size: int) -> np.ndarray:
        from PIL import Image

        return np.stack([to_rgb_uint8(Image.fromarray(images[i]), image_size) for i in indices])

    return load
