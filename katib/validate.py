"""Validation equal to Katib's admission webhook, offline, so a bad Experiment fails before it is applied.

The rules follow Katib v0.19.0 (`pkg/webhook/v1beta1/experiment/validator/validator.go`, run after the
defaults of `experiment_defaults.go`, as the mutating webhook does), with the cluster's katib-config
replaced by a `KatibInstallation`. Added, marked `(hpoctl)` in the code: checks a suggestion or
early-stopping service makes right after creation (its ValidateAlgorithmSettings), checks the API server
makes (names, value types), and the trial Job against the Kubernetes schema with `kubernetes-validate`
in strict mode. Every Katib example Experiment passes; every problem found is reported, each naming
the Experiment and the field.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import re
from collections.abc import Callable, Mapping
from pathlib import PurePosixPath
from typing import Any

import jsonschema
import kubernetes_validate
import kubernetes_validate.utils
from referencing import Registry, Resource

from hpoctl.katib import names
from hpoctl.katib.errors import ExperimentInvalid
from hpoctl.katib.job_roundtrip import roundtrip_problems
from hpoctl.katib.katib_config import (
    AUTO_INJECT_COLLECTORS,
    COLLECTOR_KINDS,
    DEFAULT_INSTALLATION,
    EARLY_STOPPING_COLLECTORS,
    KatibInstallation,
)

#: Resolves a trial template kept in a ConfigMap: (namespace, name, templatePath) -> YAML text, or None.
ConfigMapResolver = Callable[[str, str, str], "str | None"]

PARAMETER_TYPES = ("int", "double", "categorical", "discrete", "unknown")
DISTRIBUTIONS = ("uniform", "logUniform", "normal", "logNormal", "unknown")
RESUME_POLICIES = ("", "Never", "LongRunning", "FromVolume")
STRATEGIES = ("min", "max", "latest")
KUBEFLOW_JOB_KINDS = ("TFJob", "PyTorchJob", "XGBoostJob", "MPIJob", "PaddleJob", "JAXJob")
DEFAULT_PARALLEL = 3
JOB_SUCCESS = 'status.conditions.#(type=="Complete")#|#(status=="True")#'
JOB_FAILURE = 'status.conditions.#(type=="Failed")#|#(status=="True")#'
KUBEFLOW_SUCCESS = 'status.conditions.#(type=="Succeeded")#|#(status=="True")#'
KUBEFLOW_FAILURE = 'status.conditions.#(type=="Failed")#|#(status=="True")#'
TRAINJOB_SUCCESS = 'status.conditions.#(type=="Complete")#|#(status=="True")#'
TRAINJOB_FAILURE = 'status.conditions.#(type=="Failed")#|#(status=="True")#'

_NAMING = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_PARAM_PLACEHOLDER = re.compile(r"\$\{trialParameters\..+?\}")
_META_REFERENCE = re.compile(r"\$\{trialSpec\.(.+?)\}")
_META_INDEXED = re.compile(r"(.+)\[(.+)]")
_META_KEYS = ("Name", "Namespace", "Kind", "APIVersion", "Labels", "Annotations")
_TWO_GROUPS = re.compile(r".*\(.*\).*\(.*\).*", re.DOTALL)

# Settings each suggestion service accepts (its ValidateAlgorithmSettings), by service; None: not checked.
_INT_GE0 = ("an integer >= 0", lambda v: int(v) >= 0)
_SKOPT_ACQUISITIONS = ("gp_hedge", "LCB", "EI", "PI", "EIps", "PIps")
_SERVICE_SETTINGS: dict[str, dict[str, tuple[str, Callable[[str], bool]]] | None] = {
    "hyperopt:tpe": {
        "gamma": ("a number in (0, 1)", lambda v: 0 < float(v) < 1),
        "prior_weight": ("a number > 0", lambda v: float(v) > 0),
        "n_EI_candidates": ("an integer > 0", lambda v: int(v) > 0),
        "random_state": _INT_GE0,
    },
    "hyperopt:random": {"random_state": _INT_GE0},
    "optuna:tpe": {"n_startup_trials": _INT_GE0, "n_ei_candidates": _INT_GE0, "random_state": _INT_GE0},
    "optuna:multivariate-tpe": {"n_startup_trials": _INT_GE0, "n_ei_candidates": _INT_GE0, "random_state": _INT_GE0},
    "optuna:random": {"random_state": _INT_GE0},
    "optuna:grid": {"random_state": _INT_GE0},
    "optuna:cmaes": {
        "restart_strategy": ("ipop, None or none", lambda v: v in ("ipop", "None", "none")),
        "sigma": ("a number >= 0", lambda v: float(v) >= 0),
        "random_state": _INT_GE0,
    },
    "skopt:bayesianoptimization": {
        "base_estimator": ("GP, RF, ET or GBRT", lambda v: v in ("GP", "RF", "ET", "GBRT")),
        "n_initial_points": ("an integer >= 0", lambda v: int(v) >= 0),
        "acq_func": ("gp_hedge, LCB, EI, PI, EIps or PIps", _SKOPT_ACQUISITIONS.__contains__),
        "acq_optimizer": ("auto, sampling or lbfgs", lambda v: v in ("auto", "sampling", "lbfgs")),
        "random_state": _INT_GE0,
    },
    "goptuna:cmaes": {
        "restart_strategy": ("ipop, bipop or none", lambda v: v in ("ipop", "bipop", "none")),
        "sigma": ("a number", lambda v: math.isfinite(float(v))),
        "random_state": ("an integer", lambda v: int(v) == int(v)),
    },
}
_MEDIANSTOP = {
    "min_trials_required": ("an integer > 0", lambda v: int(v) > 0),
    "start_step": ("an integer >= 1", lambda v: int(v) >= 1),
}


class _Problems:
    def __init__(self, experiment: str):
        self.experiment = experiment
        self.items: list[str] = []

    def add(self, path: str, message: str, value: Any = None, *, show: bool = False, rule: str = "") -> None:
        """`rule` names a check that is not Katib's webhook's (one of NOT_THE_WEBHOOKS), written last."""
        got = f" (got {value!r})" if show else ""
        self.items.append(f"Experiment {self.experiment}: {path}: {message}{got}{f' {rule}' if rule else ''}")


def validate_experiment(
    experiment: Mapping[str, Any],
    *,
    installation: KatibInstallation = DEFAULT_INSTALLATION,
    kubernetes_version: str | None = None,
    resolve_config_map: ConfigMapResolver | None = None,
) -> list[str]:
    """Every problem Katib's webhook (and the Kubernetes schema, for a Job trial) would find; [] if none."""
    meta = experiment.get("metadata") if isinstance(experiment.get("metadata"), Mapping) else {}
    name = meta.get("name")
    label = f"{meta['namespace']}/{name}" if meta.get("namespace") and name else str(name or "(unnamed)")
    problems = _Problems(label)
    if experiment.get("apiVersion") != names.API_VERSION or experiment.get("kind") != "Experiment":
        problems.add(
            "apiVersion/kind",
            f"must be {names.API_VERSION} Experiment",
            f"{experiment.get('apiVersion')} {experiment.get('kind')}",
            show=True,
        )
        return problems.items
    spec = experiment.get("spec")
    if not isinstance(spec, Mapping):
        problems.add("spec", "must be specified")
        return problems.items
    spec = set_defaults(spec)
    _check_name(name, spec, problems)
    _check_counts(spec, problems)
    if not _check_objective(spec.get("objective"), problems):
        return problems.items
    _check_algorithm(spec, installation, problems)
    _check_early_stopping(spec, installation, problems)
    if spec.get("resumePolicy") not in RESUME_POLICIES:
        problems.add(
            "spec.resumePolicy",
            f"invalid ResumePolicyType; valid: {', '.join(RESUME_POLICIES[1:])}",
            spec.get("resumePolicy"),
            show=True,
        )
    _check_trial_template(spec, meta, problems, kubernetes_version, resolve_config_map)
    parameters = spec.get("parameters") or []
    if not parameters and spec.get("nasConfig") is None:
        problems.add("spec", "spec.parameters or spec.nasConfig must be specified")
    if parameters and spec.get("nasConfig") is not None:
        problems.add("spec", "only one of spec.parameters and spec.nasConfig can be specified")
    if parameters:
        _check_parameters(parameters, problems)
    _check_metrics_collector(spec, installation, problems)
    return problems.items


