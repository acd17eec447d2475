"""Read a legacy (pre-1.6, non-zip) ``torch.save`` state dict into numpy, without torch.

The legacy format is a sequence of pickles followed by raw storage bytes:

1. the magic number, 2. the protocol version, 3. a sys-info dict,
4. the state dict, whose tensors refer to storages through persistent ids,
5. the list of storage keys; then, for each key in that order, an int64
   element count followed by the storage's raw little-endian bytes.

Only the handful of global names such a file needs are allowed, so a tampered
file cannot run code while it is read.
"""

from __future__ import annotations

import collections
import pickle
import struct
from typing import BinaryIO

import numpy as np

from ...errors import BackboneError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _StorageType:
    def __init__(self, name: str):
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _StorageRef:
    def __init__(self, key: str, dtype: np.dtype, numel: int):
        self.key, self.dtype, self.numel = key, dtype, numel


class _TensorRef:
    def __init__(self, storage: _StorageRef, offset: int, size: tuple, stride: tuple):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride


def _rebuild_tensor_v2(storage, storage_offset, size, stride, *_unused):
    return _TensorRef(storage, int(storage_offset), tuple(size), tuple(stride))


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise BackboneError(
            f"Refusing to load {module}.{name!r} from a weights file: only plain "
            "tensor state dicts are allowed. Is this the right file?"
        )

    def persistent_load(self, pid):
        # ('storage', storage_type, key, location, numel, view_metadata)
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise BackboneError(f"Unexpected persistent id {pid!r} in weights file.")
        storage_type, key, _location, numel = pid[1], pid[2], pid[3], pid[4]
        return _StorageRef(str(key), storage_type.dtype, int(numel))


def load_legacy_state_dict(stream: BinaryIO) -> dict[str, np.ndarray]:
    """Read a legacy ``torch.save`` state dict into numpy arrays.

    Parameters
    ----------
    stream : binary file object
        Positioned at the start of the file.

    Returns
    -------
    dict of str to ndarray
        Parameter name -> array with the tensor's shape and dtype.

    Raises
    ------
    BackboneError
        If the file is not a legacy torch state dict or is truncated.
    """
    try:
        magic = _RestrictedUnpickler(stream).load()
        if magic != LEGACY_MAGIC:
            raise BackboneError("Not a legacy torch.save file (bad magic number).")
        protocol = _RestrictedUnpickler(stream).load()
        if protocol != LEGACY_PROTOCOL:
            raise BackboneError(f"Unsupported torch.save protocol {protocol!r}.")
        _RestrictedUnpickler(stream).load()  # sys info
        state = _RestrictedUnpickler(stream).load()
        keys = _RestrictedUnpickler(stream).load()
    except (pickle.UnpicklingError, EOFError, AttributeError, TypeError) as exc:
        raise BackboneError(f"Corrupt weights file: {exc}") from exc

    refs = {ref.storage.key: ref.storage for ref in state.values() if isinstance(ref, _TensorRef)}
    buffers: dict[str, np.ndarray] = {}
    for key in keys:
        storage = refs.get(str(key))
        header = stream.read(8)
        if len(header) != 8:
            raise BackboneError("Truncated weights file (storage header missing).")
        (numel,) = struct.unpack("<q", header)
        dtype = storage.dtype if storage is not None else np.dtype(np.float32)
        raw = stream.read(numel * dtype.itemsize)
        if len(raw) != numel * dtype.itemsize:
            raise BackboneError("Truncated weights file (storage bytes missing).")
        buffers[str(key)] = np.frombuffer(raw, dtype=dtype.newbyteorder("<"))

    arrays: dict[str, np.ndarray] = {}
    for name, ref in state.items():
        if not isinstance(ref, _TensorRef):
            continue
        flat = buffers[ref.storage.key]
        itemsize = flat.dtype.itemsize
        array = np.lib.stride_tricks.as_strided(
            flat[ref.offset :],
            shape=ref.size,
            strides=tuple(s * itemsize for s in ref.stride),
            writeable=False,
        )
        arrays[name] = np.array(array, dtype=flat.dtype.newbyteorder("="))
    return arrays
