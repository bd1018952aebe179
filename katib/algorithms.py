"""The study's algorithm and early stopping as Katib's, with the settings each Katib service accepts.

Which service runs an algorithm decides its settings (Katib v0.19.0's katib-config): `tpe` and `random`
are hyperopt (settings `random_state`, and for tpe `gamma`, `prior_weight`, `n_EI_candidates`);
`multivariate-tpe` and `grid` are Optuna (`n_startup_trials`, `n_ei_candidates`, `random_state`);
`cmaes` and `sobol` are goptuna (`random_state`, `sigma`, `restart_strategy`); `gp` is skopt's
`bayesianoptimization` with its GP (`base_estimator`, `n_initial_points`, `random_state`). A setting no Katib
service can honour is an error naming it, never silently dropped. What Katib lacks (several objectives,
NSGA-II, MOTPE, a warm start) runs on hpoctl's own suggestion service, hpoctl-optuna.
"""

from __future__ import annotations

from typing import Any

from kubeflow_katib_api.models import (
    V1beta1AlgorithmSetting,
    V1beta1AlgorithmSpec,
    V1beta1EarlyStoppingSetting,
    V1beta1EarlyStoppingSpec,
)

from hpoctl.katib.errors import KatibUnsupported
from hpoctl.katib.katib_config import HPOCTL_OPTUNA
from hpoctl.katib.suggestion_settings import SAMPLERS, WarmStart, plan_settings
from hpoctl.plan import Plan, StagePlan

MEDIAN_STOP = "medianstop"
#: Optuna's MedianPruner defaults, which the local backend uses when a setting is not given.
MEDIAN_DEFAULTS = {"min_trials": 5, "warmup_steps": 0, "interval_steps": 1}


def katib_algorithm(plan: Plan, *, seed: int | None = None) -> V1beta1AlgorithmSpec:
    """The Katib algorithm for the plan's (single-objective) search stages."""
    algorithm = plan.algorithm
    settings = dict(algorithm.settings)
    # As in a local run: the algorithm's own seed, else the study's; an explicit --seed wins.
    settings.setdefault("seed", plan.seed)
    if seed is not None:
        settings["seed"] = seed
    where = f"{plan.study}/{plan.target}: algorithm {algorithm.name!r}"
    name = algorithm.name
    if plan.algorithm_choice is not None:
        # auto's group decomposition is hpoctl's choice, not the user's: Katib's multivariate-tpe runs without it.
        settings.pop("group", None)
    if name == "tpe":
        # Katib's `tpe` is hyperopt, which rejects n_startup_trials; Optuna's TPE in Katib is
        # `multivariate-tpe`, so a TPE with Optuna's settings becomes that.
        optuna_only = {"n_startup_trials", "n_ei_candidates", "constant_liar"} & set(settings)
        if optuna_only:
            return _optuna_tpe(settings, where, unsupported={"consider_endpoints"})
        _reject(settings, {"consider_endpoints"}, where, "Katib's tpe (hyperopt) takes random_state only")
        return _spec("tpe", _random_state(settings, where))
    if name == "multivariate-tpe":
        return _optuna_tpe(settings, where, unsupported={"group"})
    if name == "random":
        return _spec("random", _random_state(settings, where))
    if name == "grid":
        return _spec("grid", _random_state(settings, where))
    if name == "cmaes":
        _reject(settings, {"popsize"}, where, "Katib's cmaes (goptuna) takes random_state, sigma and restart_strategy")
        if settings.get("n_startup_trials", 0):
            raise KatibUnsupported(
                f"{where}: settings.n_startup_trials={settings['n_startup_trials']} has no Katib equivalent "
                "(Katib's cmaes starts with CMA-ES at once); drop the setting"
            )
        out = _random_state(settings, where)
        if "sigma0" in settings:
            out["sigma"] = settings["sigma0"]
        if "restart_strategy" in settings:
            out["restart_strategy"] = settings["restart_strategy"]
        return _spec("cmaes", out)
    if name == "qmc":
        if settings.get("qmc_type", "sobol") != "sobol":
            raise KatibUnsupported(
                f"{where}: qmc_type {settings['qmc_type']!r} has no Katib equivalent; Katib has sobol "
                "(--set algorithm.settings.qmc_type=sobol)"
            )
        if settings.get("scramble"):
            raise KatibUnsupported(f"{where}: Katib's sobol sequence is not scrambled; drop settings.scramble")
        # The Sobol sequence is deterministic, so the seed has nothing to do in Katib's (goptuna's) sobol.
        return _spec("sobol", {})
    if name == "gp":
        # hpoctl-optuna's image leaves torch out, so Optuna's GPSampler cannot run there; Katib's skopt service
        # fits a GP too (a different implementation, with its own acquisition: skopt's gp_hedge).
        skopt = "Katib's bayesianoptimization (skopt) takes n_startup_trials and seed"
        _reject(settings, {"deterministic_objective"}, where, skopt)
        out: dict[str, Any] = {"base_estimator": "GP"}
        if "n_startup_trials" in settings:
            out["n_initial_points"] = settings["n_startup_trials"]
        out.update(_random_state(settings, where))
        return _spec("bayesianoptimization", out)
    raise KatibUnsupported(
        f"{where} has no Katib equivalent; it runs on hpoctl's suggestion service (drop --algorithm katib, or "
        f"pass --algorithm {HPOCTL_OPTUNA}), or choose one Katib has: --set algorithm.name=tpe (or random, cmaes, "
        "grid, qmc)"
    )