#: Suffixes of problems that are not Katib's webhook's: hpoctl's stricter checks (what a suggestion service,
#: the metrics collector or Kubernetes refuses after the Experiment was admitted) and the API server's own.
HPOCTL_RULE, API_SERVER_RULE = "(hpoctl)", "(the API server's rule)"
NOT_THE_WEBHOOKS = (HPOCTL_RULE, API_SERVER_RULE)


def webhook_refusals(problems: list[str]) -> list[str]:
    """The problems for which Katib's admission webhook itself refuses the Experiment."""
    return [p for p in problems if not any(marker in p for marker in NOT_THE_WEBHOOKS)]


def check_experiments(experiments: list[Mapping[str, Any]], **kwargs: Any) -> None:
    """Raise ExperimentInvalid with every problem of every Experiment, if any."""
    problems = [p for e in experiments for p in validate_experiment(e, **kwargs)]
    if problems:
        raise ExperimentInvalid(problems)


def set_defaults(spec: Mapping[str, Any]) -> dict[str, Any]:
    """What Katib's mutating webhook fills in before validation (experiment_defaults.go)."""
    spec = copy.deepcopy(dict(spec))
    if spec.get("parallelTrialCount") is None:
        spec["parallelTrialCount"] = DEFAULT_PARALLEL
    spec.setdefault("resumePolicy", "Never")
    if not spec.get("resumePolicy"):
        spec["resumePolicy"] = "Never"
    objective = spec.get("objective")
    if isinstance(objective, dict):
        strategies = objective.get("metricStrategies") or []
        objective["metricStrategies"] = strategies
        named = {s.get("name") for s in strategies if isinstance(s, dict)}
        default = {"minimize": "min", "maximize": "max"}.get(objective.get("type"), "latest")
        for metric in [objective.get("objectiveMetricName"), *(objective.get("additionalMetricNames") or [])]:
            if metric not in named:
                strategies.append({"name": metric, "value": default})
                named.add(metric)
    template = spec.get("trialTemplate")
    if isinstance(template, dict) and isinstance(template.get("trialSpec"), dict):
        kind = template["trialSpec"].get("kind")
        defaults = {
            "Job": (JOB_SUCCESS, JOB_FAILURE, None),
            "TrainJob": (TRAINJOB_SUCCESS, TRAINJOB_FAILURE, {"jobset.sigs.k8s.io/replicatedjob-name": "node"}),
            **{
                k: (KUBEFLOW_SUCCESS, KUBEFLOW_FAILURE, {"training.kubeflow.org/job-role": "master"})
                for k in KUBEFLOW_JOB_KINDS
            },
        }.get(kind)
        if defaults:
            if not template.get("successCondition"):
                template["successCondition"] = defaults[0]
            if not template.get("failureCondition"):
                template["failureCondition"] = defaults[1]
            if defaults[2] and not template.get("primaryPodLabels"):
                template["primaryPodLabels"] = defaults[2]
    collector_spec = spec.get("metricsCollectorSpec")
    if not isinstance(collector_spec, dict):
        collector_spec = spec["metricsCollectorSpec"] = {}
    if not isinstance(collector_spec.get("collector"), dict):
        collector_spec["collector"] = {"kind": "StdOut"}
    kind = collector_spec["collector"].get("kind")
    if kind in ("File", "TensorFlowEvent"):
        source = collector_spec.setdefault("source", {}) or {}
        collector_spec["source"] = source
        path = source.setdefault("fileSystemPath", {}) or {}
        source["fileSystemPath"] = path
        if kind == "File":
            path.setdefault("kind", "File")
            path.setdefault("path", "/var/log/katib/metrics.log")
            path.setdefault("format", "TEXT")
        else:
            path.setdefault("kind", "Directory")
            path.setdefault("path", "/var/log/katib/tfevent/")
    if kind == "PrometheusMetric":
        source = collector_spec.setdefault("source", {}) or {}
        collector_spec["source"] = source
        http = source.setdefault("httpGet", {}) or {}
        source["httpGet"] = http
        http.setdefault("path", "/metrics")
        if not http.get("port"):
            http["port"] = 8080
    for parameter in spec.get("parameters") or []:
        if isinstance(parameter, dict) and isinstance(parameter.get("feasibleSpace"), dict):
            parameter["feasibleSpace"].setdefault("distribution", "uniform")
    return spec


