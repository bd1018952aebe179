"""Katib trials back as an Optuna study, in the results layout every backend writes.

Katib keeps no result export (kubeflow/katib#1697) and loses a deleted Experiment's metrics
(#1128), so `hpoctl results pull` (and `hpoctl delete` before it deletes) reads every Trial of a
target's Experiments and records it as `hpoctl.trial_record` says: values are the objectives'
optimised values (a target objective's distance, read from the trainer's `<metric>_error`), user
attributes carry the stage, the metrics, the failure reason and the Katib trial's name.
Katib states map to Optuna's: Succeeded -> COMPLETE, EarlyStopped -> PRUNED, Failed, Killed and
MetricsUnavailable -> FAIL; Created and Running trials are left out (or RUNNING, if asked).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from hpoctl import trial_record as rec
from hpoctl.errors import BackendError, ResultsError
from hpoctl.katib import names
from hpoctl.katib.objectives import ERROR_SUFFIX
from hpoctl.katib.parameters import CONFIG_PARAMETER, config_seed, decode_assignments, decode_config
from hpoctl.plan import Plan
from hpoctl.results import layout
from hpoctl.search.space import distribution, optuna_choice

optuna.logging.set_verbosity(optuna.logging.WARNING)  # as the local backend: hpoctl reports, not Optuna

ORDER_ATTR = "katib:order"  # system attribute: [stage index, creation time], to keep trials in order across pulls
BACKEND = "katib"
_FINAL = ("EarlyStopped", "Failed", "Killed", "MetricsUnavailable", "Succeeded")
_FAILURES = {
    "Failed": "the trial's Job failed",
    "Killed": "killed by Katib (its Experiment ended, was cancelled or deleted)",
    "MetricsUnavailable": "the trial ended but Katib collected none of its objective metric",
}


@dataclass
class PulledTrial:
    """One Katib trial, read: its stage, state, configuration, metrics and times."""

    name: str
    experiment: str
    stage: str
    stage_index: int
    epochs: int | None
    seed: int | None
    condition: str
    message: str
    params: dict[str, Any]
    observed: dict[str, dict[str, str]]
    created: str = ""
    started: dt.datetime | None = None
    completed: dt.datetime | None = None
    source: str | None = None
    repeat: int | None = None


@dataclass
class PullSummary:
    study: str
    target: str
    out_dir: Path
    experiments: list[str]
    counts: dict[str, int] = field(default_factory=dict)
    skipped: int = 0

    def line(self) -> str:
        counts = ", ".join(f"{k} {v}" for k, v in self.counts.items() if v)
        skipped = f", {self.skipped} still running (not pulled)" if self.skipped else ""
        return (
            f"{self.study}/{self.target}: pulled {sum(self.counts.values())} trials ({counts or 'none'}{skipped}) "
            f"from {len(self.experiments)} Experiments into {self.out_dir}"
        )


def condition_of(trial: Mapping[str, Any]) -> tuple[str, str]:
    """The trial's current condition (EarlyStopped, Failed, Killed, MetricsUnavailable, Succeeded, Running or
    Created) and its message."""
    conditions = [c for c in (trial.get("status") or {}).get("conditions") or [] if c.get("status") == "True"]
    by_type = {c.get("type"): c for c in conditions}
    for kind in (*_FINAL, "Running", "Created"):
        if kind in by_type:
            return kind, str(by_type[kind].get("message") or "")
    return "Created", ""


def read_trials(plan: Plan, experiment: Mapping[str, Any], trials: Iterable[Mapping[str, Any]]) -> list[PulledTrial]:
    meta = experiment.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    labels = meta.get("labels") or {}
    stage = labels.get(names.LABEL_STAGE) or meta.get("name", "")
    index = _int(annotations.get(names.ANNOTATION_STAGE_INDEX))
    if index is None:
        index = next((s.index for s in plan.stages if s.name == stage), len(plan.stages))
    sources = json.loads(annotations.get(names.ANNOTATION_TOP_K_SOURCES) or "null")
    top_k_values = _top_k_values(experiment)
    found = []
    for trial in trials:
        tmeta = trial.get("metadata") or {}
        status = trial.get("status") or {}
        assignments = {
            a.get("name"): str(a.get("value"))
            for a in (trial.get("spec") or {}).get("parameterAssignments") or []
            if a.get("name") is not None
        }
        source, repeat, seed = None, None, None
        if CONFIG_PARAMETER in assignments and CONFIG_PARAMETER not in plan.parameters:
            value = assignments[CONFIG_PARAMETER]
            params = decode_config(plan.parameters, value)
            if sources and value in top_k_values:
                position = top_k_values.index(value)
                source = sources[position]
                repeat = sources[:position].count(source)  # values list each configuration's repeats in turn
                seed = config_seed(value)
        else:
            params = decode_assignments(plan.parameters, assignments)
        condition, message = condition_of(trial)
        found.append(
            PulledTrial(
                name=tmeta.get("name", ""),
                experiment=meta.get("name", ""),
                stage=stage,
                stage_index=index,
                epochs=_int(annotations.get(names.ANNOTATION_EPOCHS)),
                seed=seed if seed is not None else _int(annotations.get(names.ANNOTATION_SEED)),
                condition=condition,
                message=message,
                params=params,
                observed={m.get("name"): m for m in (status.get("observation") or {}).get("metrics") or []},
                created=str(tmeta.get("creationTimestamp") or ""),
                started=katib_time(status.get("startTime")),
                completed=katib_time(status.get("completionTime")),
                source=source,
                repeat=repeat,
            )
        )
    return found


def _top_k_values(experiment: Mapping[str, Any]) -> list[str]:
    for param in (experiment.get("spec") or {}).get("parameters") or []:
        if param.get("name") == CONFIG_PARAMETER:
            return list((param.get("feasibleSpace") or {}).get("list") or [])
    return []


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def katib_time(value: Any) -> dt.datetime | None:
    """A Katib timestamp (UTC) as Optuna keeps trial times: naive, in local time."""
    if not value:
        return None
    try:
        moment = (
            value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        )
    except ValueError:
        return None
    return moment.astimezone().replace(tzinfo=None) if moment.tzinfo else moment


def _metric(observed: Mapping[str, Mapping[str, str]], name: str, strategy: str) -> float | None:
    entry = observed.get(name)
    if not entry:
        return None
    raw = entry.get(strategy) if entry.get(strategy) is not None else entry.get("latest")
    try:
        value = float(raw)
    except (TypeError, ValueError):  # Katib writes "unavailable" when the trainer never reported it
        return None
    return value if math.isfinite(value) else None


def objective_values(plan: Plan, observed: Mapping[str, Mapping[str, str]]) -> list[float | None]:
    """Each objective's optimised value from a trial's observation (a target objective's distance)."""
    values: list[float | None] = []
    for objective in plan.objectives:
        if objective.target is not None:
            value = _metric(observed, f"{objective.metric}{ERROR_SUFFIX}", objective.strategy)
            if value is None:
                raw = _metric(observed, objective.metric, objective.strategy)
                value = abs(raw - objective.target) if raw is not None else None
        else:
            value = _metric(observed, objective.metric, objective.strategy)
        values.append(value)
    return values


def metrics_of(plan: Plan, observed: Mapping[str, Mapping[str, str]], values: list[float | None]) -> dict[str, float]:
    """The trial's metrics as the local backend records them: the last reported values, with each
    direction objective at its strategy's value (a target objective keeps its raw metric)."""
    metrics = {name: v for name in observed if (v := _metric(observed, name, "latest")) is not None}
    for objective, value in zip(plan.objectives, values, strict=True):
        if value is not None and objective.target is None:
            metrics[objective.metric] = value
    return metrics


def _fit(value: Any, distribution: BaseDistribution) -> Any:
    """A value inside its distribution (Katib's text can round a bound a hair outside)."""
    if isinstance(distribution, (IntDistribution, FloatDistribution)):
        value = min(max(value, distribution.low), distribution.high)
        if isinstance(distribution, IntDistribution):
            value = round(value)
    return value


def frozen_trials(
    plan: Plan,
    pulled: list[PulledTrial],
    *,
    include_running: bool = False,
    kept: Iterable[FrozenTrial] = (),
    old_names: Mapping[int, str] | None = None,
) -> list[FrozenTrial]:
    """The pulled trials (and `kept`, trials of an earlier pull whose Experiment is gone) as Optuna trials,
    numbered in stage order, then in the order Katib created them."""
    space = {name: distribution(param) for name, param in plan.parameters.items()}
    entries: list[tuple[tuple[Any, ...], FrozenTrial, str | None]] = []
    for trial in pulled:
        if trial.condition in ("Created", "Running") and not include_running:
            continue
        values = objective_values(plan, trial.observed)
        attrs: dict[str, Any] = {
            rec.STAGE: trial.stage,
            rec.METRICS: metrics_of(plan, trial.observed, values),
            rec.BACKEND: BACKEND,
            rec.KATIB_TRIAL: trial.name,
        }
        if trial.epochs is not None:
            attrs[rec.EPOCHS] = trial.epochs
        if trial.seed is not None:
            attrs[rec.SEED] = trial.seed
        if trial.repeat is not None:
            attrs[rec.REPEAT] = trial.repeat
        if trial.started and trial.completed:
            attrs[rec.DURATION] = round((trial.completed - trial.started).total_seconds(), 3)
        state, final = _state(trial, values, attrs)
        params = {k: _fit(optuna_choice(v), space[k]) for k, v in trial.params.items() if k in space}
        frozen = FrozenTrial(
            number=0,
            state=state,
            value=None,
            values=final,
            datetime_start=trial.started or trial.completed,
            datetime_complete=(trial.completed or trial.started) if state.is_finished() else None,
            params=params,
            distributions={k: space[k] for k in params},
            user_attrs=attrs,
            system_attrs={ORDER_ATTR: [trial.stage_index, trial.created]},
            intermediate_values={},
            trial_id=0,
        )
        entries.append(((trial.stage_index, trial.created, trial.name), frozen, trial.source))
    kept = list(kept)
    if old_names is None:
        old_names = {t.number: t.user_attrs.get(rec.KATIB_TRIAL) for t in kept}
    for trial in kept:
        index, created = (trial.system_attrs.get(ORDER_ATTR) or [len(plan.stages), ""])[:2]
        frozen = copy.deepcopy(trial)
        source = old_names.get(frozen.user_attrs.pop(rec.SOURCE_TRIAL, None))
        entries.append(((index, created, trial.user_attrs.get(rec.KATIB_TRIAL, "")), frozen, source))
    entries.sort(key=lambda entry: entry[0])
    numbers = {entry[1].user_attrs.get(rec.KATIB_TRIAL): number for number, entry in enumerate(entries)}
    trials = []
    for number, (_, frozen, source) in enumerate(entries):
        frozen.number = number
        if source is not None and source in numbers:
            frozen.user_attrs = {**frozen.user_attrs, rec.SOURCE_TRIAL: numbers[source]}
        trials.append(frozen)
    return trials


def _state(trial: PulledTrial, values: list[float | None], attrs: dict[str, Any]) -> tuple[TrialState, Any]:
    if trial.condition == "Succeeded":
        if all(v is not None for v in values):
            return TrialState.COMPLETE, values
        attrs[rec.FAILURE] = "trainer reported no value for the objective metric (Katib observed none)"
        return TrialState.FAIL, None
    if trial.condition == "EarlyStopped":
        return TrialState.PRUNED, None
    if trial.condition in _FAILURES:
        reason = _FAILURES[trial.condition]
        attrs[rec.FAILURE] = f"{reason}: {trial.message}" if trial.message else reason
        return TrialState.FAIL, None
    return TrialState.RUNNING, None


def build_study(
    plan: Plan,
    pulled: list[PulledTrial],
    storage: str | optuna.storages.BaseStorage | None = None,
    *,
    include_running: bool = False,
) -> optuna.Study:
    """A fresh Optuna study (in `storage`; in memory by default) holding the pulled trials. A study of
    the same name in the storage is replaced, if only Katib pulls wrote it."""
    name = rec.optuna_study_name(plan.study, plan.target)
    kept: list[FrozenTrial] = []
    old_names: dict[int, str] = {}
    if storage is not None:
        try:
            existing = optuna.load_study(study_name=name, storage=storage)
        except KeyError:
            existing = None
        if existing is not None:
            trials = existing.get_trials(deepcopy=True)
            foreign = [t.number for t in trials if t.user_attrs.get(rec.BACKEND) != BACKEND]
            if foreign:
                raise ResultsError(
                    f"study {name!r} in {storage} holds {len(foreign)} trials not pulled from Katib; pull into "
                    "another --results folder"
                )
            # Trials whose Experiment was deleted since are nowhere else any more: keep them.
            present = {t.name for t in pulled}
            old_names = {t.number: t.user_attrs.get(rec.KATIB_TRIAL) for t in trials}
            kept = [t for t in trials if t.state.is_finished() and t.user_attrs.get(rec.KATIB_TRIAL) not in present]
            optuna.delete_study(study_name=name, storage=storage)
    study = optuna.create_study(study_name=name, storage=storage, directions=plan.directions)
    layout.record_provenance(study, plan)
    for trial in frozen_trials(plan, pulled, include_running=include_running, kept=kept, old_names=old_names):
        study.add_trial(trial)
    return study


def experiments_of(api: Any, namespace: str, plan: Plan) -> list[dict[str, Any]]:
    """The target's Experiments (every stage), in stage order; another target's (a label clash) left out."""
    found = api.list_experiments(namespace, names.selector(plan.study, plan.target))
    mine = [
        e
        for e in found
        if (e.get("metadata", {}).get("annotations") or {}).get(names.ANNOTATION_TARGET) in (plan.target, None)
    ]

    def index(e: Mapping[str, Any]) -> int:
        return _int((e["metadata"].get("annotations") or {}).get(names.ANNOTATION_STAGE_INDEX)) or 0

    return sorted(mine, key=index)


def pull_results(
    plan: Plan,
    results_dir: Path,
    *,
    api: Any,
    namespace: str,
    include_running: bool = False,
    provenance_extra: Mapping[str, Any] | None = None,
) -> PullSummary:
    """Read every trial of the target's Experiments into `results/<study>/<target>/study.db` and write the
    results folder (best_params.json, trials.csv, pareto.json, ...) with `hpoctl.results.write_results`."""
    from hpoctl.results import collect_provenance, write_results

    experiments = experiments_of(api, namespace, plan)
    if not experiments:
        raise BackendError(
            f"no Experiments of {plan.study}/{plan.target} in namespace {namespace} "
            f"(kubectl get experiments -n {namespace} -l {names.selector(plan.study, plan.target)})"
        )
    started = dt.datetime.now(dt.timezone.utc)
    pulled: list[PulledTrial] = []
    for experiment in experiments:
        trials = api.list_trials(namespace, experiment["metadata"]["name"])
        pulled += read_trials(plan, experiment, trials)
    out_dir = layout.target_dir(results_dir, plan.study, plan.target)
    out_dir.mkdir(parents=True, exist_ok=True)
    study = build_study(plan, pulled, layout.sqlite_url(out_dir), include_running=include_running)
    seeds = sorted({t.seed for t in pulled if t.seed is not None})
    provenance = collect_provenance(plan, started, dt.datetime.now(dt.timezone.utc), {"trainer": seeds})
    provenance["backend"] = BACKEND
    provenance["katib"] = {
        "namespace": namespace,
        "experiments": [e["metadata"]["name"] for e in experiments],
        **dict(provenance_extra or {}),
    }
    write_results(study, plan, out_dir, provenance)
    counts: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        key = trial.state.name.lower()
        counts[key] = counts.get(key, 0) + 1
    skipped = 0 if include_running else sum(1 for t in pulled if t.condition in ("Created", "Running"))
    experiment_names = [e["metadata"]["name"] for e in experiments]
    return PullSummary(plan.study, plan.target, out_dir, experiment_names, counts, skipped)
