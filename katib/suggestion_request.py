"""Katib's GetSuggestions request as an Optuna study, and Optuna's answers as Katib assignments.

A request alone is enough to answer it: the Experiment (parameters, objective, settings) and its trials
become an in-memory study, so a restarted service recovers from Katib's trials. The service keeps that study
between calls and takes in only what changed (`hpoctl.katib.suggestion_study`); this module decodes, builds
and asks. What depends on the Experiment only (parsed settings, the search space, the decoded warm start) is
an `ExperimentContext`, which the service may cache; rebuilding it costs time, never a different answer.

* Parameters come back as hpoctl spec parameters (categorical choices as Katib's text), so
  `hpoctl.search.space.suggest` samples them with the spec's conditions; an inactive parameter still gets a
  valid assignment (its lowest value or first choice), since Katib wants every parameter, and is left out of
  the Optuna trial when the request brings it back.
* Katib trial states: Succeeded -> COMPLETE (values: the objectives' metrics; a trial with a missing or
  non-numeric one is left out, with a log line), EarlyStopped -> PRUNED, Created/Running -> RUNNING (so
  the constant liar keeps new suggestions away from them), Failed/Killed/MetricsUnavailable -> left out.
  The service asks for those that ran without a result as FAIL (`failed=True`; a succeeded one without
  its metrics too), so the duplicate check, and QMC's sequence, do not propose them again at once; a killed
  one is also interrupted, which lets its configuration run again, as everywhere in hpoctl.
* The sampler comes from `hpoctl.search.samplers.build_sampler` (the one construction path), seeded per call
  from the settings' seed (else the Experiment's name) and the number of suggestions Katib already asked
  for, so successive calls differ and the same request gets the same answer.
* Samplers that keep their state in trial attributes (NSGA-II's generations, CMA-ES's optimizer, QMC's
  sequence position) see the finished trials replayed through ask and tell, in the order they finished, by
  a sampler seeded from the Experiment alone; `Histories` keeps that replay between calls, so a call replays
  only what finished since (the study, and the answer, are the same either way). TPE and random search take
  the trials as they are.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import math
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import optuna
from kubeflow.katib import katib_api_pb2 as pb
from optuna.distributions import BaseDistribution
from optuna.trial import TrialState, create_trial
from pydantic import ValidationError

from hpoctl import trial_record as rec
from hpoctl.katib.suggestion_settings import (
    CONDITIONS,
    Objective,
    SettingsError,
    SuggestionSettings,
    parse_settings,
)
from hpoctl.search.samplers import build_sampler
from hpoctl.search.space import active, decode_choice, dependency_order, distribution, suggest
from hpoctl.spec.algorithms import Algorithm
from hpoctl.spec.parameters import CategoricalParameter, FloatParameter, IntParameter

log = logging.getLogger("hpoctl.katib.suggestion")
optuna.logging.set_verbosity(optuna.logging.WARNING)

Parameter = IntParameter | FloatParameter | CategoricalParameter
#: Samplers whose state lives in trial or study attributes: their trials are replayed through ask and tell.
REPLAYED = frozenset({"nsga2", "cmaes", "qmc"})
#: The module Optuna needs for a sampler, which the light install may lack.
NEEDS = {"cmaes": "cmaes", "qmc": "scipy"}
#: Suggestions one call may ask for at most (Katib asks for parallelTrialCount at most).
MAX_REQUEST = 10_000
_STATES = pb.TrialStatus.TrialConditionType
#: Katib conditions of a trial that ran and gave no result.
_FAILED = frozenset({_STATES.FAILED, _STATES.KILLED, _STATES.METRICSUNAVAILABLE})
_TYPES = {pb.INT: "int", pb.DOUBLE: "double", pb.CATEGORICAL: "categorical", pb.DISCRETE: "discrete"}


class RequestError(SettingsError):
    """A request (rather than its settings) that cannot be answered; INVALID_ARGUMENT as well."""


@dataclass(frozen=True)
class ExperimentContext:
    """What the Experiment alone decides: settings, objectives, the search space and the warm start."""

    name: str
    settings: SuggestionSettings
    objectives: tuple[Objective, ...]
    space: dict[str, Parameter]
    distributions: dict[str, BaseDistribution]
    warm_trials: tuple[TrialRecord, ...]
    fingerprint: str = ""  # the Experiment's name and spec, hashed

    @property
    def directions(self) -> list[str]:
        return [o.direction for o in self.objectives]

    @property
    def algorithm(self) -> Algorithm:
        return Algorithm(name=self.settings.sampler, settings=self.settings.options)


@dataclass(frozen=True)
class TrialRecord:
    """A trial as the Optuna view holds it: params as Optuna values (active ones only), state, values."""

    name: str
    params: dict[str, Any]
    state: TrialState
    values: tuple[float, ...] | None = None
    order: tuple[int, str, str] = (0, "", "")
    interrupted: bool = False  # a FAIL record of a killed trial: its configuration may run again

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.name, self.state, self.values)


def experiment_context(experiment: pb.Experiment) -> ExperimentContext:
    """Parse and check everything the Experiment decides; raises SettingsError (every problem at once)."""
    spec = experiment.spec
    settings = parse_settings((s.name, s.value) for s in spec.algorithm.algorithm_settings)
    problems: list[str] = []
    module = NEEDS.get(settings.sampler)
    if module and importlib.util.find_spec(module) is None:
        problems.append(
            f"setting sampler={settings.sampler!r} needs the Python package {module!r}, which this service's "
            f"image lacks; install it into the image or choose another sampler"
        )
    objectives = _objectives(spec.objective, settings, problems)
    if objectives and any(len(t.values) != len(objectives) for t in settings.warm_start):
        problems.append(
            f"setting warm_start: its trials do not have one value for each of {len(objectives)} objectives"
        )
    space = _space(spec.parameter_specs.parameters, settings.conditions, problems)
    if problems:
        raise SettingsError(problems)
    if settings.sampler == "cmaes" and all(isinstance(p, CategoricalParameter) for p in space.values()):
        raise SettingsError(["setting sampler='cmaes' needs int or double parameters (CMA-ES samples no categories)"])
    distributions = {name: distribution(param) for name, param in space.items()}
    context = ExperimentContext(experiment.name, settings, objectives, space, distributions, ())
    warm = []
    for i, trial in enumerate(settings.warm_start):
        params, reason = decode_assignments(context, trial.assignments)
        if reason:
            log.info("%s: warm-start trial %d left out: %s", experiment.name, i, reason)
            continue
        warm.append(TrialRecord(f"warm-start-{i}", params, TrialState.COMPLETE, trial.values, (0, "", f"{i:09d}")))
    fingerprint = hashlib.sha256(
        experiment.name.encode() + b"\0" + experiment.spec.SerializeToString(deterministic=True)
    ).hexdigest()
    return ExperimentContext(experiment.name, settings, objectives, space, distributions, tuple(warm), fingerprint)


def _objectives(
    objective: pb.ObjectiveSpec, settings: SuggestionSettings, problems: list[str]
) -> tuple[Objective, ...]:
    collected = [objective.objective_metric_name, *objective.additional_metric_names]
    kinds = {pb.MAXIMIZE: "maximize", pb.MINIMIZE: "minimize"}
    if not objective.objective_metric_name:
        problems.append("the Experiment has no objective metric (spec.objective.objectiveMetricName)")
        return ()
    if settings.objectives is None:
        if objective.type not in kinds:
            problems.append("the Experiment's objective type must be minimize or maximize")
            return ()
        return (Objective(objective.objective_metric_name, kinds[objective.type]),)
    for o in settings.objectives:
        if o.metric not in collected:
            problems.append(
                f"setting objectives: metric {o.metric!r} is not collected by the Experiment "
                f"(objectiveMetricName and additionalMetricNames: {', '.join(collected)})"
            )
        elif o.metric == objective.objective_metric_name and kinds.get(objective.type, o.direction) != o.direction:
            problems.append(
                f"setting objectives: {o.metric} is to {o.direction}, but the Experiment's objective type is "
                f"{kinds[objective.type]}"
            )
    return settings.objectives


def _space(
    specs: Iterable[pb.ParameterSpec], conditions: Mapping[str, Mapping[str, list[str]]], problems: list[str]
) -> dict[str, Parameter]:
    raw: dict[str, dict[str, Any]] = {}
    for i, p in enumerate(specs):
        where = f"parameter {p.name!r}" if p.name else f"parameters[{i}]"
        if not p.name:
            problems.append(f"{where} has no name")
            continue
        if p.name in raw:
            problems.append(f"{where} is defined twice")
            continue
        try:
            raw[p.name] = _parameter_fields(p)
        except ValueError as e:
            problems.append(f"{where}: {e}")
    if not raw and not problems:
        problems.append("the Experiment has no parameters (spec.parameters)")
    for name, when in conditions.items():
        if name not in raw:
            problems.append(f"setting {CONDITIONS}: {name!r} is not a parameter of the Experiment")
            continue
        for other, texts in when.items():
            if other not in raw or other == name:
                problems.append(f"setting {CONDITIONS}: {name}.{other}: {other!r} is not another parameter")
                continue
            choices = raw[other].get("choices")
            if choices is not None:
                bad = [t for t in texts if t not in choices]
                if bad:
                    problems.append(
                        f"setting {CONDITIONS}: {name}.{other}: {bad} are not values of {other!r} {choices}"
                    )
                    continue
            raw[name]["when"] = {**raw[name].get("when", {}), other: [decode_choice(t) for t in texts]}
    if _has_cycle(raw):
        problems.append(f"setting {CONDITIONS}: the conditions form a cycle")
    space: dict[str, Parameter] = {}
    for name, fields in raw.items():
        model = {"int": IntParameter, "float": FloatParameter, "categorical": CategoricalParameter}[fields["type"]]
        try:
            space[name] = model(**fields)
        except ValidationError as e:
            problems.append(f"parameter {name!r}: {'; '.join(err['msg'] for err in e.errors())}")
    return space


def _parameter_fields(p: pb.ParameterSpec) -> dict[str, Any]:
    fs = p.feasible_space
    kind = _TYPES.get(p.parameter_type)
    if kind is None:
        raise ValueError(f"parameterType {p.parameter_type} is not int, double, categorical or discrete")
    if kind in ("categorical", "discrete"):
        choices = list(fs.list)
        if not choices:
            raise ValueError("feasibleSpace.list is empty")
        if len(set(choices)) != len(choices):
            raise ValueError(f"feasibleSpace.list {choices} repeats a value")
        return {"type": "categorical", "choices": choices, "default": choices[0]}
    if fs.distribution in (pb.NORMAL, pb.LOG_NORMAL):
        name = pb.Distribution.Name(fs.distribution)
        raise ValueError(f"distribution {name} is not supported by hpoctl-optuna (uniform or logUniform)")
    log_scale = fs.distribution == pb.LOG_UNIFORM
    if kind == "int":
        low, high = _int(fs.min, "min"), _int(fs.max, "max")
        step = _int(fs.step, "step") if fs.step else 1
        if step < 1:
            raise ValueError(f"step must be at least 1, got {fs.step!r}")
        if log_scale and step != 1:
            raise ValueError(f"a logUniform int takes no step, got step {fs.step!r}")
        if low >= high:
            raise ValueError(f"min {fs.min!r} must be less than max {fs.max!r}")
        high = low + (high - low) // step * step  # Katib's last value on the grid
        return {"type": "int", "low": low, "high": high, "step": step, "log": log_scale, "default": low}
    low, high = _float(fs.min, "min"), _float(fs.max, "max")
    if low >= high:
        raise ValueError(f"min {fs.min!r} must be less than max {fs.max!r}")
    if log_scale and low <= 0:
        raise ValueError(f"a logUniform double needs min > 0, got {fs.min!r}")
    step = None
    if fs.step:
        step = _float(fs.step, "step")
        if step <= 0:
            raise ValueError(f"step must be positive, got {fs.step!r}")
        if log_scale:
            raise ValueError(f"a logUniform double takes no step, got step {fs.step!r}")
        d_low, d_step = Decimal(fs.min.strip()), Decimal(fs.step.strip())
        high = float(d_low + ((Decimal(fs.max.strip()) - d_low) // d_step) * d_step)
    return {"type": "float", "low": low, "high": high, "step": step, "log": log_scale, "default": low}


def _int(text: str, what: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"{what} {text!r} is not an integer") from None


def _float(text: str, what: str) -> float:
    try:
        value = float(text)
        Decimal(text.strip())
    except (ValueError, InvalidOperation):
        raise ValueError(f"{what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{what} {text!r} is not finite")
    return value


def _has_cycle(raw: Mapping[str, Mapping[str, Any]]) -> bool:
    state: dict[str, int] = {}

    def visit(name: str) -> bool:
        if state.get(name) == 1:
            return True
        if state.get(name) == 2:
            return False
        state[name] = 1
        if any(visit(other) for other in (raw[name].get("when") or {}) if other in raw):
            return True
        state[name] = 2
        return False

    return any(visit(name) for name in raw)


def to_text(param: Parameter, value: Any) -> str:
    """An Optuna value as Katib's assignment text, exactly on the parameter's grid and inside its bounds."""
    if isinstance(param, IntParameter):
        return str(int(value))
    if isinstance(param, FloatParameter):
        value = min(max(float(value), param.low), param.high)
        if param.step is not None:
            d_low, d_step = Decimal(repr(float(param.low))), Decimal(repr(float(param.step)))
            k = ((Decimal(repr(value)) - d_low) / d_step).to_integral_value()
            value = min(float(d_low + k * d_step), param.high)
        return repr(float(value))
    return str(value)


def filler_text(param: Parameter) -> str:
    """The assignment of a parameter inactive under its condition: the trainer ignores it."""
    if isinstance(param, CategoricalParameter):
        return str(param.choices[0])
    return to_text(param, param.low)


def from_text(param: Parameter, text: str) -> Any:
    """Katib's assignment text as the Optuna value; ValueError if it is not a value of the parameter."""
    if isinstance(param, CategoricalParameter):
        if text not in param.choices:
            raise ValueError(f"{text!r} is not one of {param.choices}")
        return text
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{text!r} is not finite")
    span = param.high - param.low
    if not param.low - 1e-9 * span <= number <= param.high + 1e-9 * span:
        raise ValueError(f"{text} is outside [{param.low}, {param.high}]")
    if isinstance(param, IntParameter):
        if number != int(number) or (int(number) - param.low) % param.step:
            raise ValueError(f"{text} is not on the grid {param.low} + k*{param.step}")
        return int(number)
    number = min(max(number, param.low), param.high)
    if param.step is not None:
        k = (number - param.low) / param.step
        if abs(k - round(k)) > 1e-6:
            raise ValueError(f"{text} is not on the grid {param.low} + k*{param.step}")
        number = float(to_text(param, number))  # snapped onto the grid, as Optuna's distribution expects
    return number


