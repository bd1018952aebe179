"""What the benchmark reports, from the runs of `harness`: regret curves and trials to a target, hypervolume
regret, duplicate rates, epochs to a quality, milliseconds per trial."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

import numpy as np
from problems import Table


def regret_curve(table: Table, values: Sequence[tuple[float, ...]]) -> np.ndarray:
    """Best-so-far regret after each trial, on the first metric."""
    best = table.best()
    column = np.array([v[0] for v in values])
    if table.directions[0] == "maximize":
        return best - np.maximum.accumulate(column)
    return np.minimum.accumulate(column) - best


def trials_to_reach(curve: np.ndarray, target: float) -> int | None:
    """The first trial (1-based) at which a (mean) regret curve is at or below `target`; None if never."""
    hits = np.nonzero(curve <= target + 1e-12)[0]
    return int(hits[0]) + 1 if len(hits) else None


def family_ratio_interval(
    curves: dict[str, tuple[np.ndarray, np.ndarray]],
    targets: dict[str, float],
    cap: int,
    boots: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """A 95 % bootstrap interval of median-over-problems(trials to reach, A) / the same for B, resampling each
    algorithm's seeds per problem. `curves[problem]` holds A's and B's per-seed regret curves (seeds x trials);
    `targets[problem]` the regret to reach; a curve that never reaches it counts as `cap`."""
    rng = np.random.default_rng(seed)
    ratios = np.empty(boots)
    for draw in range(boots):
        reach_a, reach_b = [], []
        for problem, (runs_a, runs_b) in curves.items():
            for runs, reach in ((runs_a, reach_a), (runs_b, reach_b)):
                mean = runs[rng.integers(0, len(runs), len(runs))].mean(axis=0)
                reach.append(trials_to_reach(mean, targets[problem]) or cap)
        ratios[draw] = statistics.median(reach_a) / statistics.median(reach_b)
    low, high = np.quantile(ratios, [0.025, 0.975])
    return float(low), float(high)


def hypervolume_regret(problem, values: Sequence[tuple[float, ...]]) -> float:
    """The true Pareto front's hypervolume minus the found configurations' (a table's in its scaled space)."""
    return problem.front_hypervolume() - problem.hypervolume(np.array(values))


def epochs_to_reach(runs: Sequence, optimum: float, target: float, budget: int, step: int) -> int | None:
    """On the mean over seeds of the incumbent's regret (the best complete trial's full-length value) as a
    function of epochs spent, the first multiple of `step` epochs at which it is at or below `target`."""
    grid = range(step, budget + 1, step)
    curve = np.array([statistics.fmean(_incumbent_at(run, optimum, e) for run in runs) for e in grid])
    hits = np.nonzero(curve <= target + 1e-12)[0]
    return grid[int(hits[0])] if len(hits) else None


def final_regret(runs: Sequence, optimum: float) -> float:
    return statistics.fmean(_incumbent_at(run, optimum, math.inf) for run in runs)


def _incumbent_at(run, optimum: float, epochs: float) -> float:
    spent, best = 0, math.inf
    for used, final in zip(run.epochs, run.final, strict=True):
        spent += used
        if spent > epochs:
            break
        if final is not None:
            best = min(best, final)
    return best - optimum if best < math.inf else _NO_INCUMBENT


#: Regret counted before a study has a complete trial: above any Hartmann-6 regret (the function spans 3.33).
_NO_INCUMBENT = 3.5
