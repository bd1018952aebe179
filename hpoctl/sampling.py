"""The one place that turns a plan into Optuna objects: sampler, pruner, directions, and the
suggestion of a configuration from the search space (conditions honoured).

The local backend, the SLURM worker and the hpoctl-optuna suggestion service all build their
samplers here, so a change of default happens once. Every sampler built here is wrapped in a
`DedupSampler`: a suggestion identical to a configuration already evaluated or running is replaced by a
fresh one, whatever the backend.
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import math
import random
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from hpoctl import trial_record as rec
from hpoctl.plan import Plan, StagePlan
from hpoctl.spec.expression import evaluate_expression
from hpoctl.spec.objectives import Objective
from hpoctl.spec.parameters import CategoricalParameter, FloatParameter, IntParameter, grid_values
from hpoctl.spec.study import SearchSpace

log = logging.getLogger("hpoctl.sampling")


def directions(plan: Plan) -> list[str]:
    return [objective.optimised_direction for objective in plan.objectives]


def build_sampler(
    plan: Plan, *, seed: int | None = None, parallel: bool = False, dedupe: bool = True
) -> optuna.samplers.BaseSampler:
    """The plan's algorithm as an Optuna sampler; `seed` overrides the spec's, `parallel` turns on
    TPE's constant liar so concurrent trials do not collide, `dedupe` (on unless a benchmark measures the
    bare sampler) wraps it in a `DedupSampler`."""
    base = _base_sampler(plan, seed=seed, parallel=parallel)
    if not dedupe:
        return base
    fallback_seed = plan.algorithm.settings.get("seed") if seed is None else seed
    return DedupSampler(base, plan.parameters, seed=fallback_seed)


def _base_sampler(plan: Plan, *, seed: int | None, parallel: bool) -> optuna.samplers.BaseSampler:
    name = plan.algorithm.name
    settings = dict(plan.algorithm.settings)
    if seed is not None:
        settings["seed"] = seed
    with warnings.catch_warnings():
        # Optuna flags some sampler options as experimental; that is Optuna's concern, not the user's.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name in ("tpe", "multivariate-tpe", "motpe"):
            settings.setdefault("constant_liar", parallel)
            if name == "multivariate-tpe":
                settings["multivariate"] = True
            return optuna.samplers.TPESampler(**settings)
        if name == "random":
            return optuna.samplers.RandomSampler(**settings)
        if name == "cmaes":
            return optuna.samplers.CmaEsSampler(warn_independent_sampling=False, **settings)
        if name == "grid":
            space = {p: [optuna_choice(v) for v in grid_values(param)] for p, param in plan.parameters.items()}
            return optuna.samplers.GridSampler(space, **settings)
        if name == "qmc":
            return optuna.samplers.QMCSampler(warn_independent_sampling=False, **settings)
        if name == "nsga2":
            return optuna.samplers.NSGAIISampler(**settings)
    raise ValueError(f"no Optuna sampler for algorithm {name!r}")


#: States whose configuration counts as taken: evaluated, running, or queued to run.
_TAKEN = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING, TrialState.WAITING)
#: Random draws tried for a fresh configuration before a finite space is enumerated, and how many are tried at
#: each distance (parameters drawn afresh) before one more parameter is.
_FRESH_DRAWS = 64
_DRAWS_PER_DISTANCE = 4
#: The largest finite space enumerated to find a configuration not yet taken.
_ENUMERABLE = 100_000


class DedupSampler(optuna.samplers.BaseSampler):
    """Wraps any sampler so that no trial repeats a configuration already evaluated or running.

    The whole configuration is drawn when the trial first asks for a value (Optuna's relative step): the
    wrapped sampler's relative proposal, then its independent draws for the other parameters, conditions
    honoured, exactly as the trial would have drawn them one by one. If that configuration (after rounding
    to the space's steps and categories; inactive parameters left out) equals the configuration of a trial
    that is complete, pruned, failed by its trainer, running or waiting, the nearest configuration not yet
    taken that random draws find replaces it (a parameter of the proposal drawn afresh, then two, ...), and
    the trial gets the user attribute `duplicate_replaced`. The trial keeps its number and the wrapped sampler
    its state, so every sampler works unchanged: GridSampler (its grid id is drawn in `before_trial`),
    NSGA-II and CMA-ES (their relative step still runs), TPE. Enqueued trials (a top-k stage, a replayed
    Katib trial) run their given configuration untouched. A failed trial's configuration is not tried again
    unless it was interrupted (those are re-run)."""

    def __init__(self, base: optuna.samplers.BaseSampler, space: SearchSpace, *, seed: int | None = None) -> None:
        self.base = base
        self._space = dict(space)
        self._order = dependency_order(self._space)
        self._distributions = {name: distribution(param) for name, param in self._space.items()}
        self._fallback = optuna.samplers.RandomSampler(seed=None if seed is None else seed + 1)
        self._rng = random.Random(seed)
        self._taken = _Taken(self._space)

    def __str__(self) -> str:
        return f"DedupSampler({self.base})"

    def reseed_rng(self) -> None:
        self.base.reseed_rng()
        self._fallback.reseed_rng()
        self._rng.seed()

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.base.before_trial(study, trial)

    def after_trial(
        self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        try:
            self.base.after_trial(study, trial, state, values)
        except RuntimeError:
            # GridSampler calls study.stop() once its grid is done, which raises outside study.optimize; in
            # ask-and-tell the runner's budget ends the stage.
            if getattr(study._thread_local, "in_optimize_loop", True):
                raise

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return dict(self._distributions)  # the configuration is drawn whole, in sample_relative

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        base_space = self.base.infer_relative_search_space(study, trial)
        # The trial as it is now: a sampler's before_trial may have written attributes (GridSampler's grid id).
        trial = copy.copy(trial)
        trial.system_attrs = study._storage.get_trial_system_attrs(trial._trial_id)
        if trial.system_attrs.get("fixed_params"):
            return self.base.sample_relative(study, trial, base_space) if base_space else {}
        proposal = self._propose(study, trial, base_space)
        taken = self._taken.of(study, exclude=trial.number)
        if config_key(self._space, proposal, self._order) not in taken:
            return proposal
        fresh = self._fresh(study, trial, proposal, taken)
        if fresh is None:
            log.info("trial %d repeats a configuration: every configuration of the space is taken", trial.number)
            return proposal
        study._storage.set_trial_user_attr(trial._trial_id, rec.DUPLICATE_REPLACED, True)
        return fresh

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self.base.sample_independent(study, trial, param_name, param_distribution)

    def _propose(
        self, study: optuna.Study, trial: FrozenTrial, base_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        relative = self.base.sample_relative(study, trial, base_space) if base_space else {}
        return self._draw(trial, lambda name, dist, drawn: self._base_value(study, drawn, name, dist, relative))

    def _base_value(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        name: str,
        dist: BaseDistribution,
        relative: Mapping[str, Any],
    ) -> Any:
        if name in relative and dist._contains(dist.to_internal_repr(relative[name])):
            return relative[name]
        return self.base.sample_independent(study, trial, name, dist)

    def _fresh(
        self, study: optuna.Study, trial: FrozenTrial, proposal: dict[str, Any], taken: set[tuple]
    ) -> dict[str, Any] | None:
        """The nearest configuration not yet taken that random draws find: the proposal with one parameter
        drawn afresh, then two, and so on up to all of them (keeping what the sampler aimed at as far as it
        can); then, for a small finite space, any configuration left."""
        names = [name for name in proposal if name not in trial.params]
        for attempt in range(_FRESH_DRAWS):
            redraw = set(self._rng.sample(names, min(len(names), 1 + attempt // _DRAWS_PER_DISTANCE)))

            def value_of(name, dist, drawn, redraw=redraw):
                if name in proposal and name not in redraw:
                    return proposal[name]
                return self._fallback.sample_independent(study, drawn, name, dist)

            config = self._draw(trial, value_of)
            if config_key(self._space, config, self._order) not in taken:
                return config
        left = [c for c in _enumerate(self._space, self._order) if config_key(self._space, c, self._order) not in taken]
        return self._rng.choice(left) if left else None

    def _draw(self, trial: FrozenTrial, value_of) -> dict[str, Any]:
        """One configuration in dependency order; values the trial already holds (or a single-valued
        distribution's) are kept, the others come from `value_of(name, distribution, trial so far)`."""
        drawn = copy.copy(trial)
        drawn.params, drawn.distributions = dict(trial.params), dict(trial.distributions)
        chosen: dict[str, Any] = {}
        for name in self._order:
            if not active(self._space[name], chosen):
                continue
            dist = self._distributions[name]
            if name in trial.params:
                value = trial.params[name]
            elif dist.single():
                value = optuna.distributions._get_single_value(dist)
            else:
                value = value_of(name, dist, drawn)
            chosen[name] = drawn.params[name] = value
            drawn.distributions[name] = dist
        return chosen


def distribution(param: IntParameter | FloatParameter | CategoricalParameter) -> BaseDistribution:
    """The distribution `suggest` gives a parameter."""
    if isinstance(param, IntParameter):
        return IntDistribution(param.low, param.high, log=param.log, step=param.step)
    if isinstance(param, FloatParameter):
        return FloatDistribution(param.low, param.high, log=param.log, step=param.step)
    return CategoricalDistribution([optuna_choice(c) for c in param.choices])


def config_key(space: SearchSpace, params: Mapping[str, Any], order: Sequence[str] | None = None) -> tuple | None:
    """A configuration's identity: its active parameters, ints and stepped floats as their grid index,
    other floats to 12 significant digits, choices as (type, value). None when an active parameter is
    missing (a trial still being suggested)."""
    chosen: dict[str, Any] = {}
    key = []
    for name in dependency_order(space) if order is None else order:
        param = space[name]
        if not active(param, chosen):
            continue
        if name not in params:
            return None
        value = chosen[name] = params[name]
        if isinstance(param, CategoricalParameter):
            key.append((name, type(value).__name__, value))
        elif param.step is not None and not param.log:
            key.append((name, round((float(value) - param.low) / param.step)))
        else:
            key.append((name, float(f"{float(value):.12g}")))
    return tuple(key)


class _Taken:
    """The configurations of a study's trials that were evaluated, are running or wait to run (a trial interrupted
    before it finished, re-run on resume, does not take its configuration), with the keys of finished trials kept,
    so a long study costs a lookup a trial."""

    def __init__(self, space: SearchSpace) -> None:
        self._space, self._order = space, dependency_order(space)
        self._finished: dict[int, tuple | None] = {}
        self._storage: object = None

    def of(self, study: optuna.Study, *, exclude: int | None = None) -> set[tuple]:
        if study._storage is not self._storage:  # trial ids are unique within a storage
            self._storage, self._finished = study._storage, {}
        taken = set()
        for other in study._storage.get_all_trials(study._study_id, deepcopy=False, states=_TAKEN):
            if other.number == exclude:
                continue
            key = self._finished.get(other._trial_id, False)
            if key is False:
                key = self._key(other)
                if other.state.is_finished():
                    self._finished[other._trial_id] = key
            if key is not None:
                taken.add(key)
        return taken

    def _key(self, trial: FrozenTrial) -> tuple | None:
        if trial.state == TrialState.FAIL and trial.user_attrs.get(rec.INTERRUPTED):
            return None
        params = trial.params or trial.system_attrs.get("fixed_params") or {}
        return config_key(self._space, params, self._order)


def _enumerate(space: SearchSpace, order: list[str]) -> Iterator[dict[str, Any]]:
    """Every configuration of a finite space (conditions honoured), or nothing if it is infinite or large."""
    values = {name: _finite_values(param) for name, param in space.items()}
    if any(v is None for v in values.values()) or math.prod(len(v) for v in values.values()) > _ENUMERABLE:
        return
    seen = set()
    for combination in itertools.product(*(values[name] for name in order)):
        chosen: dict[str, Any] = {}
        for name, value in zip(order, combination, strict=True):
            if active(space[name], chosen):
                chosen[name] = value
        key = config_key(space, chosen)
        if key not in seen:
            seen.add(key)
            yield chosen


def _finite_values(param: IntParameter | FloatParameter | CategoricalParameter) -> list[Any] | None:
    if isinstance(param, CategoricalParameter):
        return [optuna_choice(c) for c in param.choices]
    if isinstance(param, IntParameter):
        return list(range(param.low, param.high + 1, param.step))
    if param.step is None or param.log:
        return None
    count = math.floor((param.high - param.low) / param.step + 1e-9) + 1
    return [param.low + i * param.step for i in range(count)]


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


def optuna_choice(value: Any) -> Any:
    """Optuna's categorical choices must be scalars; lists travel as their compact JSON text."""
    return json.dumps(value, separators=(",", ":")) if isinstance(value, list) else value


def decode_choice(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def active(param: IntParameter | FloatParameter | CategoricalParameter, chosen: Mapping[str, Any]) -> bool:
    """Whether a conditional parameter applies given the values chosen so far."""
    for other, values in (param.when or {}).items():
        if other not in chosen or not any(decode_choice(chosen[other]) == v for v in values):
            return False
    return True


def suggest(trial: optuna.Trial, space: SearchSpace) -> dict[str, Any]:
    """Sample a configuration; inactive conditional parameters are left out."""
    chosen: dict[str, Any] = {}
    for name in dependency_order(space):
        param = space[name]
        if not active(param, chosen):
            continue
        if isinstance(param, IntParameter):
            chosen[name] = trial.suggest_int(name, param.low, param.high, step=param.step, log=param.log)
        elif isinstance(param, FloatParameter):
            chosen[name] = trial.suggest_float(name, param.low, param.high, step=param.step, log=param.log)
        else:
            chosen[name] = trial.suggest_categorical(name, [optuna_choice(c) for c in param.choices])
    return chosen


def default_configuration(space: SearchSpace) -> dict[str, Any]:
    chosen: dict[str, Any] = {}
    for name in dependency_order(space):
        if active(space[name], chosen):
            chosen[name] = optuna_choice(space[name].default)
    return chosen


def dependency_order(space: SearchSpace) -> list[str]:
    """The space's parameters, each after the parameters its `when` condition names."""
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        for other in space[name].when or {}:
            visit(other)
        order.append(name)

    for name in space:
        visit(name)
    return order


def objective_value(objective: Objective, history: list[Mapping[str, float]]) -> float | None:
    """The trial's result for one objective from its per-epoch metrics, after the objective's
    strategy (latest, max, min); a target objective becomes the distance to its target."""
    values = [v for v in (epoch_value(objective, row) for row in history) if v is not None]
    if not values:
        return None
    raw = {"latest": values[-1], "max": max(values), "min": min(values)}[objective.strategy]
    return abs(raw - objective.target) if objective.target is not None else raw


def epoch_value(objective: Objective, metrics: Mapping[str, float]) -> float | None:
    """One epoch's raw value of an objective (before a target's distance), or None if not reported."""
    if objective.expression is not None and objective.metric not in metrics:
        try:
            return evaluate_expression(objective.expression, metrics)
        except ValueError:
            return None
    value = metrics.get(objective.metric)
    return float(value) if value is not None and math.isfinite(value) else None


def intermediate_value(objective: Objective, metrics: Mapping[str, float]) -> float | None:
    raw = epoch_value(objective, metrics)
    if raw is None:
        return None
    return abs(raw - objective.target) if objective.target is not None else raw
