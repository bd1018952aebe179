"""No trial repeats a configuration already evaluated or running, whatever the sampler and the backend."""

from __future__ import annotations

import copy
import logging
import random
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from hpoctl import trial_record as rec
from hpoctl.search.space import active, config_key, dependency_order, distribution, enumerate_space
from hpoctl.spec.study import SearchSpace

log = logging.getLogger("hpoctl.search")

#: States whose configuration counts as taken: evaluated, running, or queued to run.
_TAKEN = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING, TrialState.WAITING)
#: Random draws tried for a fresh configuration before a finite space is enumerated, and how many are tried at
#: each distance (parameters drawn afresh) before one more parameter is.
_FRESH_DRAWS = 64
_DRAWS_PER_DISTANCE = 4


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
        left = [
            c for c in enumerate_space(self._space, self._order) if config_key(self._space, c, self._order) not in taken
        ]
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