def _check_name(name: Any, spec: Mapping[str, Any], problems: _Problems) -> None:
    if not isinstance(name, str) or not name:
        problems.add("metadata.name", "must be specified")
        return
    if len(name) > names.KATIB_NAME_MAX:
        problems.add("metadata.name", f"may not be longer than {names.KATIB_NAME_MAX} characters", name, show=True)
    if not _NAMING.match(name):
        problems.add(
            "metadata.name",
            "must start with a lower-case letter and consist of lower-case "
            "alphanumeric characters or '-' (Katib's regex ^[a-z]([-a-z0-9]*[a-z0-9])?)",
            name,
            show=True,
        )
    elif len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        problems.add("metadata.name", "must be a DNS-1123 subdomain", name, show=True, rule=API_SERVER_RULE)
    algorithm = (spec.get("algorithm") or {}).get("algorithmName") if isinstance(spec.get("algorithm"), dict) else None
    if isinstance(algorithm, str) and len(name) + 1 + len(algorithm) > names.DNS_LABEL_MAX:
        problems.add(
            "metadata.name",
            f"is {len(name)} characters; the Service Katib names '<experiment>-{algorithm}' would exceed 63 "
            f"(keep it at most {names.DNS_LABEL_MAX - 1 - len(algorithm)}) (hpoctl)",
        )
    elif len(name) + names.TRIAL_SUFFIX > names.DNS_LABEL_MAX:
        problems.add("metadata.name", f"is {len(name)} characters; Katib's trial names would exceed 63 (hpoctl)")


