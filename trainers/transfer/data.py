"""Transfer data: the ``--data`` formats, a deterministic synthetic DFT and experimental set, preprocessing, and
the folds of the stage-2 cross-validation.

``--data`` format, either

- ``transfer.npz`` (in the folder, or the file itself) with ``dft_X`` [N, F] and ``dft_chi`` [N] (the DFT set;
  optional ``dft_split`` [N]: 0 train, 1 validation) and ``exp_X`` [M, F], ``exp_chi`` [M], ``exp_soluble`` [M]
  (0/1; the experimental set), the same F features in both;
- or a folder with ``dft.csv`` (feature columns and ``chi``, optionally ``split``) and ``exp.csv`` (the same
  feature columns, ``chi`` and ``soluble``), each with a header row.

Features are, e.g., polymer and solvent fingerprints and descriptors; chi is the Flory-Huggins interaction
parameter. Preparation (cached): without a DFT split, a seeded 90/10 one (``--data-seed``); features standardised
with the DFT training split's statistics (both sets), chi kept in its units (the MAEs are in chi units).

Synthetic data (no ``--data``): polymer-solvent pairs described by 8 latent factors, seen through 48 binary
fingerprint bits (logistic in the factors) and 16 noisy descriptors. DFT chi is a smooth nonlinear function of
the factors plus small noise. The experimental set is small and shifted: its pairs come from a different region
of factor space, experimental chi is a scaled and offset DFT chi plus an effect DFT misses and more noise, and
a pair is soluble (about a quarter of them, the positive class) when its experimental chi falls below a
threshold, with a few labels flipped.

Stage 2 cross-validates over the experimental set: :func:`kfold_indices` deals each class's shuffled examples
round-robin into k folds, so every example is validated exactly once and every fold holds both classes when
the data allows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hpoctl.trainers.common.cache import Arrays, file_fingerprint
from hpoctl.trainers.common.datafiles import read_csv_rows, read_npz, seeded_split
from hpoctl.trainers.common.errors import DataError

DATA_FILE = "transfer.npz"
CSV_FILES = ("dft.csv", "exp.csv")
TRAIN, VAL = 0, 1
N_FACTORS, N_BITS, N_DESCRIPTORS = 8, 48, 16
DATA_VERSION = 1
"""Part of every cache key: bump when the generator or the preparation changes its output."""


def kfold_indices(n: int, k: int, seed: int, labels: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` (train, validation) index pairs over ``n`` examples: the validation parts are disjoint and cover every
    example once; with ``labels``, each class is spread evenly over the folds (stratified)."""
    if not 2 <= k <= n:
        raise ValueError(f"need 2 <= folds <= examples, got {k} folds of {n} examples")
    rng = np.random.default_rng([seed, 0xF01D])
    groups = [np.arange(n)] if labels is None else [np.flatnonzero(labels == c) for c in np.unique(labels)]
    fold_of = np.empty(n, dtype=np.int64)
    offset = 0
    for group in groups:
        shuffled = rng.permutation(group)
        fold_of[shuffled] = (offset + np.arange(len(shuffled))) % k
        offset += len(shuffled)  # the next class starts where this one stopped: folds stay balanced in size
    return [(np.flatnonzero(fold_of != fold), np.flatnonzero(fold_of == fold)) for fold in range(k)]


