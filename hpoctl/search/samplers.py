"""The one factory of samplers: an algorithm and a space in, an Optuna sampler out.

The local backend, the SLURM worker and the hpoctl-optuna suggestion service all build their samplers here,
from a plan's algorithm, in which `auto` is already resolved (`hpoctl.search.auto`), so a change of default
happens once. Every sampler is wrapped in a `DedupSampler` unless a benchmark asks
for the bare one."""

from __future__ import annotations

import importlib.util
import warnings

import optuna

from hpoctl.errors import BackendError
from hpoctl.search.dedupe import DedupSampler
from hpoctl.search.space import optuna_choice
from hpoctl.spec.algorithms import Algorithm
from hpoctl.spec.parameters import grid_values
from hpoctl.spec.study import SearchSpace


def build_sampler(
    algorithm: Algorithm,
    space: SearchSpace,
    *,
    seed: int | None = None,
    parallel: bool = False,
    dedupe: bool = True,
) -> optuna.samplers.BaseSampler:
    """`algorithm` as an Optuna sampler over `space`; `seed` overrides the algorithm's, `parallel` turns on
    TPE's constant liar so concurrent trials do not collide, `dedupe` (on unless a benchmark measures the
    bare sampler) wraps it in a `DedupSampler`."""
    settings = dict(algorithm.settings)
    if seed is not None:
        settings["seed"] = seed
    base = _optuna_sampler(algorithm.name, settings, space, parallel=parallel)
    return DedupSampler(base, space, seed=settings.get("seed")) if dedupe else base


def _optuna_sampler(name: str, settings: dict, space: SearchSpace, *, parallel: bool) -> optuna.samplers.BaseSampler:
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
            grid = {p: [optuna_choice(v) for v in grid_values(param)] for p, param in space.items()}
            return optuna.samplers.GridSampler(grid, **settings)
        if name == "qmc":
            return optuna.samplers.QMCSampler(warn_independent_sampling=False, **settings)
        if name == "gp":
            _require_torch()
            # Parameters not in every trial (a `when`) are sampled at random, as validate warns.
            return optuna.samplers.GPSampler(warn_independent_sampling=False, **settings)
        if name == "nsga2":
            return optuna.samplers.NSGAIISampler(**settings)
    if name == "auto":
        raise ValueError("algorithm 'auto' is resolved in the plan: build the sampler from a Plan's algorithm")
    raise ValueError(f"no Optuna sampler for algorithm {name!r}")


def _require_torch() -> None:
    """Optuna imports torch only when GPSampler fits its first model, after the start-up trials: without this
    check a study would fail there, not at its start."""
    if importlib.util.find_spec("torch") is None:
        raise BackendError(
            "algorithm gp needs torch, which this Python lacks: pip install 'hpoctl[train]', or choose auto"
        )
