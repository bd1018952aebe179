"""Optuna pruners hpoctl has no early-stopping rule for, measured with a sampler on the MFHartmann-6 curves the way
run.py's fidelity part measures hpoctl's rules (issue 19: a rule that saves 2x epochs with TPE-class samplers).

    python bench/search/pruner_candidates.py --algorithm auto --seeds 10 --pruners "none,median,pct33 w6"

Per curve and pruner: the epochs (mean curve over seeds) to reach the unpruned study's final regret, the saving,
the final regret with its ratio to unpruned (`>>` when worse by more than twice the standard error of the difference,
Welch), and the regret at half the budget. The study is run by harness.run_curves with the candidate in place of
build_pruner's choice. `--finished-only` lets the sampler model only the trials that ran to the end (BOHB's model on
the largest budget, without its lower rungs), to see whether the pruned trials mislead TPE.

Two kinds of candidate are not rules one could ship, but bounds: `oracle at R` knows every trial's full-length value
and, at epoch R, stops every trial that will not beat the best complete trial so far; `oracle pP at R` stops those
worse than the P-th percentile of the full-length values seen so far. `--correlation` prints what a rule can know
instead: the rank correlation of a trial's value at each epoch (and of its best value up to that epoch) with its
full-length value, over random configurations.
"""

from __future__ import annotations

import argparse
import math
import statistics

import harness
import numpy as np
import optuna
from harness import ALGORITHMS, build_sampler, run_curves
from measures import _incumbent_at, epochs_to_reach, final_regret
from optuna.trial import TrialState
from problems import FIDELITY, Curves, load_curves
from run import EPOCHS, FIDELITY_TRIALS, fidelity_plan
from scipy.stats import spearmanr

P = optuna.pruners
#: Candidates: label -> a fresh pruner. Steps are epochs of run.py's 20-epoch trials.
CANDIDATES = {
    "none": lambda: P.NopPruner(),
    "median": lambda: P.MedianPruner(n_startup_trials=5, n_warmup_steps=4),  # hpoctl's default for 20 epochs
    "median w2": lambda: P.MedianPruner(n_startup_trials=5, n_warmup_steps=2),
    "median w6": lambda: P.MedianPruner(n_startup_trials=5, n_warmup_steps=6),
    "median w8": lambda: P.MedianPruner(n_startup_trials=5, n_warmup_steps=8),
    "median w4 i4": lambda: P.MedianPruner(n_startup_trials=5, n_warmup_steps=4, interval_steps=4),
    "patient median": lambda: P.PatientPruner(P.MedianPruner(n_startup_trials=5, n_warmup_steps=4), patience=2),
    "pct20 w4": lambda: P.PercentilePruner(20.0, n_startup_trials=5, n_warmup_steps=4),
    "pct25 w2": lambda: P.PercentilePruner(25.0, n_startup_trials=5, n_warmup_steps=2),
    "pct25 w4": lambda: P.PercentilePruner(25.0, n_startup_trials=5, n_warmup_steps=4),
    "pct33 w4": lambda: P.PercentilePruner(33.0, n_startup_trials=5, n_warmup_steps=4),
    "pct33 w4 s10": lambda: P.PercentilePruner(33.0, n_startup_trials=10, n_warmup_steps=4),
    "pct33 w6": lambda: P.PercentilePruner(33.0, n_startup_trials=5, n_warmup_steps=6),
    "pct40 w4": lambda: P.PercentilePruner(40.0, n_startup_trials=5, n_warmup_steps=4),
    "wilcoxon": lambda: P.WilcoxonPruner(p_threshold=0.1, n_startup_steps=4),
    "sh 2/3": lambda: P.SuccessiveHalvingPruner(min_resource=2, reduction_factor=3),
    "sh 4/2": lambda: P.SuccessiveHalvingPruner(min_resource=4, reduction_factor=2),
    "sh 4/3": lambda: P.SuccessiveHalvingPruner(min_resource=4, reduction_factor=3),
    "sh 5/2": lambda: P.SuccessiveHalvingPruner(min_resource=5, reduction_factor=2),
    "hb 4/3": lambda: P.HyperbandPruner(min_resource=4, max_resource=EPOCHS, reduction_factor=3),
    # The noise of the curves is independent from epoch to epoch: compare best-so-far values on both sides.
    "best33 w6": lambda: RunningBestPercentile(33.0, first_step=7),
    "best33 w6 all": lambda: RunningBestPercentile(33.0, first_step=7, pruned_too=True),
    "best25 w6 all": lambda: RunningBestPercentile(25.0, first_step=7, pruned_too=True),
    # One decision, as a single successive-halving rung: at epoch R keep the best P % of all trials that got there.
    "rung25 at4": lambda: RunningBestPercentile(25.0, first_step=4, pruned_too=True, once=True),
    "rung25 at8": lambda: RunningBestPercentile(25.0, first_step=8, pruned_too=True, once=True),
    "rung33 at6": lambda: RunningBestPercentile(33.0, first_step=6, pruned_too=True, once=True),
}
#: Bounds, not rules: label -> a fresh pruner that reads the curves' full-length values.
ORACLES = {
    **{f"oracle at {r}": (lambda curves, r=r: IncumbentOracle(curves, r)) for r in (1, 2, 4, 6, 8)},
    **{f"oracle p{p} at {r}": (lambda curves, p=p, r=r: PercentileOracle(curves, p, r)) for p, r in ((10, 1), (20, 4))},
}