def _int_field(spec: Mapping[str, Any], key: str, problems: _Problems) -> int | None:
    value = spec.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        problems.add(f"spec.{key}", "must be an integer", value, show=True)
        return None
    return value


def _check_counts(spec: Mapping[str, Any], problems: _Problems) -> None:
    failed = _int_field(spec, "maxFailedTrialCount", problems)
    most = _int_field(spec, "maxTrialCount", problems)
    parallel = _int_field(spec, "parallelTrialCount", problems)
    if failed is not None and failed < 0:
        problems.add("spec.maxFailedTrialCount", "should not be less than 0", failed, show=True)
    if most is not None and most <= 0:
        problems.add("spec.maxTrialCount", "must be greater than 0", most, show=True)
    if parallel is not None and parallel <= 0:
        problems.add("spec.parallelTrialCount", "must be greater than 0", parallel, show=True)
    if failed is not None and most is not None and failed > most:
        problems.add(
            "spec.maxFailedTrialCount",
            f"should be less than or equal to spec.maxTrialCount ({most})",
            failed,
            show=True,
        )
    if parallel is not None and most is not None and parallel > most:
        problems.add(
            "spec.parallelTrialCount",
            f"should be less than or equal to spec.maxTrialCount ({most})",
            parallel,
            show=True,
        )


def _check_objective(objective: Any, problems: _Problems) -> bool:
    before = len(problems.items)
    if not isinstance(objective, Mapping):
        problems.add("spec.objective", "must be specified")
        return False
    if objective.get("type") not in ("minimize", "maximize"):
        problems.add("spec.objective.type", "must be minimize or maximize", objective.get("type"), show=True)
    metric = objective.get("objectiveMetricName")
    if not metric:
        problems.add("spec.objective.objectiveMetricName", "must be specified")
    additional = objective.get("additionalMetricNames") or []
    if metric and metric in additional:
        problems.add(
            "spec.objective.additionalMetricNames",
            "should not contain spec.objective.objectiveMetricName",
            additional,
            show=True,
        )
    goal = objective.get("goal")
    if goal is not None and (isinstance(goal, bool) or not isinstance(goal, (int, float))):
        problems.add("spec.objective.goal", "must be a number", goal, show=True)
    for i, strategy in enumerate(objective.get("metricStrategies") or []):
        value = strategy.get("value") if isinstance(strategy, Mapping) else None
        if value not in STRATEGIES:
            problems.add(
                f"spec.objective.metricStrategies[{i}].value",
                f"must be one of {', '.join(STRATEGIES)} (hpoctl)",
                value,
                show=True,
            )
    return len(problems.items) == before


def _settings(items: Any, path: str, problems: _Problems) -> dict[str, str] | None:
    found: dict[str, str] = {}
    for i, item in enumerate(items or []):
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            problems.add(f"{path}[{i}]", "a setting needs a name and a value")
            return None
        if not isinstance(item.get("value"), str):
            problems.add(f"{path}[{i}].value", "must be a string (quote it in YAML)", item.get("value"), show=True)
            return None
        found[item["name"]] = item["value"]
    return found


def _check_algorithm(spec: Mapping[str, Any], installation: KatibInstallation, problems: _Problems) -> None:
    algorithm = spec.get("algorithm")
    if not isinstance(algorithm, Mapping):
        problems.add("spec.algorithm", "must be specified")
        return
    name = algorithm.get("algorithmName")
    if not name:
        problems.add("spec.algorithm.algorithmName", "must be specified")
        return
    if name not in installation.suggestions:
        problems.add(
            "spec.algorithm.algorithmName",
            f"unable to get Suggestion config data for algorithm {name}; "
            f"{installation.source} has: {', '.join(sorted(installation.suggestions))}",
        )
        return
    settings = _settings(algorithm.get("algorithmSettings"), "spec.algorithm.algorithmSettings", problems)
    if settings is None:
        return
    service = installation.services.get(name, "")
    table = _SERVICE_SETTINGS.get(f"{service}:{name}")
    if table is not None:
        _check_table(settings, table, f"algorithm {name} ({service})", "spec.algorithm.algorithmSettings", problems)
    parameters = [p for p in spec.get("parameters") or [] if isinstance(p, Mapping)]
    if name == "cmaes" and service in ("optuna", "goptuna"):
        continuous = [p for p in parameters if p.get("parameterType") in ("int", "double")]
        if len(continuous) < 2:
            problems.add(
                "spec.algorithm.algorithmName",
                "cmaes only supports two or more dimensional continuous "
                f"search space, got {len(continuous)} int/double parameters (hpoctl)",
            )
    if name == "grid" and service == "optuna" and parameters:
        size = _grid_size(parameters, problems)
        most = spec.get("maxTrialCount")
        if size is not None and isinstance(most, int) and most > size:
            problems.add(
                "spec.maxTrialCount",
                f"grid has {size} combinations; Max Trial Count {most} > all possible search combinations (hpoctl)",
            )