def decode_assignments(context: ExperimentContext, assignments: Mapping[str, str]) -> tuple[dict[str, Any], str]:
    """The active parameters' Optuna values, or a reason the assignments do not fit the search space."""
    values: dict[str, Any] = {}
    for name, text in assignments.items():
        param = context.space.get(name)
        if param is None:
            continue
        try:
            values[name] = from_text(param, text)
        except ValueError as e:
            return {}, f"parameter {name}: {e}"
    # Active as hpoctl.search.space.suggest decides it: a parameter whose condition names an inactive one is inactive.
    chosen: dict[str, str] = {}
    for name in dependency_order(context.space):
        if name in values and active(context.space[name], chosen):
            chosen[name] = assignments[name]
    return {name: values[name] for name in chosen}, ""


def request_records(
    context: ExperimentContext, trials: Iterable[pb.Trial], *, failed: bool = False
) -> list[TrialRecord]:
    """The request's trials the Optuna view holds, in the order they finished (running ones last); with
    `failed`, the trials that ran and gave no result too (FAIL), so no sampler proposes them again at once."""
    records: list[TrialRecord] = []
    seen: set[str] = set()
    for trial in trials:
        if trial.name in seen:
            continue
        seen.add(trial.name)
        record = trial_record(context, trial, failed=failed)
        if record is not None:
            records.append(record)
    records.sort(key=lambda r: r.order)
    return records


