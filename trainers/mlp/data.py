"""MLP data: a deterministic synthetic classification set, or a user's CSV/NPZ file.

``--data`` format: a ``.csv`` or ``.npz`` file, or a folder holding ``mlp.csv`` or ``mlp.npz``.

- CSV: a header row; the label column (``--label-column``, default ``label``; any values, e.g. strings);
  an optional ``split`` column (``train``/``val`` or 0/1); every other column a numeric feature.
- NPZ: ``X`` float [N, F], ``y`` [N] labels (ints or strings), optional ``split`` [N] (0 train, 1 val).

Without a split, a seeded 80/20 shuffle (``--data-seed``) makes one. Preparation (cached): classes are
numbered in sorted order, features standardised with the training split's statistics (NaN -> mean).

Synthetic data: two Gaussian clusters per class on the vertices of a hypercube in 8 informative
dimensions, mixed by a random linear map, plus 4 redundant (linear combinations) and noise features,
with 3% of labels flipped (scikit-learn's ``make_classification`` recipe).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hpoctl.trainers.common.cache import Arrays, file_fingerprint
from hpoctl.trainers.common.datafiles import read_csv_rows, read_npz, seeded_split
from hpoctl.trainers.common.errors import DataError

DATA_FILES = ("mlp.npz", "mlp.csv")
TRAIN, VAL = 0, 1
DATA_VERSION = 1
"""Part of every cache key: bump when the generator or the preparation changes its output."""


def synthesize(n_samples: int, n_features: int, n_classes: int, data_seed: int) -> Arrays:
    """Raw synthetic data (``X``, ``y``, ``split``), deterministic in its arguments."""
    rng = np.random.default_rng([data_seed, 0x3A1])
    informative = min(8, n_features)
    redundant = min(4, n_features - informative)
    vertices = rng.choice([-1.0, 1.0], size=(2 * n_classes, informative))
    y = rng.integers(0, n_classes, n_samples)
    cluster = 2 * y + rng.integers(0, 2, n_samples)
    x_inf = vertices[cluster] + rng.normal(0.0, 1.0, (n_samples, informative)) @ rng.uniform(
        -1.0, 1.0, (informative, informative)
    )
    x_red = x_inf @ rng.uniform(-1.0, 1.0, (informative, redundant))
    x_noise = rng.normal(0.0, 1.0, (n_samples, n_features - informative - redundant))
    x = np.hstack([x_inf, x_red, x_noise])[:, rng.permutation(n_features)]
    flip = rng.random(n_samples) < 0.03
    y[flip] = rng.integers(0, n_classes, int(flip.sum()))
    split = np.where(rng.permutation(n_samples) < int(0.8 * n_samples), TRAIN, VAL)
    return {"X": x.astype(np.float32), "y": y, "split": split}


def data_file(data: Path) -> Path:
    """The file ``--data`` names: itself, or ``mlp.npz``/``mlp.csv`` in the folder."""
    if data.is_dir():
        for name in DATA_FILES:
            if (data / name).is_file():
                return data / name
        raise DataError(f"--data: {data} holds neither {' nor '.join(DATA_FILES)}")
    if not data.is_file():
        raise DataError(f"--data: {data} does not exist")
    if data.suffix not in (".csv", ".npz"):
        raise DataError(f"--data: {data} is neither .csv nor .npz")
    return data


def read_csv(path: Path, label_column: str) -> Arrays:
    """Read a CSV with a header row into ``X``, ``y`` and maybe ``split``."""
    header, body = read_csv_rows(path)
    if label_column not in header:
        raise DataError(f"--data: {path} has no column {label_column!r} (columns: {', '.join(header)})")
    if any(len(row) != len(header) for row in body):
        bad = next(i for i, row in enumerate(body, start=2) if len(row) != len(header))
        raise DataError(f"--data: {path} line {bad} has a different number of fields than the header")
    columns = list(zip(*body, strict=True))
    label = header.index(label_column)
    raw: Arrays = {"y": np.array(columns[label])}
    features = [i for i, name in enumerate(header) if i != label and name != "split"]
    try:
        raw["X"] = np.array([[float(v) if v.strip() else np.nan for v in columns[i]] for i in features]).T
    except ValueError as e:
        raise DataError(f"--data: {path} has a non-numeric feature value ({e})") from None
    if "split" in header:
        values = np.array(columns[header.index("split")])
        is_train, is_val = np.isin(values, ["train", "0"]), np.isin(values, ["val", "1"])
        raw["split"] = np.where(is_val, VAL, np.where(is_train, TRAIN, -1))
    return raw


def prepare(raw: Arrays, data_seed: int) -> Arrays:
    """Number the classes, split if needed, standardise with training statistics."""
    x, y = raw.get("X"), raw.get("y")
    if x is None or y is None or x.ndim != 2 or y.shape != (len(x),):
        raise DataError("--data: need X [N, F] and y [N] of the same length")
    classes, y_index = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise DataError(f"--data: need at least 2 classes, found {len(classes)}")
    split = raw.get("split")
    if split is None:
        split = seeded_split(len(x), data_seed, 0.8)
    if split.shape != (len(x),) or not np.isin(split, [TRAIN, VAL]).all():
        raise DataError("--data: split must be [N] with 0/train and 1/val only")
    if not (split == TRAIN).any() or not (split == VAL).any():
        raise DataError("--data: the train and validation splits must both be non-empty")
    x = x.astype(np.float64)
    train = x[split == TRAIN]
    mean, std = np.nanmean(train, axis=0), np.nanstd(train, axis=0)
    if not np.isfinite(mean).all():
        raise DataError("--data: a feature has no finite value in the training split")
    std[~(std > 0)] = 1.0
    x = np.nan_to_num((x - mean) / std, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
    return {"X": x, "y": y_index.astype(np.int64), "split": split.astype(np.int8), "classes": classes.astype(str)}


def load_prepared(trial: Any, data_path: Path | None, args: Any) -> Arrays:
    """Prepared arrays for a trial, from the cache when possible (``trial`` is a common Trial)."""
    if data_path is None:
        params = {k: getattr(args, k) for k in ("n_samples", "n_features", "n_classes", "data_seed")}
        params["version"] = DATA_VERSION
        return trial.prepare_data(
            "synthetic",
            params,
            lambda: prepare(synthesize(args.n_samples, args.n_features, args.n_classes, args.data_seed), 0),
        )
    path = data_file(data_path)

    def load() -> Arrays:
        raw = read_csv(path, args.label_column) if path.suffix == ".csv" else read_npz(path)
        return prepare(raw, args.data_seed)

    params = {"label_column": args.label_column, "data_seed": args.data_seed, "version": DATA_VERSION}
    return trial.prepare_data(file_fingerprint(path), params, load)


__all__ = ["DATA_FILES", "load_prepared", "prepare", "read_csv", "synthesize"]