def _check_table(
    settings: Mapping[str, str],
    table: Mapping[str, tuple[str, Callable[[str], bool]]],
    what: str,
    path: str,
    problems: _Problems,
) -> None:
    for key, value in settings.items():
        if key not in table:
            problems.add(f"{path}", f"unknown setting {key} for {what}; valid: {', '.join(table)} (hpoctl)")
            continue
        allowed, check = table[key]
        try:
            ok = check(value)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            problems.add(f"{path}.{key}", f"must be {allowed} (hpoctl)", value, show=True)


def _grid_size(parameters: list[Mapping[str, Any]], problems: _Problems) -> int | None:
    size = 1
    for i, param in enumerate(parameters):
        space = param.get("feasibleSpace") or {}
        kind = param.get("parameterType")
        try:
            if kind in ("categorical", "discrete"):
                size *= len(space.get("list") or [])
            elif kind == "int":
                step = int(space.get("step") or 1)
                size *= len(range(int(space["min"]), int(space["max"]) + 1, step))
            elif kind == "double":
                if not space.get("step"):
                    problems.add(
                        f"spec.parameters[{i}].feasibleSpace.step", "grid needs a step on double parameters (hpoctl)"
                    )
                    return None
                low, high, step = float(space["min"]), float(space["max"]), float(space["step"])
                size *= math.floor((high - low) / step + 1e-9) + 1
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            return None  # reported by the parameter checks
    return size


def _check_early_stopping(spec: Mapping[str, Any], installation: KatibInstallation, problems: _Problems) -> None:
    rule = spec.get("earlyStopping")
    if rule is None:
        return
    if not isinstance(rule, Mapping) or not rule.get("algorithmName"):
        problems.add("spec.earlyStopping.algorithmName", "must be specified")
        return
    name = rule["algorithmName"]
    if name not in installation.early_stoppings:
        problems.add(
            "spec.earlyStopping.algorithmName",
            f"unable to get EarlyStopping config data for algorithm "
            f"{name}; {installation.source} has: {', '.join(sorted(installation.early_stoppings))}",
        )
        return
    settings = _settings(rule.get("algorithmSettings"), "spec.earlyStopping.algorithmSettings", problems)
    if settings is not None and name == "medianstop":
        _check_table(
            settings, _MEDIANSTOP, "early stopping medianstop", "spec.earlyStopping.algorithmSettings", problems
        )
    kind = (spec.get("metricsCollectorSpec") or {}).get("collector", {}).get("kind")
    if kind not in EARLY_STOPPING_COLLECTORS:
        allowed = " or ".join(EARLY_STOPPING_COLLECTORS)
        problems.add(
            "spec.earlyStopping", f"early stopping works only with the {allowed} metrics collector, not {kind} (hpoctl)"
        )


def _check_parameters(parameters: Any, problems: _Problems) -> None:
    if not isinstance(parameters, list):
        problems.add("spec.parameters", "must be a list")
        return
    seen: set[str] = set()
    for i, param in enumerate(parameters):
        path = f"spec.parameters[{i}]"
        if not isinstance(param, Mapping):
            problems.add(path, "must be a mapping")
            continue
        name = param.get("name")
        if not name:
            problems.add(f"{path}.name", "must be specified (hpoctl)")
        elif name in seen:
            problems.add(f"{path}.name", "duplicated parameter name (hpoctl)", name, show=True)
        seen.add(name)
        kind = param.get("parameterType")
        if kind not in PARAMETER_TYPES:
            problems.add(
                f"{path}.parameterType", f"parameterType: {kind} is not supported; valid: {', '.join(PARAMETER_TYPES)}"
            )
        space = param.get("feasibleSpace")
        if not isinstance(space, Mapping):
            space = {}
        distribution = space.get("distribution")
        if distribution and distribution not in DISTRIBUTIONS:
            problems.add(
                f"{path}.feasibleSpace.distribution",
                f"distribution: {distribution} is not supported; valid: {', '.join(DISTRIBUTIONS)}",
            )
        if not any(space.get(k) for k in ("min", "max", "step", "list")):
            problems.add(f"{path}.feasibleSpace", "feasibleSpace must be specified")
            continue
        for key in ("min", "max", "step"):
            if key in space and space[key] is not None and not isinstance(space[key], str):
                problems.add(
                    f"{path}.feasibleSpace.{key}", "must be a string (quote it in YAML)", space[key], show=True
                )
        if kind in ("int", "double"):
            if space.get("list"):
                problems.add(
                    f"{path}.feasibleSpace.list", f"feasibleSpace.list is not supported for parameterType: {kind}"
                )
            if not space.get("max") or not space.get("min"):
                problems.add(
                    f"{path}.feasibleSpace.max",
                    f"feasibleSpace.max or feasibleSpace.min must be specified for parameterType: {kind}",
                )
            else:
                _check_range(space, kind, path, problems)
        elif kind in ("categorical", "discrete"):
            if space.get("max") or space.get("min") or space.get("step"):
                problems.add(
                    f"{path}.feasibleSpace",
                    f"feasibleSpace .max, .min and .step is not supported for parameterType: {kind}",
                )
            values = space.get("list")
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                problems.add(
                    f"{path}.feasibleSpace.list", "must be a list of strings (quote numbers in YAML)", values, show=True
                )
            elif kind == "discrete" and not all(_number(v) is not None for v in values):
                problems.add(
                    f"{path}.feasibleSpace.list", "discrete values must be numbers (hpoctl)", values, show=True
                )


