"""Early stopping: the plan's rule as an Optuna pruner for one stage."""

from __future__ import annotations

import optuna

from hpoctl.plan import Plan, StagePlan


def build_pruner(plan: Plan, stage: StagePlan) -> optuna.pruners.BasePruner:
    """The plan's early stopping for one stage. Top-k stages confirm configurations and are never
    pruned; Optuna cannot prune multi-objective trials at all."""
    rule = plan.early_stopping
    if rule.name == "none" or stage.mode == "top-k" or plan.multi_objective:
        return optuna.pruners.NopPruner()
    s = rule.settings
    if rule.name == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=s.get("min_trials", 5),
            n_warmup_steps=s.get("warmup_steps", default_warmup_steps(stage.epochs)),
            interval_steps=s.get("interval_steps", 1),
        )
    if rule.name == "successive-halving":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=s.get("min_resource", "auto"),
            reduction_factor=s.get("reduction_factor", 4),
            min_early_stopping_rate=s.get("min_early_stopping_rate", 0),
        )
    if rule.name == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=s.get("min_resource", 1),
            max_resource=stage.epochs,
            reduction_factor=s.get("reduction_factor", 3),
        )
    raise ValueError(f"no Optuna pruner for early stopping {rule.name!r}")


def default_warmup_steps(epochs: int) -> int:
    """Median pruning's warm-up when the spec sets none: a fifth of the stage's epochs. Without one, TPE with
    median pruning stalls on bench/search's MFHartmann-6 curves (the first epochs are noisy and biased)."""
    return max(1, epochs // 5)
