"""On-disk cache of prepared data, shared by the trials of a study.

An entry is one ``.npz`` file named by a hash of the trainer, the data source (``synthetic``, or the input
file's resolved path, size and mtime) and every preparation argument plus :data:`FORMAT_VERSION`. Entries are
written to a temporary file in the cache folder and renamed into place, so concurrent trials never read a
half-written entry (two trials preparing the same entry at once both write it; the last rename wins, and both
contents are identical). A corrupt entry is prepared again; an unwritable cache folder only costs speed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_VERSION = 1
"""Bump when a trainer's prepared arrays change meaning, so old entries are never read."""

Arrays = dict[str, np.ndarray]


def default_cache_dir() -> Path:
    """``$HPOCTL_CACHE_DIR``, else ``~/.cache/hpoctl/data``."""
    env = os.environ.get("HPOCTL_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "hpoctl" / "data"


def file_fingerprint(path: Path) -> dict[str, Any]:
    """Identity of an input file for the cache key: resolved path, size and modification time."""
    stat = path.stat()
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def cache_key(namespace: str, source: Any, params: Mapping[str, Any]) -> str:
    """Hex digest naming an entry: same trainer, source and preparation arguments -> same key."""
    blob = json.dumps(
        {"namespace": namespace, "format": FORMAT_VERSION, "source": source, "params": dict(params)},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class Prepared:
    """Prepared arrays and how they were obtained."""

    arrays: Arrays
    cache_hit: bool
    seconds: float
    path: Path | None


class DataCache:
    """Load prepared arrays from the cache folder, or prepare and store them."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory if directory is not None else default_cache_dir()

    def path_for(self, namespace: str, key: str) -> Path:
        return self.directory / f"{namespace}-{key[:24]}.npz"

    def load_or_prepare(
        self,
        namespace: str,
        source: Any,
        params: Mapping[str, Any],
        prepare: Callable[[], Arrays],
    ) -> Prepared:
        start = time.perf_counter()
        path = self.path_for(namespace, cache_key(namespace, source, params))
        arrays = self._load(path)
        if arrays is not None:
            return Prepared(arrays, True, time.perf_counter() - start, path)
        arrays = prepare()
        stored = self._store(path, arrays)
        return Prepared(arrays, False, time.perf_counter() - start, path if stored else None)

    @staticmethod
    def _load(path: Path) -> Arrays | None:
        try:
            with np.load(path, allow_pickle=False) as npz:
                return {name: npz[name] for name in npz.files}
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
            print(f"warning: ignoring unreadable cache entry {path}: {e}", file=sys.stderr)
            return None

    @staticmethod
    def _store(path: Path, arrays: Arrays) -> bool:
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)
            return True
        except OSError as e:
            print(f"warning: not caching prepared data in {path.parent}: {e}", file=sys.stderr)
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            return False


__all__ = ["FORMAT_VERSION", "DataCache", "Prepared", "cache_key", "default_cache_dir", "file_fingerprint"]