def _number(text: Any, integer: bool = False) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _check_range(space: Mapping[str, Any], kind: str, path: str, problems: _Problems) -> None:
    integer = kind == "int"
    what = "an integer" if integer else "a number"
    low, high = _number(space.get("min"), integer), _number(space.get("max"), integer)
    for key, value in (("min", low), ("max", high)):
        if value is None and isinstance(space.get(key), str):
            problems.add(f"{path}.feasibleSpace.{key}", f"must be {what} (hpoctl)", space.get(key), show=True)
    if low is not None and high is not None and low > high:
        problems.add(
            f"{path}.feasibleSpace", f"min ({space['min']}) must not be greater than max ({space['max']}) (hpoctl)"
        )
    if space.get("step"):
        step = _number(space.get("step"), integer)
        if step is None or step <= 0:
            problems.add(f"{path}.feasibleSpace.step", f"must be {what} > 0 (hpoctl)", space.get("step"), show=True)
    if space.get("distribution") in ("logUniform", "logNormal") and low is not None and low <= 0:
        problems.add(
            f"{path}.feasibleSpace.min",
            f"a {space['distribution']} range needs min > 0 (hpoctl)",
            space.get("min"),
            show=True,
        )


def _check_trial_template(
    spec: Mapping[str, Any],
    meta: Mapping[str, Any],
    problems: _Problems,
    kubernetes_version: str | None,
    resolve_config_map: ConfigMapResolver | None,
) -> None:
    template = spec.get("trialTemplate")
    path = "spec.trialTemplate"
    if not isinstance(template, Mapping):
        problems.add(path, "must be specified")
        return
    if not template.get("primaryContainerName"):
        problems.add(f"{path}.primaryContainerName", "must be specified")
    if not template.get("successCondition") or not template.get("failureCondition"):
        problems.add(path, "successCondition and failureCondition must be specified")
    if template.get("trialParameters") is None:
        problems.add(f"{path}.trialParameters", "must be specified")
        return
    trial_spec, config_map = template.get("trialSpec"), template.get("configMap")
    if trial_spec is None and config_map is None:
        problems.add(
            f"{path}.trialSpec", "spec.trialTemplate.trialSpec or spec.trialTemplate.configMap must be specified"
        )
        return
    if trial_spec is not None and config_map is not None:
        problems.add(path, "only one of spec.trialTemplate.trialSpec or spec.trialTemplate.configMap can be specified")
        return
    if config_map is not None:
        if not isinstance(config_map, Mapping) or not all(
            config_map.get(k) for k in ("configMapName", "configMapNamespace", "templatePath")
        ):
            problems.add(f"{path}.configMap", "configMapName, configMapNamespace and templatePath must be specified")
            return
        text = (
            resolve_config_map(
                config_map["configMapNamespace"], config_map["configMapName"], config_map["templatePath"]
            )
            if resolve_config_map
            else None
        )
        if text is None:
            return  # kept in the cluster; checked there
        import yaml

        try:
            trial_spec = yaml.safe_load(text)
        except yaml.YAMLError as e:
            problems.add(f"{path}.configMap", f"unable to parse spec.trialTemplate: {e}")
            return
    if not isinstance(trial_spec, Mapping):
        problems.add(f"{path}.trialSpec", "must be a mapping")
        return
    text = json.dumps(trial_spec, separators=(",", ":"))
    parameter_names = {p.get("name") for p in spec.get("parameters") or [] if isinstance(p, Mapping)}
    seen_names: set[str] = set()
    seen_refs: set[str] = set()
    for i, param in enumerate(template.get("trialParameters") or []):
        param_path = f"{path}.trialParameters[{i}]"
        pname = param.get("name") if isinstance(param, Mapping) else None
        reference = param.get("reference") if isinstance(param, Mapping) else None
        if not pname or not reference or "{" in pname or "}" in pname:
            problems.add(param_path, "name and reference must be specified and name must not contain '{' or '}'")
            continue
        if pname in seen_names:
            problems.add(
                f"{param_path}.name",
                f"parameter name {pname} can't be duplicated in spec.trialTemplate.trialParameters",
            )
            continue
        if reference in seen_refs:
            problems.add(
                f"{param_path}.reference",
                f"parameter reference {reference} can't be duplicated in spec.trialTemplate.trialParameters",
            )
            continue
        seen_names.add(pname)
        seen_refs.add(reference)
        if parameter_names and not _is_meta_key(reference) and reference not in parameter_names:
            problems.add(
                f"{param_path}.reference",
                f"parameter reference {reference} does not exist in "
                f"spec.parameters (valid: {', '.join(sorted(n for n in parameter_names if n))})",
            )
        placeholder = "${trialParameters." + pname + "}"
        if placeholder not in text:
            problems.add(
                f"{param_path}.name", f"parameter name: {pname} in spec.trialParameters not found in spec.trialTemplate"
            )
            return
        text = text.replace(placeholder, "test-value")
    leftover = _PARAM_PLACEHOLDER.findall(text)
    if leftover:
        problems.add(path, f"parameters: {leftover} in spec.trialTemplate not found in spec.trialParameters")
        return
    run_spec = json.loads(text)
    run_meta = run_spec.get("metadata") or {}
    if run_meta.get("name") or run_meta.get("namespace"):
        problems.add(path, "metadata.name and metadata.namespace in spec.trialTemplate must be omitted")
    if not run_spec.get("apiVersion") or not run_spec.get("kind"):
        problems.add(path, "APIVersion and Kind in spec.trialTemplate must be specified")
        return
    if run_spec.get("apiVersion") == "batch/v1" and run_spec.get("kind") == "Job":
        _check_job(run_spec, template.get("primaryContainerName"), f"{path}.trialSpec", problems, kubernetes_version)