class RunningBestPercentile(optuna.pruners.BasePruner):
    """Stops a trial whose best value so far is worse than the P-th percentile of the other trials' best values up
    to the same epoch (Optuna's PercentilePruner compares the trial's best with the others' latest). Reference: the
    complete trials, or with `pruned_too` every finished trial that reached the epoch (a successive-halving rung);
    `once` decides at `first_step` only. Minimisation, as the curves are."""

    def __init__(self, percentile: float, first_step: int, *, pruned_too: bool = False, once: bool = False):
        self._percentile, self._first, self._pruned_too, self._once = percentile, first_step, pruned_too, once
        self._finished: dict[int, dict[int, float]] = {}

    def _best_so_far(self, trial: optuna.trial.FrozenTrial) -> dict[int, float]:
        if trial.number in self._finished:
            return self._finished[trial.number]
        steps = sorted(trial.intermediate_values)
        best = dict(zip(steps, np.minimum.accumulate([trial.intermediate_values[s] for s in steps]), strict=True))
        if trial.state.is_finished():
            self._finished[trial.number] = best
        return best

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        step = trial.last_step
        if step is None or step < self._first or (self._once and step != self._first):
            return False
        states = (TrialState.COMPLETE, TrialState.PRUNED) if self._pruned_too else (TrialState.COMPLETE,)
        others = study.get_trials(deepcopy=False, states=states)
        reference = [best[step] for t in others if step in (best := self._best_so_far(t))]
        if sum(t.state == TrialState.COMPLETE for t in others) < 5 or len(reference) < 5:
            return False
        return self._best_so_far(trial)[step] > np.percentile(reference, self._percentile)