def _teacher(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return rng.normal(size=(N_FACTORS, 32)) / np.sqrt(N_FACTORS), rng.normal(size=32) / np.sqrt(32)


def synthesize(n_dft: int, n_exp: int, data_seed: int) -> Arrays:
    """Raw synthetic sets (``dft_X``, ``dft_chi``, ``exp_X``, ``exp_chi``, ``exp_soluble``), deterministic."""
    rng = np.random.default_rng([data_seed, 0x7F4])
    bit_loadings = rng.normal(size=(N_FACTORS, N_BITS)) * 1.2
    descriptor_loadings = rng.normal(size=(N_FACTORS, N_DESCRIPTORS))
    w1, w2 = _teacher(rng)

    def features(z: np.ndarray) -> np.ndarray:
        bits = rng.random((len(z), N_BITS)) < 1 / (1 + np.exp(-z @ bit_loadings))
        descriptors = z @ descriptor_loadings + rng.normal(0, 0.3, (len(z), N_DESCRIPTORS))
        return np.hstack([bits, descriptors]).astype(np.float32)

    def dft_chi(z: np.ndarray) -> np.ndarray:
        return 0.6 + 0.5 * np.tanh(z @ w1) @ w2 + 0.15 * z[:, 0] * z[:, 1]

    z_dft = rng.normal(size=(n_dft, N_FACTORS))
    z_exp = rng.normal(size=(n_exp, N_FACTORS)) * 0.9 + np.r_[0.4, -0.3, np.zeros(N_FACTORS - 2)]
    exp_chi = 0.85 * dft_chi(z_exp) + 0.1 + 0.15 * np.sin(2 * z_exp[:, 2]) + rng.normal(0, 0.08, n_exp)
    soluble = exp_chi + rng.normal(0, 0.05, n_exp) < np.quantile(exp_chi, 0.25)
    flipped = rng.random(n_exp) < 0.04
    soluble[flipped] = ~soluble[flipped]
    return {
        "dft_X": features(z_dft),
        "dft_chi": dft_chi(z_dft) + rng.normal(0, 0.05, n_dft),
        "exp_X": features(z_exp),
        "exp_chi": exp_chi,
        "exp_soluble": soluble.astype(np.int64),
    }


def _read_csv(path: Path, targets: tuple[str, ...]) -> tuple[list[str], Arrays]:
    header, body = read_csv_rows(path)
    missing = [t for t in targets if t not in header]
    if missing:
        raise DataError(f"--data: {path} has no column {', '.join(missing)} (columns: {', '.join(header)})")
    if any(len(row) != len(header) for row in body):
        raise DataError(f"--data: {path} has a row with a different number of fields than the header")
    try:
        table = np.array([[float(v) for v in row] for row in body])
    except ValueError as e:
        raise DataError(f"--data: {path} has a non-numeric value ({e})") from None
    features = [name for name in header if name not in (*targets, "split")]
    columns = {name: table[:, header.index(name)] for name in header}
    return features, {"X": np.stack([columns[f] for f in features], axis=1), **columns}


def read_csv_pair(folder: Path) -> Arrays:
    """``dft.csv`` and ``exp.csv`` with the same feature columns."""
    dft_features, dft = _read_csv(folder / "dft.csv", ("chi",))
    exp_features, exp = _read_csv(folder / "exp.csv", ("chi", "soluble"))
    if dft_features != exp_features:
        raise DataError(f"--data: dft.csv and exp.csv must have the same feature columns in {folder}")
    raw = {"dft_X": dft["X"], "dft_chi": dft["chi"], "exp_X": exp["X"], "exp_chi": exp["chi"]}
    raw["exp_soluble"] = exp["soluble"]
    if "split" in dft:
        raw["dft_split"] = dft["split"]
    return raw


def prepare(raw: Arrays, data_seed: int) -> Arrays:
    """Check shapes, split the DFT set if needed, standardise features with the DFT training statistics."""
    needed = ("dft_X", "dft_chi", "exp_X", "exp_chi", "exp_soluble")
    missing = [name for name in needed if name not in raw]
    if missing:
        raise DataError(f"--data: missing {', '.join(missing)}")
    dft_x, exp_x = np.asarray(raw["dft_X"], dtype=np.float64), np.asarray(raw["exp_X"], dtype=np.float64)
    n, m = len(dft_x), len(exp_x)
    if dft_x.ndim != 2 or exp_x.ndim != 2 or dft_x.shape[1] != exp_x.shape[1]:
        raise DataError(f"--data: dft_X and exp_X must be [N, F] with the same F, got {dft_x.shape}, {exp_x.shape}")
    if np.shape(raw["dft_chi"]) != (n,) or np.shape(raw["exp_chi"]) != (m,) or np.shape(raw["exp_soluble"]) != (m,):
        raise DataError("--data: dft_chi must be [N], exp_chi and exp_soluble [M], as long as their X")
    soluble = np.asarray(raw["exp_soluble"])
    if not np.isin(soluble, [0, 1]).all() or len(np.unique(soluble)) < 2:
        raise DataError("--data: exp_soluble must be 0/1 with both classes present")
    split = raw.get("dft_split")
    if split is None:
        split = seeded_split(n, data_seed, 0.9)
    split = np.asarray(split)
    if split.shape != (n,) or not np.isin(split, [TRAIN, VAL]).all() or not (split == VAL).any():
        raise DataError("--data: dft_split must be [N] with 0 (train) and 1 (validation), both present")
    train = dft_x[split == TRAIN]
    mean, std = train.mean(axis=0), train.std(axis=0)
    std[~(std > 0)] = 1.0
    return {
        "dft_x": ((dft_x - mean) / std).astype(np.float32),
        "dft_chi": np.asarray(raw["dft_chi"], dtype=np.float32),
        "dft_split": split.astype(np.int8),
        "exp_x": ((exp_x - mean) / std).astype(np.float32),
        "exp_chi": np.asarray(raw["exp_chi"], dtype=np.float32),
        "exp_soluble": soluble.astype(np.float32),
    }


def load_prepared(trial: Any, data_path: Path | None, args: Any) -> Arrays:
    """Prepared arrays for a trial, from the cache when possible (``trial`` is a common Trial)."""
    if data_path is None:
        params = {"n_dft": args.n_dft, "n_exp": args.n_exp, "data_seed": args.data_seed, "version": DATA_VERSION}
        return trial.prepare_data(
            "synthetic", params, lambda: prepare(synthesize(args.n_dft, args.n_exp, args.data_seed), args.data_seed)
        )
    params = {"data_seed": args.data_seed, "version": DATA_VERSION}
    if data_path.is_dir() and not (data_path / DATA_FILE).is_file():
        if not all((data_path / name).is_file() for name in CSV_FILES):
            raise DataError(f"--data: {data_path} holds neither {DATA_FILE} nor dft.csv and exp.csv")
        source = [file_fingerprint(data_path / name) for name in CSV_FILES]
        return trial.prepare_data(source, params, lambda: prepare(read_csv_pair(data_path), args.data_seed))
    path = data_path / DATA_FILE if data_path.is_dir() else data_path
    if not path.is_file():
        raise DataError(f"--data: {data_path} does not exist")
    return trial.prepare_data(file_fingerprint(path), params, lambda: prepare(read_npz(path), args.data_seed))


__all__ = ["DATA_FILE", "TRAIN", "VAL", "kfold_indices", "load_prepared", "prepare", "read_csv_pair", "synthesize"]
