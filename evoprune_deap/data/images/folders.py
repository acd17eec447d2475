"""Image folders on disk: class subfolders, numbered fold folders and zips of them, listed without decoding.

Hidden entries (names starting with a dot, macOS' ``._*`` and ``.DS_Store``) and ``__MACOSX`` folders are
skipped everywhere, in folders and zips alike. Every problem is one :class:`DatasetError` naming the
folder or file and the fix.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile

from ...errors import DatasetError
from ...storage import cache_dir
from .images import IMAGE_EXTENSIONS


def _skipped(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"


def _entries(folder: str) -> list:
    """The visible entries of ``folder`` (os.DirEntry), sorted by name; an unreadable folder is refused."""
    try:
        with os.scandir(folder) as found:
            return sorted((e for e in found if not _skipped(e.name)), key=lambda e: e.name)
    except PermissionError:
        raise DatasetError(
            f"Folder {folder!r} cannot be read (permission denied); make it readable "
            f"(chmod -R u+rX {folder!r}) or move it out of the image folder."
        ) from None
    except OSError as exc:
        raise DatasetError(f"Folder {folder!r} cannot be read ({exc.strerror}); fix or remove it.") from None


def _is_image(entry) -> bool:
    return entry.name.lower().endswith(IMAGE_EXTENSIONS) and not entry.is_dir()


def _holds_images(folder: str) -> bool:
    return any(_is_image(e) for e in _entries(folder))


def class_folders(directory: str) -> dict[str, list[str]]:
    """Map class name -> sorted image paths; errors name the bad folder or file."""
    if os.path.isfile(directory):
        raise DatasetError(
            f"Image folder {directory!r} is a file, not a folder; pass the folder holding one "
            "subfolder of images per class (DIR/<class>/*.png), or a .zip of one."
        )
    if not os.path.isdir(directory):
        raise DatasetError(
            f"Image folder {directory!r} does not exist; pass a folder holding one "
            "subfolder of images per class."
        )
    classes = [e.name for e in _entries(directory) if e.is_dir()]
    if not classes:
        raise DatasetError(
            f"Image folder {directory!r} has no class subfolders; put each class's "
            "images in its own subfolder (e.g. DIR/cat/1.jpg, DIR/dog/2.jpg)."
        )
    result = {}
    for name in classes:
        folder = os.path.join(directory, name)
        entries = _entries(folder)
        nested = [e.path for e in entries if e.is_dir() and _holds_images(e.path)]
        if nested:
            raise DatasetError(
                f"Class folder {folder!r} has a subfolder with images, {nested[0]!r}, which would be left "
                "out; put each class's images directly in its folder "
                f"({os.path.join(directory, '<class>', '*.png')})."
            )
        files = [e.path for e in entries if _is_image(e)]
        broken = [path for path in files if not os.path.isfile(path)]
        if broken:
            raise DatasetError(
                f"Image {broken[0]!r} is a broken symbolic link (its target {os.path.realpath(broken[0])!r} "
                "does not exist); remove the link or restore its target."
            )
        if not files:
            raise DatasetError(
                f"Class folder {folder!r} holds no images ({', '.join(IMAGE_EXTENSIONS)}); "
                "add images or remove the folder."
            )
        result[name] = files
    return result


def is_fold_layout(directory: str) -> bool:
    """Numbered subfolders are folds when they hold class subfolders, classes when they hold images.

    Raises DatasetError for a mixture (some numbered folders of each kind).
    """
    if not os.path.isdir(directory):
        return False
    subdirs = [e.path for e in _entries(directory) if e.is_dir()]
    if not subdirs or not all(os.path.basename(path).isdigit() for path in subdirs):
        return False
    folds = [path for path in subdirs if any(e.is_dir() for e in _entries(path)) and not _holds_images(path)]
    if len(folds) == len(subdirs):
        return True
    if not folds:
        return False  # digit-named class folders, MNIST-style: DIR/0/*.png ... DIR/9/*.png
    classes = [path for path in subdirs if path not in folds]
    raise DatasetError(
        f"Image folder {directory!r} mixes numbered fold folders ({folds[0]!r} holds class subfolders) and "
        f"numbered class folders ({classes[0]!r} holds images); use one layout: DIR/<fold>/<class>/*.png for "
        "folds, or DIR/<class>/*.png for classes."
    )


def _image_root(folder: str) -> str:
    """Descend through wrapper folders (``rps/``, ``Citrus/Leaves/``) to the one holding the classes."""
    while True:
        subdirs = [e.path for e in _entries(folder) if e.is_dir()]
        if len(subdirs) != 1 or any(_holds_images(d) for d in subdirs):
            return folder
        folder = subdirs[0]


def _check_layout(folder: str) -> None:
    """Class folders (at least two), or fold folders of them: what :func:`class_folders` reads."""
    folds = [e.path for e in _entries(folder) if e.is_dir()] if is_fold_layout(folder) else [folder]
    for fold in folds:
        classes = list(class_folders(fold))
        if len(classes) < 2:
            raise DatasetError(
                f"Image folder {fold!r} has only one class ({classes[0]!r}); classification needs at least "
                "two class subfolders with images (DIR/<class>/*.png)."
            )


def unpack_zip(path: str) -> str:
    """Unpack an image zip (e.g. tensorflow-datasets' manual ``rps.zip``) once into the cache folder and
    return the folder that holds its class subfolders.

    ``__MACOSX`` and hidden entries are left out; a zip whose images are not laid out as classes (or
    folds) is refused before anything is written to the cache, naming the folder inside the zip.
    """
    import zipfile

    if not os.path.isfile(path):
        raise DatasetError(f"Zip file {path!r} does not exist; download it or fix the path.")
    with open(path, "rb") as stream:
        digest = hashlib.sha256(stream.read()).hexdigest()[:16]
    target = cache_dir("unzipped", f"{os.path.splitext(os.path.basename(path))[0]}-{digest}")
    if not os.path.isdir(target):
        with tempfile.TemporaryDirectory(prefix="evoprune-unzip-") as scratch:
            try:
                with zipfile.ZipFile(path) as archive:
                    members = [name for name in archive.namelist() if not any(map(_skipped, name.split("/")))]
                    archive.extractall(scratch, members)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise DatasetError(f"{path!r} is not a valid zip file ({exc}); download it again.") from exc
            try:
                _check_layout(_image_root(scratch))
            except DatasetError as exc:
                raise DatasetError(str(exc).replace(scratch, path)) from None
            shutil.copytree(scratch, target + ".partial", dirs_exist_ok=True)
        os.replace(target + ".partial", target)
    return _image_root(target)


def folder_name(images: str) -> str:
    """A dataset's name from its folder: the folder's own name, or its parent's for ``train``-like folders
    (``data/plants/train`` is "plants"); a zip's name without ``.zip``."""
    path = os.path.abspath(images.rstrip(os.sep))
    name = os.path.basename(path)
    if name.lower() in ("train", "training", "trainset", "train_images", "images"):
        name = os.path.basename(os.path.dirname(path)) or name
    return name.removesuffix(".zip") or "images"