def trial_record(context: ExperimentContext, trial: pb.Trial, *, failed: bool = False) -> TrialRecord | None:
    """One Katib trial as the Optuna view holds it, or None (with a log line) when it is left out.

    With `failed`, a trial that ran without a usable result is a FAIL record (a killed one also interrupted,
    which the duplicate check lets run again); otherwise it is left out, as is an Unknown one."""
    condition = trial.status.condition
    if condition == _STATES.UNKNOWN or (not failed and condition in _FAILED):
        return None
    assignments = {a.name: a.value for a in trial.spec.parameter_assignments.assignments}
    params, reason = decode_assignments(context, assignments)
    if reason:
        log.info("%s: trial %s left out: %s", context.name, trial.name, reason)
        return None
    if condition in (_STATES.CREATED, _STATES.RUNNING):
        return TrialRecord(trial.name, params, TrialState.RUNNING, None, (2, trial.status.start_time, trial.name))
    order = (1, trial.status.completion_time or trial.status.start_time, trial.name)
    if condition in _FAILED:
        return TrialRecord(trial.name, params, TrialState.FAIL, None, order, condition == _STATES.KILLED)
    if condition == _STATES.EARLYSTOPPED:  # Katib stopped it early: pruned, never a success
        return TrialRecord(trial.name, params, TrialState.PRUNED, None, order)
    values, reason = _values(context.objectives, trial.status.observation.metrics)
    if not reason:
        return TrialRecord(trial.name, params, TrialState.COMPLETE, values, order)
    if failed:
        log.info("%s: trial %s counted as failed: %s", context.name, trial.name, reason)
        return TrialRecord(trial.name, params, TrialState.FAIL, None, order)
    log.info("%s: trial %s left out: %s", context.name, trial.name, reason)
    return None


