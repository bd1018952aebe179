"""Several objectives: the Pareto front, non-domination ranks, and the picks a reader asks for
(the best trial per objective, and the balanced trial closest to the ideal point)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from optuna.trial import FrozenTrial

Directions = Sequence[str]  # "minimize" | "maximize", one per objective


def losses(trials: Sequence[FrozenTrial], directions: Directions) -> np.ndarray:
    """The trials' values as an (n, m) array where lower is better for every column."""
    signs = np.array([1.0 if d == "minimize" else -1.0 for d in directions])
    if not trials:
        return np.empty((0, len(signs)))
    return np.array([t.values for t in trials], dtype=float) * signs


def non_dominated(loss: np.ndarray) -> np.ndarray:
    """A mask of the rows no other row dominates (at least as good everywhere, better somewhere).
    Equal rows do not dominate each other, so duplicates on the front all stay on it."""
    mask = np.ones(len(loss), dtype=bool)
    for i, row in enumerate(loss):
        dominates_row = np.all(loss <= row, axis=1) & np.any(loss < row, axis=1)
        mask[i] = not dominates_row.any()
    return mask


def nondomination_ranks(loss: np.ndarray, enough: int | None = None) -> np.ndarray:
    """Rank 0 is the front, rank 1 the front of what is left, and so on. With `enough`, peeling stops
    once that many rows are ranked; the rest get the rank after the last one peeled."""
    ranks = np.full(len(loss), -1)
    left = np.arange(len(loss))
    rank = 0
    while len(left) and (enough is None or (ranks >= 0).sum() < enough):
        front = non_dominated(loss[left])
        ranks[left[front]] = rank
        left = left[~front]
        rank += 1
    ranks[left] = rank
    return ranks


def ideal_distances(loss: np.ndarray, front: np.ndarray) -> np.ndarray:
    """Euclidean distance of each row to the ideal point, each objective min-max normalised over the
    front (the front's best is 0, its worst 1; an objective on which the front agrees counts 0)."""
    if not len(loss):
        return np.empty(0)
    low, high = front.min(axis=0), front.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    return np.sqrt((((loss - low) / span) ** 2).sum(axis=1))


def pareto_front(trials: Sequence[FrozenTrial], directions: Directions) -> list[FrozenTrial]:
    """The non-dominated trials, by trial number."""
    mask = non_dominated(losses(trials, directions))
    return sorted((t for t, keep in zip(trials, mask, strict=True) if keep), key=lambda t: t.number)


def best_per_objective(front: Sequence[FrozenTrial], directions: Directions) -> list[FrozenTrial]:
    """For each objective, the front's trial with the best stored value (lowest trial number on a tie)."""
    loss = losses(front, directions)
    picks = []
    for i in range(len(directions)):
        k = min(range(len(front)), key=lambda k, i=i: (loss[k, i], front[k].number))
        picks.append(front[k])
    return picks


def balanced(front: Sequence[FrozenTrial], directions: Directions) -> FrozenTrial:
    """The front's trial closest to the ideal point after min-max normalisation over the front."""
    loss = losses(front, directions)
    distances = ideal_distances(loss, loss)
    return min(zip(front, distances, strict=True), key=lambda pair: (pair[1], pair[0].number))[0]


def ranked(trials: Sequence[FrozenTrial], directions: Directions, limit: int) -> list[FrozenTrial]:
    """The best `limit` trials: by non-domination rank, then distance to the ideal point (normalised
    over the front, so the first one is the balanced pick), then trial number."""
    if not trials:
        return []
    loss = losses(trials, directions)
    ranks = nondomination_ranks(loss, enough=limit)
    distances = ideal_distances(loss, loss[ranks == 0])
    order = sorted(range(len(trials)), key=lambda i: (ranks[i], distances[i], trials[i].number))
    return [trials[i] for i in order[:limit]]