#: Algorithms Katib has no service for: a study using one runs on hpoctl-optuna.
NO_KATIB_EQUIVALENT = ("nsga2", "motpe")


def uses_hpoctl_optuna(plan: Plan, stage: StagePlan, *, algorithm: str = "auto", scalarise: bool = False) -> str | None:
    """Why a search stage runs on hpoctl-optuna (for a note), or None for Katib's own algorithm. `algorithm`:
    auto (hpoctl-optuna where Katib falls short: several objectives, NSGA-II or MOTPE, the study's `algorithm:
    auto`, a continued stage's warm start), hpoctl-optuna (every search stage) or katib (never: `auto`'s resolved
    sampler then runs on Katib's service of that name). Top-k stages are Katib grids."""
    if stage.mode == "top-k" or algorithm == "katib":
        return None
    if plan.algorithm.name not in SAMPLERS:
        if algorithm == HPOCTL_OPTUNA:
            raise KatibUnsupported(
                f"{plan.study}/{plan.target}: algorithm {plan.algorithm.name!r} does not run on {HPOCTL_OPTUNA} "
                f"(Katib's own service does: drop --algorithm {HPOCTL_OPTUNA}); it runs: {', '.join(SAMPLERS)}"
            )
        if stage.previous is not None and plan.algorithm.name == "gp":
            # A grid needs no history; a GP started afresh would drop what the stages before it learnt.
            raise KatibUnsupported(
                f"{plan.study}/{plan.target}: stage {stage.name!r} continues {stage.previous!r}, and only "
                f"{HPOCTL_OPTUNA} can warm-start a stage, which has no gp (its image leaves torch out); choose one "
                f"it runs for this study ({', '.join(SAMPLERS)})"
            )
        return None
    if algorithm == HPOCTL_OPTUNA:
        return f"--algorithm {HPOCTL_OPTUNA}"
    if plan.multi_objective and not scalarise:
        return f"{len(plan.objectives)} objectives"
    if plan.algorithm.name in NO_KATIB_EQUIVALENT:
        return f"algorithm {plan.algorithm.name}, which Katib lacks"
    if plan.algorithm_choice is not None:
        # Katib's own services would drop hpoctl's duplicate check and choice of settings (group, start-up trials).
        return f"algorithm {plan.algorithm_choice}"
    if stage.previous is not None:
        return f"warm-started from {stage.previous!r}"
    return None


