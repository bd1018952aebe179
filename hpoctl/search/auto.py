"""`algorithm: auto`, the default: the sampler and settings hpoctl picks for a study from its objectives, its
search space, its trial budget and its parallelism, resolved in the plan so every backend runs the same choice.

The rule rests on bench/search (the table is in bench/README.md, "The auto rule"):

* one objective: Optuna's multivariate TPE with its 10 start-up trials, which reaches random search's 200-trial
  regret in fewer trials than TPE with 20 (everest's) on the tables (median 35 against 45), the continuous
  functions and mixed Hartmann-6 (38 against 41 at 100 seeds); with Optuna's group decomposition when a
  parameter is conditional (multivariate TPE then models each set of parameters that occur together);
* several objectives and a continuous parameter (a float without a step, or a numeric range wider than
  `SMALL_GRID` values): TPE, independent per parameter as Optuna sets it for several objectives, which ends with
  0.2-0.7x NSGA-II's hypervolume regret on ZDT1, ZDT2, DTLZ2 and a mixed ZDT1;
* several objectives over small grids only (categoricals and numeric ranges of at most `SMALL_GRID` values):
  NSGA-II with a population of a fifth of the searched trials (at least the parallelism, so one generation fills
  the workers), which on HPOBench's accuracy/time tables is level with random search where TPE ends with 1.1-3.7x
  NSGA-II's regret.

Trials side by side get TPE's constant liar from `build_sampler` (the backend knows its concurrency). GPSampler is
not chosen: it needs torch, which the light client and the hpoctl-optuna image leave out, so the same spec would
run different samplers on different backends; and it costs 0.1-0.7 s a trial at 100-200 trials on 2 cores. A
study can name it (`gp`); `explicit_choice_warnings` says where bench/search/gp.py shows it to lose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hpoctl.spec.algorithms import Algorithm, default_population_size
from hpoctl.spec.parameters import CategoricalParameter, FloatParameter
from hpoctl.spec.study import SearchSpace, StudySpec

AUTO = "auto"
#: A numeric parameter with more values than this counts as continuous (HPOBench's grids have 2 to 10 values).
SMALL_GRID = 32


@dataclass(frozen=True)
class AutoChoice:
    """What `auto` resolved to, and why in a few words (shown by `hpoctl plan`)."""

    algorithm: Algorithm
    reason: str

    def describe(self) -> str:
        settings = ", ".join(f"{k}: {_text(v)}" for k, v in sorted(self.algorithm.settings.items()))
        return f"{AUTO} -> {self.algorithm.name}" + (f" {{{settings}}}" if settings else "") + f" ({self.reason})"


def choose(
    space: SearchSpace,
    *,
    objectives: int,
    searched_trials: int,
    parallelism: int = 1,
    settings: dict[str, Any] | None = None,
) -> AutoChoice:
    """The algorithm `auto` stands for; `settings` are the spec's settings of `auto` (`seed`, `n_startup_trials`),
    carried over. Raises ValueError, one line, when the choice cannot take one of them."""
    settings = dict(settings or {})
    if objectives == 1:
        if any(param.when for param in space.values()):
            return AutoChoice(
                Algorithm(name="multivariate-tpe", settings={**settings, "group": True}),
                "one objective, conditional parameters",
            )
        return AutoChoice(Algorithm(name="multivariate-tpe", settings=settings), "one objective")
    if any(_continuous(param) for param in space.values()):
        return AutoChoice(Algorithm(name="tpe", settings=settings), f"{objectives} objectives, a continuous parameter")
    if "n_startup_trials" in settings:
        raise ValueError(
            f"algorithm.settings.n_startup_trials: auto chose nsga2 ({objectives} objectives over small grids), "
            "which has no start-up trials; drop the setting or name the algorithm"
        )
    population = max(default_population_size(searched_trials), min(parallelism, 50))
    return AutoChoice(
        Algorithm(name="nsga2", settings={**settings, "population_size": population}),
        f"{objectives} objectives, small grids only",
    )


def _continuous(param) -> bool:
    if isinstance(param, CategoricalParameter):
        return False
    if isinstance(param, FloatParameter) and param.step is None:
        return True
    return math.floor((param.high - param.low) / (param.step or 1) + 1e-9) + 1 > SMALL_GRID


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def spec_problems(spec: StudySpec) -> list[str]:
    """`auto`'s settings that its choice cannot take, in any of the study's spaces (`hpoctl validate`)."""
    if spec.algorithm.name != AUTO:
        return []
    problems = []
    for space in spec.all_spaces().values():
        try:
            choose(
                space,
                objectives=len(spec.objectives),
                searched_trials=_searched(spec),
                settings=spec.algorithm.settings,
            )
        except ValueError as e:
            problems.append(str(e))
    return list(dict.fromkeys(problems))


#: Explicit single-objective choices that bench/search shows to lose to auto: name -> what it measured.
_SLOW_SINGLE = {
    "qmc": "qmc needs a median of 174 trials to reach random search's 200-trial regret on bench/search's tables "
    "(auto: 35)",
    "cmaes": "cmaes needs a median of 57 trials to reach random search's 200-trial regret on bench/search's tables "
    "(auto: 35) and never reaches it on NAS-Bench-201's categorical cells",
}


def explicit_choice_warnings(spec: StudySpec) -> list[str]:
    """An explicit algorithm that bench/search shows to lose to what `auto` picks for this study; one line each,
    `path: message`. Random search is left alone: it is the baseline a study names on purpose."""
    name = spec.algorithm.name
    if name == AUTO:
        return []
    if name == "gp":
        return _gp_warnings(spec)
    if len(spec.objectives) == 1:
        return [f"algorithm.name: {_SLOW_SINGLE[name]}; leave algorithm out (auto)"] if name in _SLOW_SINGLE else []
    warnings = []
    for space in spec.all_spaces().values():
        chosen = choose(space, objectives=len(spec.objectives), searched_trials=_searched(spec)).algorithm.name
        if chosen == "tpe" and name == "nsga2":
            warnings.append(
                "algorithm.name: nsga2 over continuous parameters ends with 1.5-4.7x TPE's hypervolume regret on "
                "bench/search's ZDT1, ZDT2, DTLZ2 and mixed ZDT1; leave algorithm out (auto -> tpe)"
            )
        elif chosen == "nsga2" and name in ("tpe", "motpe", "multivariate-tpe"):
            warnings.append(
                f"algorithm.name: {name} over small grids only ends with 1.1-3.7x NSGA-II's hypervolume regret on "
                "bench/search's HPOBench tables; leave algorithm out (auto -> nsga2)"
            )
    return list(dict.fromkeys(warnings))


def _gp_warnings(spec: StudySpec) -> list[str]:
    """gp wins on continuous parameters (bench/search/gp.py); over categories and small grids only it loses, and
    Optuna's GPSampler samples a conditional parameter at random, outside its model."""
    warnings = []
    for space in spec.all_spaces().values():
        if not any(_continuous(param) for param in space.values()):
            warnings.append(
                "algorithm.name: gp over categories and small grids only ends with 7x auto's regret after 100 trials "
                "on NAS-Bench-201 and is no better on HPOBench's grids (bench/search/gp.py); leave algorithm out "
                "(auto)"
            )
        conditional = sorted(pname for pname, param in space.items() if param.when)
        if conditional:
            warnings.append(
                f"algorithm.name: gp samples the conditional parameters ({', '.join(conditional)}) at random, "
                "outside its model; auto models them (multivariate TPE with group decomposition)"
            )
    return list(dict.fromkeys(warnings))


def _searched(spec: StudySpec) -> int:
    return sum(stage.trial_count for stage in spec.protocol if stage.mode == "continue")