def _values(objectives: Sequence[Objective], metrics: Iterable[pb.Metric]) -> tuple[tuple[float, ...], str]:
    observed = {m.name: m.value for m in metrics}
    values = []
    for o in objectives:
        if o.metric not in observed:
            return (), f"it succeeded without metric {o.metric!r}"
        try:
            value = float(observed[o.metric])
        except ValueError:
            return (), f"metric {o.metric}={observed[o.metric]!r} is not a number"
        if not math.isfinite(value):
            return (), f"metric {o.metric}={observed[o.metric]!r} is not finite"
        values.append(value)
    return tuple(values), ""


def call_seed(context: ExperimentContext, request: pb.GetSuggestionsRequest) -> int:
    """The sampler's seed for this call: the settings' seed (else one from the Experiment's name) mixed with
    how many suggestions Katib had already asked for, so every call of an Experiment differs, reproducibly."""
    base = _base_seed(context)
    if context.settings.sampler == "qmc":
        return base  # the sequence is the state: its scrambling must not change between calls
    asked = request.total_request_number - request.current_request_number
    if request.total_request_number <= 0 or asked < 0:
        asked = len(request.trials)
    return int.from_bytes(hashlib.sha256(f"{base}:{asked}".encode()).digest()[:4], "big")


def _base_seed(context: ExperimentContext) -> int:
    if context.settings.seed is not None:
        return context.settings.seed
    return int.from_bytes(hashlib.sha256(context.name.encode()).digest()[:4], "big")