def hpoctl_optuna_algorithm(
    plan: Plan, *, seed: int | None = None, scalarise: bool = False, warm_start: WarmStart | None = None
) -> V1beta1AlgorithmSpec:
    """A search stage on hpoctl-optuna: the study's sampler and its settings, every objective (the first
    when scalarised), the parameters' conditions and, for a continued stage at launch, the warm start."""
    settings = plan_settings(plan, seed=seed, scalarise=scalarise, warm_start=warm_start)
    if int(settings.get("seed", "0")) < 0:
        raise KatibUnsupported(f"{plan.study}/{plan.target}: {HPOCTL_OPTUNA} needs a seed >= 0, got {settings['seed']}")
    return _spec(HPOCTL_OPTUNA, settings)


def _optuna_tpe(settings: dict[str, Any], where: str, unsupported: set[str]) -> V1beta1AlgorithmSpec:
    _reject(settings, unsupported, where, "Katib's multivariate-tpe takes n_startup_trials, n_ei_candidates, seed")
    if settings.get("constant_liar") is False:
        raise KatibUnsupported(
            f"{where}: settings.constant_liar=false cannot be honoured; Katib's Optuna service always uses "
            "the constant liar"
        )
    out = {key: settings[key] for key in ("n_startup_trials", "n_ei_candidates") if key in settings}
    out.update(_random_state(settings, where))
    return _spec("multivariate-tpe", out)


def _random_state(settings: dict[str, Any], where: str) -> dict[str, Any]:
    if "seed" not in settings:
        return {}
    if settings["seed"] < 0:
        raise KatibUnsupported(f"{where}: Katib needs random_state >= 0, got seed={settings['seed']}")
    return {"random_state": settings["seed"]}


def _reject(settings: dict[str, Any], names: set[str], where: str, what: str) -> None:
    for name in sorted(names & set(settings)):
        raise KatibUnsupported(f"{where}: settings.{name} has no Katib equivalent ({what}); drop it")


def _spec(name: str, settings: dict[str, Any]) -> V1beta1AlgorithmSpec:
    return V1beta1AlgorithmSpec(
        algorithm_name=name,
        algorithm_settings=[V1beta1AlgorithmSetting(name=k, value=_text(v)) for k, v in settings.items()] or None,
    )


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def grid_algorithm() -> V1beta1AlgorithmSpec:
    """A top-k stage's algorithm: grid over its one `config` parameter runs each configuration once."""
    return _spec("grid", {})


def katib_early_stopping(plan: Plan, stage: StagePlan, collector: str) -> V1beta1EarlyStoppingSpec | None:
    """Katib's medianstop for the median rule; None for none and for top-k stages (never pruned, as in
    a local run). Successive halving and hyperband have no Katib early-stopping equivalent."""
    rule = plan.early_stopping
    if rule.name == "none" or stage.mode == "top-k":
        return None
    where = f"{plan.study}/{plan.target}: early_stopping {rule.name!r}"
    if rule.name != "median":
        raise KatibUnsupported(
            f"{where} has no Katib equivalent (Katib stops trials only with medianstop); "
            "use --set early_stopping.name=median, or --set early_stopping.name=none to run without"
        )
    if collector not in ("StdOut", "File"):
        raise KatibUnsupported(
            f"{where}: Katib's early stopping reads the StdOut or File collector's logs, not {collector}; "
            "use --metrics-collector stdout or --set early_stopping.name=none"
        )
    settings = {**MEDIAN_DEFAULTS, **rule.settings}
    if settings["interval_steps"] != 1:
        raise KatibUnsupported(
            f"{where}: settings.interval_steps={settings['interval_steps']} has no Katib equivalent "
            "(medianstop checks every reported epoch); drop it"
        )
    # Katib's medianstop wants min_trials_required > 0 and start_step >= 1 (Optuna allows 0 for both).
    return V1beta1EarlyStoppingSpec(
        algorithm_name=MEDIAN_STOP,
        algorithm_settings=[
            V1beta1EarlyStoppingSetting(name="min_trials_required", value=str(max(1, settings["min_trials"]))),
            V1beta1EarlyStoppingSetting(name="start_step", value=str(max(1, settings["warmup_steps"]))),
        ],
    )
