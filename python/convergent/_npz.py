"""Portable checkpoint files: NumPy arrays plus a JSON document in one ``.npz``, no pickle.

Nested Python structures (dicts with any scalar keys, lists, tuples, numbers, strings, None and
arrays) are packed into JSON, each array replaced by a reference to an entry of the archive. The
JSON is stored as a uint8 array named ``__meta__``; files are read with
``np.load(allow_pickle=False)``.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import numpy as np

__all__ = ["pack", "read_npz", "unpack", "write_npz"]

_META = "__meta__"


def pack(obj: Any, arrays: dict[str, np.ndarray], prefix: str = "a") -> Any:
    """A JSON-serialisable form of ``obj``; its arrays are stored (as copies) in ``arrays``."""
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            raise TypeError("object arrays cannot be saved")
        key = f"{prefix}{len(arrays)}"
        arrays[key] = np.array(obj, copy=True)
        return {"__array__": key}
    if isinstance(obj, dict):
        return {
            "__dict__": [[pack(k, arrays, prefix), pack(v, arrays, prefix)] for k, v in obj.items()]
        }
    if isinstance(obj, tuple):
        return {"__tuple__": [pack(v, arrays, prefix) for v in obj]}
    if isinstance(obj, list):
        return [pack(v, arrays, prefix) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot save a value of type {type(obj).__name__}")


def unpack(obj: Any, arrays: Any) -> Any:
    """Inverse of :func:`pack` (``arrays`` maps keys to arrays, e.g. an open NpzFile)."""
    if isinstance(obj, dict):
        if "__array__" in obj:
            return np.array(arrays[obj["__array__"]], copy=True)
        if "__dict__" in obj:
            return {_hashable(unpack(k, arrays)): unpack(v, arrays) for k, v in obj["__dict__"]}
        if "__tuple__" in obj:
            return tuple(unpack(v, arrays) for v in obj["__tuple__"])
        raise ValueError("malformed checkpoint metadata")
    if isinstance(obj, list):
        return [unpack(v, arrays) for v in obj]
    return obj


def _hashable(k: Any) -> Any:
    return tuple(k) if isinstance(k, list) else k


def write_npz(path: Any, arrays: dict[str, np.ndarray], meta: Any) -> None:
    """Writes ``arrays`` and the JSON ``meta`` to ``path`` (a file name is used exactly as given
    and replaced atomically; a binary file object is written to)."""
    payload = dict(arrays)
    if _META in payload:
        raise ValueError(f"{_META!r} is a reserved array name")
    text = json.dumps(meta, sort_keys=False)
    payload[_META] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    if hasattr(path, "write"):
        np.savez(path, **payload)
        return
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **payload)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def read_npz(path: Any) -> tuple[dict[str, np.ndarray], Any]:
    """Reads a file written by :func:`write_npz`: (arrays, meta)."""
    with np.load(path, allow_pickle=False) as f:
        if _META not in f.files:
            raise ValueError(f"{path!r} is not a convergent file (no {_META!r} entry)")
        meta = json.loads(bytes(f[_META]).decode("utf-8"))
        arrays = {k: f[k] for k in f.files if k != _META}
    return arrays, meta