def optuna_view(
    context: ExperimentContext,
    records: Sequence[TrialRecord],
    seed: int,
    histories: Histories | None = None,
    pending: Sequence[Mapping[str, Any]] = (),
) -> optuna.Study:
    """A fresh in-memory study holding the warm start, the request's trials and, running after them, the
    `pending` configurations (handed out, not yet trials), with the sampler built by `hpoctl.search` and
    seeded with `seed` (constant liar on: several suggestions at once must not collide).

    A sampler that keeps its state in attributes sees the finished trials replayed, in the order they
    finished, by a sampler seeded from the Experiment alone; `histories` keeps that replay between calls, so
    the next call replays only what finished since. Either way the study is the same, and so is the answer."""
    study = optuna.create_study(directions=context.directions, sampler=_sampler(context, seed))
    running = [TrialRecord("", dict(params), TrialState.RUNNING) for params in pending]
    if context.settings.sampler not in REPLAYED:
        study.add_trials([frozen_trial(context, r) for r in [*context.warm_trials, *records, *running]])
        return study
    finished = [*context.warm_trials, *(r for r in records if r.state != TrialState.RUNNING)]
    history = histories.take(context, finished) if histories is not None else None
    if history is None:
        replay_seed = _base_seed(context)
        history = History(
            context.fingerprint,
            [],
            optuna.create_study(directions=context.directions, sampler=_sampler(context, replay_seed)),
        )
    for record in finished[len(history.keys) :]:
        _replay(history.study, context, record)
        history.keys.append(record.key)
    if histories is not None:
        histories.keep(history)
    study.add_trials(history.study.get_trials(deepcopy=False))
    source = history.study._storage  # study attributes: QMC's position in its sequence, NSGA-II's parents
    for key, value in source.get_study_system_attrs(history.study._study_id).items():
        study._storage.set_study_system_attr(study._study_id, key, value)
    for record in [*records, *running]:
        if record.state == TrialState.RUNNING:
            _replay(study, context, record)
    return study