def _is_meta_key(reference: str) -> bool:
    match = _META_REFERENCE.search(reference)
    if not match:
        return False
    key = match.group(1)
    if key in _META_KEYS:
        return True
    indexed = _META_INDEXED.match(key)
    return bool(indexed) and indexed.group(1) in _META_KEYS


def _check_job(job: Mapping[str, Any], primary: Any, path: str, problems: _Problems, version: str | None) -> None:
    """The Job as Katib's webhook sees it (Go's typed round trip, `validatePatchJob`), then as Kubernetes'
    schema (strict) and API server would when Katib creates a trial's Job."""
    dropped = roundtrip_problems(job)
    for where, what in dropped[:5]:
        problems.add(f"{path}.{where}", f"{what}; Katib refuses a trialSpec its batch/v1 Job round trip changes")
    if dropped:
        return
    known = kubernetes_validate.utils.all_versions()
    version = version or kubernetes_validate.latest_version()
    if _minor(version) < _minor(known[0]) or _minor(version) > _minor(known[-1]):
        problems.add(
            path,
            f"cannot check against Kubernetes {version}: kubernetes-validate knows {known[0]} to "
            f"{known[-1]} (katib.kubernetes_version) (hpoctl)",
        )
        return
    resolved = [v for v in known if _minor(v) <= _minor(version)][-1]
    errors = sorted(_job_validator(resolved).iter_errors(dict(job)), key=lambda e: list(e.path))
    for error in errors[:5]:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.path)
        problems.add(
            f"{path}{where}",
            f"{error.message} (Kubernetes {'.'.join(map(str, _minor(resolved)))} schema: the API server refuses "
            "such a Job when Katib creates a trial) (hpoctl)",
        )
    if errors:
        return
    pod = ((job.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = [c.get("name") for c in pod.get("containers") or []]
    if primary and primary not in containers:
        problems.add(
            f"{path}.spec.template.spec.containers",
            f"no container named {primary!r} "
            f"(spec.trialTemplate.primaryContainerName); containers: {', '.join(containers)} (hpoctl)",
        )
    if pod.get("restartPolicy") not in ("Never", "OnFailure"):
        problems.add(
            f"{path}.spec.template.spec.restartPolicy",
            "a Job's pods need Never or OnFailure (hpoctl)",
            pod.get("restartPolicy"),
            show=True,
        )


@functools.lru_cache(maxsize=4)
def _job_validator(version: str) -> jsonschema.protocols.Validator:
    """kubernetes-validate's strict batch/v1 Job schema for a version, loaded once (its `validate` reads
    the 2 MB of definitions on every call)."""
    folder = f"kubernetes-json-schema/v{version}-local-strict"
    schema = kubernetes_validate.utils.schema_contents(f"{folder}/job-batch-v1.json", version)
    definitions = kubernetes_validate.utils.schema_contents(f"{folder}/_definitions.json", version)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def _minor(version: str) -> tuple[int, int]:
    major, minor = [*version.split("."), "0"][:2]
    return int(major), int(minor)


def _check_metrics_collector(spec: Mapping[str, Any], installation: KatibInstallation, problems: _Problems) -> None:
    collector_spec = spec.get("metricsCollectorSpec") or {}
    kind = (collector_spec.get("collector") or {}).get("kind")
    path = "spec.metricsCollectorSpec"
    if kind in AUTO_INJECT_COLLECTORS and kind not in installation.metrics_collectors:
        problems.add(
            f"{path}.collector.kind",
            f"GetMetricsCollectorConfigData failed: {installation.source} has no "
            f"{kind} collector (it has {', '.join(sorted(installation.metrics_collectors))})",
        )
    source = collector_spec.get("source") or {}
    file_path = source.get("fileSystemPath") or {}
    if kind in ("Push", "StdOut"):
        pass
    elif kind == "File":
        if file_path.get("kind") != "File" or not PurePosixPath(str(file_path.get("path") or "")).is_absolute():
            problems.add(f"{path}.source.fileSystemPath.path", "file path where metrics file exists is required")
        if file_path.get("format") not in ("TEXT", "JSON"):
            problems.add(
                f"{path}.source.fileSystemPath.format",
                "format of metrics file is required for metrics collector (TEXT or JSON)",
            )
        if file_path.get("format") == "JSON" and source.get("filter") is not None:
            problems.add(f"{path}.source.filter", "filter must be nil when format of metrics file is json")
    elif kind == "TensorFlowEvent":
        if file_path.get("kind") != "Directory" or not PurePosixPath(str(file_path.get("path") or "")).is_absolute():
            problems.add(
                f"{path}.source",
                "directory path where tensorflow event files exist is required by "
                ".spec.metricsCollectorSpec.source.fileSystemPath.path",
            )
        if file_path.get("format"):
            problems.add(f"{path}.source.fileSystemPath.format", "must be empty", file_path.get("format"), show=True)
    elif kind == "PrometheusMetric":
        http = source.get("httpGet") or {}
        port = http.get("port")
        if isinstance(port, bool) or not (isinstance(port, int) or str(port).isdigit()) or int(port) <= 0:
            problems.add(
                f"{path}.source.httpGet.port",
                "must be a positive integer value for metrics collector kind: PrometheusMetric",
                port,
                show=True,
            )
        if not str(http.get("path") or "").startswith("/"):
            problems.add(
                f"{path}.source.httpGet.path",
                "path is invalid for metrics collector kind: PrometheusMetric",
                http.get("path"),
                show=True,
            )
    elif kind == "Custom":
        if not (collector_spec.get("collector") or {}).get("customCollector"):
            problems.add(f"{path}.collector.customCollector", "metrics collector kind: Custom is required")
        if file_path and (
            not PurePosixPath(str(file_path.get("path") or "")).is_absolute()
            or file_path.get("kind") not in ("Directory", "File")
        ):
            problems.add(f"{path}.source.fileSystemPath", ".spec.metricsCollectorSpec.source is invalid")
    else:
        problems.add(
            f"{path}.collector.kind", f"invalid metrics collector kind: {kind}; valid: {', '.join(COLLECTOR_KINDS)}"
        )
    # Katib's webhook returns before its filter check for StdOut and Push; the StdOut collector still
    # applies the filter to every line, so hpoctl checks it there too.
    rule = HPOCTL_RULE if kind in ("StdOut", "Push") else ""
    for fmt in (source.get("filter") or {}).get("metricsFormat") or []:
        try:
            re.compile(fmt)
        except re.error as e:
            problems.add(f"{path}.source.filter.metricsFormat", f"invalid filter: {e}", fmt, show=True, rule=rule)
            continue
        if not _TWO_GROUPS.match(fmt):
            problems.add(
                f"{path}.source.filter.metricsFormat", "two top subexpressions are required", fmt, show=True, rule=rule
            )


__all__ = ["ConfigMapResolver", "check_experiments", "set_defaults", "validate_experiment"]
