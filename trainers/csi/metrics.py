"""Macro-F1, the CSI study's objective (numpy only)."""

from __future__ import annotations

import numpy as np


def macro_f1(predicted: np.ndarray, actual: np.ndarray) -> float:
    """Mean over classes of F1 = 2 TP / (2 TP + FP + FN), over the classes that are predicted or present
    (scikit-learn's ``f1_score(average="macro")``)."""
    predicted, actual = np.asarray(predicted), np.asarray(actual)
    scores = []
    for label in np.union1d(predicted, actual):
        tp = int(((predicted == label) & (actual == label)).sum())
        wrong = int((predicted != actual)[(predicted == label) | (actual == label)].sum())
        scores.append(2 * tp / (2 * tp + wrong))
    return float(np.mean(scores)) if scores else 0.0


__all__ = ["macro_f1"]
