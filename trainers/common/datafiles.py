"""Reading a user's ``--data`` files (NPZ arrays, CSV with a header row) for every trainer alike: any problem is
a :class:`~hpoctl.trainers.common.errors.DataError` naming the file; and the split of data that brings none."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from hpoctl.trainers.common.cache import Arrays
from hpoctl.trainers.common.errors import DataError


def read_npz(path: Path, *, report_missing: bool = False) -> Arrays:
    """Every array of an ``.npz`` file (no pickles); ``report_missing``: a missing file "does not exist" rather
    than "cannot read"."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except Exception as e:
        if report_missing and isinstance(e, FileNotFoundError):
            raise DataError(f"--data: {path} does not exist") from None
        raise DataError(f"--data: cannot read {path} as .npz: {e}") from None


def seeded_split(n: int, data_seed: int, train_share: float) -> np.ndarray:
    """A train (0) / validation (1) split of ``n`` examples for ``--data`` without one: a shuffle seeded by
    ``--data-seed`` puts ``int(train_share * n)`` of them in training."""
    rng = np.random.default_rng([data_seed, 0x5B1])
    return np.where(rng.permutation(n) < int(train_share * n), 0, 1)


def read_csv_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """A CSV file's header row and data rows (at least one), as text."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"--data: cannot read {path}: {e}") from None
    if len(rows) < 2:
        raise DataError(f"--data: {path} needs a header row and at least one data row")
    return rows[0], rows[1:]


__all__ = ["read_csv_rows", "read_npz", "seeded_split"]
