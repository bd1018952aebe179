"""`--check-data` for EVEREST: every problem of a SHARP CSV or NPZ file for one target at once, one line each,
found by reading it as training would."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from hpoctl.trainers.common.cache import Arrays
from hpoctl.trainers.common.errors import DataError
from hpoctl.trainers.everest.data import SPLITS, data_file, read_raw, target_labels


def check(run: Any, data: Any) -> tuple[list[str], str]:
    """(problems, a one-line summary of what training would see)."""
    try:
        path = data_file(run.data)
        raw, problems = read_raw(path, data.seq_len, data.data_seed)
    except DataError as e:
        return [str(e).removeprefix("--data: ")], ""
    if problems:
        return problems, ""
    problems = array_problems(raw, run.target, data.seq_len, data.n_features)
    return problems, "" if problems else _summary(raw, run.target)


def array_problems(raw: Arrays, target: str, seq_len: int | None, n_features: int | None) -> list[str]:
    """What would stop or mislead training on these arrays for this target."""
    x = raw.get("X")
    if x is None or getattr(x, "ndim", 0) != 3 or not np.issubdtype(x.dtype, np.number):
        shape = None if x is None else getattr(x, "shape", None)
        return [f"X must be a numeric [N, T, F] array of sequences, got {shape}"]
    problems: list[str] = []
    n, steps, features = x.shape
    if seq_len is not None and seq_len > steps:
        problems.append(f"--seq-len {seq_len} exceeds the data's {steps} time steps")
    if n_features is not None and n_features > features:
        problems.append(f"--n-features {n_features} exceeds the data's {features} parameters")
    infinite = int(np.isinf(x).any(axis=(1, 2)).sum())
    if infinite:
        problems.append(f"{infinite} sample(s) hold an infinite value (mark gaps with NaN)")
    empty = int(np.isnan(x).all(axis=(1, 2)).sum())
    if empty:
        problems.append(f"{empty} sample(s) are NaN throughout (no value at any step)")
    split = np.asarray(raw.get("split", np.zeros(0)))
    if split.shape != (n,) or not np.isin(split, list(SPLITS.values())).all():
        problems.append(f"split must be [N] with values 0 train, 1 val, 2 test (N={n}), got shape {split.shape}")
        split = None
    else:
        for name in ("train", "val"):
            if not (split == SPLITS[name]).any():
                problems.append(f"the {name} split is empty")
        train = x[split == SPLITS["train"]]
        if len(train):
            with warnings.catch_warnings():  # numpy's "Mean of empty slice" says what the check reports
                warnings.simplefilter("ignore", RuntimeWarning)
                blank = ~np.isfinite(np.nanmean(np.where(np.isinf(train), np.nan, train), axis=(0, 1)))
            names = np.asarray(raw.get("feature_names", [f"f{i}" for i in range(features)])).astype(str)
            if blank.any():
                problems.append(f"parameter(s) {', '.join(names[blank])} have no finite value in the training split")
    try:
        labels = target_labels(raw, n)
    except DataError as e:
        return [*problems, str(e).removeprefix("--data: ")]
    key = f"y_{target}"
    if key not in labels:
        problems.append(f"no labels for target {target} (need {key} or max_class_{target[2:]})")
    elif split is not None:
        for name in ("train", "val"):
            mask = split == SPLITS[name]
            positives = int(labels[key][mask].sum())
            if mask.any() and positives in (0, int(mask.sum())):
                kind = "no positives" if positives == 0 else "no negatives"
                problems.append(f"the {name} split has {kind} of {target} among {int(mask.sum())} samples")
    return problems


def _summary(raw: Arrays, target: str) -> str:
    x, split = raw["X"], np.asarray(raw["split"])
    labels = target_labels(raw, len(x))[f"y_{target}"]
    parts = [
        f"{name} {int((split == code).sum())} ({int(labels[split == code].sum())} positive)"
        for name, code in SPLITS.items()
    ]
    return f"{len(x)} sequences of {x.shape[1]} steps x {x.shape[2]} parameters; {target}: {', '.join(parts)}"


__all__ = ["array_problems", "check"]