def _sampler(context: ExperimentContext, seed: int) -> optuna.samplers.BaseSampler:
    return build_sampler(context.algorithm, context.space, seed=seed, parallel=True)


def _replay(study: optuna.Study, context: ExperimentContext, record: TrialRecord) -> None:
    """Ask for the trial's own parameters and tell its result (a running trial stays RUNNING), letting the
    sampler take the relative step that keeps its state, as if it had proposed the trial itself."""
    study.enqueue_trial(record.params)
    trial = study.ask()
    trial.relative_params  # noqa: B018 - evaluated for its effect on the sampler's state
    suggest(trial, context.space)
    if record.state == TrialState.COMPLETE:
        study.tell(trial, list(record.values or ()))
    elif record.state in (TrialState.PRUNED, TrialState.FAIL):
        if record.interrupted:
            trial.set_user_attr(rec.INTERRUPTED, True)
        study.tell(trial, state=record.state)


@dataclass
class History:
    """The finished trials (their keys, in order) replayed into a study by a sampler seeded from the Experiment."""

    fingerprint: str
    keys: list[tuple[Any, ...]]
    study: optuna.Study


class Histories:
    """Replayed histories of the last few Experiments; `take` hands one out if the request's finished trials
    begin with its trials (Katib appends trials as they finish), else None."""

    def __init__(self, size: int = 8) -> None:
        self._found: OrderedDict[str, History] = OrderedDict()
        self._size = size

    def take(self, context: ExperimentContext, finished: Sequence[TrialRecord]) -> History | None:
        history = self._found.pop(context.fingerprint, None)
        if history is None or len(history.keys) > len(finished):
            return None
        if any(key != record.key for key, record in zip(history.keys, finished, strict=False)):
            return None
        return history

    def keep(self, history: History) -> None:
        self._found[history.fingerprint] = history
        while len(self._found) > self._size:
            self._found.popitem(last=False)


def frozen_trial(context: ExperimentContext, record: TrialRecord) -> optuna.trial.FrozenTrial:
    return create_trial(
        state=record.state,
        values=list(record.values) if record.values is not None else None,
        params=record.params,
        distributions={name: context.distributions[name] for name in record.params},
        user_attrs={rec.INTERRUPTED: True} if record.interrupted else None,
    )


def propose(study: optuna.Study, context: ExperimentContext, count: int) -> list[dict[str, str]]:
    """`count` assignments, each for every parameter in the Experiment's order; every asked trial stays
    RUNNING, so the constant liar keeps the next one away from it, and the sampler's duplicate check
    (`hpoctl.search.dedupe.DedupSampler`) replaces a configuration that a trial of the request or an earlier
    assignment of this call already has."""
    return [assignment for _, assignment in ask_assignments(study, context, count)]


def ask_assignments(
    study: optuna.Study, context: ExperimentContext, count: int
) -> list[tuple[optuna.Trial, dict[str, str]]]:
    """`propose`, with each asked trial. An asked trial's values are set to what its assignment text decodes
    to, so it holds exactly the configuration Katib will run and report back."""
    asked = []
    for _ in range(count):
        trial = study.ask()
        chosen = suggest(trial, context.space)
        if study._storage.get_trial_user_attrs(trial._trial_id).get(rec.DUPLICATE_REPLACED):
            log.info("%s: the sampler repeated a configuration; a fresh one is proposed instead", context.name)
        assignment = {
            name: to_text(param, chosen[name]) if name in chosen else filler_text(param)
            for name, param in context.space.items()
        }
        _hold_decoded(study, context, trial, chosen, assignment)
        asked.append((trial, assignment))
    return asked


def _hold_decoded(
    study: optuna.Study,
    context: ExperimentContext,
    trial: optuna.Trial,
    chosen: Mapping[str, Any],
    assignment: Mapping[str, str],
) -> None:
    for name, value in chosen.items():
        decoded = from_text(context.space[name], assignment[name])
        if decoded != value:
            dist = context.distributions[name]
            study._storage.set_trial_param(trial._trial_id, name, dist.to_internal_repr(decoded), dist)


def check_request(request: pb.GetSuggestionsRequest) -> None:
    if not request.HasField("experiment") or not request.experiment.HasField("spec"):
        raise RequestError(["the request has no experiment spec"])
    if not 0 <= request.current_request_number <= MAX_REQUEST:
        raise RequestError(
            [f"current_request_number {request.current_request_number} must be between 0 and {MAX_REQUEST}"]
        )
