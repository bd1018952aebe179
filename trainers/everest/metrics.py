"""The True Skill Statistic, EVEREST's objective (numpy only)."""

from __future__ import annotations

import numpy as np


def best_tss(probabilities: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """True Skill Statistic (recall + specificity - 1) at the threshold that maximises it, and that threshold.

    A sample is forecast positive when its probability is >= the threshold; ties are kept together. Predicting
    no positive at all (TSS 0) is always a candidate, its threshold just above the largest probability.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels) > 0.5
    positives, negatives = int(y.sum()), int((~y).sum())
    if positives == 0 or negatives == 0:
        raise ValueError("TSS needs both positive and negative samples")
    order = np.argsort(-p, kind="stable")
    p, y = p[order], y[order]
    last_of_tie = np.r_[p[1:] != p[:-1], True]
    tss = (np.cumsum(y)[last_of_tie] / positives) - (np.cumsum(~y)[last_of_tie] / negatives)
    thresholds = p[last_of_tie]
    best = int(np.argmax(tss))
    if tss[best] <= 0.0:
        return 0.0, float(np.nextafter(p[0], np.inf))
    return float(tss[best]), float(thresholds[best])


__all__ = ["best_tss"]