class IncumbentOracle(optuna.pruners.BasePruner):
    """A bound: at epoch `step`, stops every trial whose full-length value will not beat the best complete trial's,
    so only would-be incumbents run to the end and no epoch goes to any other."""

    def __init__(self, curves: Curves, step: int):
        self._curves, self._step = curves, step

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        if trial.last_step != self._step:
            return False
        done = [t.value for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
        return len(done) >= 5 and _full_length(self._curves, trial.params) > min(done)


class PercentileOracle(optuna.pruners.BasePruner):
    """A bound: at epoch `step`, stops every trial whose full-length value is worse than the P-th percentile of
    those of the trials so far (what a percentile rule would do if the epoch told it the final value)."""

    def __init__(self, curves: Curves, percentile: float, step: int):
        self._curves, self._percentile, self._step = curves, percentile, step
        self._seen: list[float] = []

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        if trial.last_step != self._step:
            return False
        value = _full_length(self._curves, trial.params)
        self._seen.append(value)
        return len(self._seen) > 5 and value > np.percentile(self._seen, self._percentile)


def _full_length(curves: Curves, params: dict) -> float:
    return curves.curve(params, curves.epochs)[-1]


def print_correlation(names: list[str], configurations: int = 400) -> None:
    """Spearman's rank correlation, over random configurations, of the value at epoch e (and of the best value up
    to epoch e) with the full-length value: how much a rule deciding at epoch e can know."""
    epochs = (1, 2, 4, 6, 8, 10, 14)
    print("# rank correlation with the full-length value, at epoch " + " ".join(f"{e:>5d}" for e in epochs))
    rng = np.random.default_rng(0)
    for name in names:
        curves = load_curves(name)
        points = rng.random((configurations, len(curves.parameters)))
        values = np.array(
            [curves.curve(dict(zip(curves.parameters, x, strict=True)), curves.epochs // EPOCHS) for x in points]
        )
        best = np.minimum.accumulate(values, axis=1)
        for label, table in (("value", values), ("best so far", best)):
            cells = " ".join(f"{spearmanr(table[:, e - 1], values[:, -1])[0]:5.2f}" for e in epochs)
            print(f"{name:14s} {label:11s} {' ' * 23}{cells}")


class _FinishedOnly:
    """A study as a sampler sees it with its pruned trials left out: the model learns from full-length trials only,
    and the pruner alone decides what a stopped trial was worth."""

    def __init__(self, study: optuna.Study):
        self._study = study

    def __getattr__(self, name: str):
        return getattr(self._study, name)

    def _get_trials(self, deepcopy: bool = True, states=None, use_cache: bool = False):
        trials = self._study._get_trials(deepcopy=deepcopy, states=states, use_cache=use_cache)
        return [t for t in trials if t.state != optuna.trial.TrialState.PRUNED]


class FinishedOnlySampler(optuna.samplers.BaseSampler):
    """`inner`, modelling only the trials that were not pruned (duplicates are still checked against all)."""

    def __init__(self, inner: optuna.samplers.BaseSampler):
        self._inner = inner

    def infer_relative_search_space(self, study, trial):
        return self._inner.infer_relative_search_space(_FinishedOnly(study), trial)

    def sample_relative(self, study, trial, search_space):
        return self._inner.sample_relative(_FinishedOnly(study), trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._inner.sample_independent(_FinishedOnly(study), trial, param_name, param_distribution)

    def before_trial(self, study, trial):
        self._inner.before_trial(study, trial)

    def after_trial(self, study, trial, state, values):
        self._inner.after_trial(study, trial, state, values)

    def reseed_rng(self):
        self._inner.reseed_rng()


def run(name: str, algorithm: str, pruner: str, seed: int, finished_only: bool = False) -> harness.Run:
    curves = load_curves(name)
    harness.build_pruner = lambda plan, stage: ORACLES[pruner](curves) if pruner in ORACLES else CANDIDATES[pruner]()
    harness.build_sampler = (
        (lambda *a, **k: FinishedOnlySampler(build_sampler(*a, **k))) if finished_only else build_sampler
    )
    plan = fidelity_plan(curves, algorithm)
    return run_curves(plan, curves, seed, budget=EPOCHS * FIDELITY_TRIALS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algorithm", default="auto", help=f"one of {', '.join(ALGORITHMS)} (default auto)")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument(
        "--pruners", default=",".join(CANDIDATES), help="comma-separated labels (default all rules, no bounds)"
    )
    parser.add_argument("--problems", default=",".join(FIDELITY))
    parser.add_argument(
        "--finished-only", action="store_true", help="the sampler models the trials that were not pruned only"
    )
    parser.add_argument("--correlation", action="store_true", help="print what each epoch tells of the final value")
    args = parser.parse_args()
    if args.correlation:
        print_correlation(args.problems.split(","))
        return 0
    if args.seeds < 2:
        parser.error("--seeds: at least 2 (the final regret's spread needs two)")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    budget, seeds = EPOCHS * FIDELITY_TRIALS, range(args.seeds)
    for name in args.problems.split(","):
        optimum = load_curves(name).optimum
        base = [run(name, args.algorithm, "none", s) for s in seeds]
        target = final_regret(base, optimum)
        base_epochs = epochs_to_reach(base, optimum, target, budget, EPOCHS)
        base_final = [_incumbent_at(r, optimum, math.inf) for r in base]
        for pruner in args.pruners.split(","):
            runs = (
                base if pruner == "none" else [run(name, args.algorithm, pruner, s, args.finished_only) for s in seeds]
            )
            epochs = epochs_to_reach(runs, optimum, target, budget, EPOCHS)
            final = [_incumbent_at(r, optimum, math.inf) for r in runs]
            diff = statistics.fmean(final) - statistics.fmean(base_final)
            se = math.sqrt((statistics.variance(final) + statistics.variance(base_final)) / len(seeds))
            mark = ">>" if diff > 2 * se else ">" if diff > 0 else "<="
            half = statistics.fmean(_incumbent_at(r, optimum, budget / 2) for r in runs)
            print(
                f"{name:14s} {args.algorithm:5s} {pruner:15s} trials "
                f"{statistics.fmean(len(r.epochs) for r in runs):4.0f} epochs {epochs or '>' + str(budget):>5} "
                f"saving {(base_epochs / epochs if epochs else 0):4.2f}x final {statistics.fmean(final):.3f} "
                f"({statistics.fmean(final) / target:.2f}x {mark:>2s}) at half the budget {half:.3f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
