"""A corpus of Experiments for holding hpoctl's validator against Katib's own admission code: each case is
hpoctl's rendered mlp Experiment with one edit that exercises one rule of Katib v0.19.0's mutating and
validating webhooks (or one of hpoctl's own, stricter checks), and whether Katib's webhook admits it."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Edit = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Case:
    id: str
    admitted: bool  # by Katib's webhook (defaults, then validation)
    edit: Edit

    def experiment(self, base: dict[str, Any]) -> dict[str, Any]:
        experiment = copy.deepcopy(base)
        experiment["metadata"]["annotations"]["hpoctl.io/corpus-case"] = self.id
        self.edit(experiment)
        return experiment


def spec(e):
    return e["spec"]


def template(e):
    return e["spec"]["trialTemplate"]


def job(e):
    return e["spec"]["trialTemplate"]["trialSpec"]


def pod(e):
    return job(e)["spec"]["template"]["spec"]


def container(e):
    return pod(e)["containers"][0]


def param(e, name):
    return next(p for p in e["spec"]["parameters"] if p["name"] == name)


def setter(getter: Callable, key: str, value: Any) -> Edit:
    def edit(e):
        getter(e)[key] = copy.deepcopy(value)

    return edit


def deleter(getter: Callable, key: str) -> Edit:
    def edit(e):
        del getter(e)[key]

    return edit


def chain(*edits: Edit) -> Edit:
    def edit(e):
        for one in edits:
            one(e)

    return edit


def rename(name: str) -> Edit:
    def edit(e):
        e["metadata"]["name"] = name

    return edit


def volume(e, name):
    return next(v for v in pod(e)["volumes"] if v["name"] == name)


def add_trial_parameter(name: str, reference: str) -> Edit:
    def edit(e):
        template(e)["trialParameters"].append({"name": name, "reference": reference})

    return edit


def use_in_command(text: str) -> Edit:
    def edit(e):
        container(e)["args"][0] += f" {text}"

    return edit


def no_op(e):
    return None


CASES: list[Case] = [
    # as rendered, and changes Katib admits
    Case("as-rendered", True, no_op),
    Case("name-40-characters", True, rename("a" * 40)),
    Case("max-trial-count-absent", True, chain(deleter(spec, "maxTrialCount"), deleter(spec, "maxFailedTrialCount"))),
    Case("parallel-absent-defaults-to-3", True, deleter(spec, "parallelTrialCount")),
    Case("resume-policy-from-volume", True, setter(spec, "resumePolicy", "FromVolume")),
    Case("resume-policy-never", True, setter(spec, "resumePolicy", "Never")),
    Case("resume-policy-empty-defaults", True, setter(spec, "resumePolicy", "")),
    Case("algorithm-bayesianoptimization", True, setter(spec, "algorithm", {"algorithmName": "bayesianoptimization"})),
    Case("algorithm-hpoctl-optuna-registered", True, setter(spec, "algorithm", {"algorithmName": "hpoctl-optuna"})),
    Case("early-stopping-medianstop", True, setter(spec, "earlyStopping", {"algorithmName": "medianstop"})),
    Case("metric-strategies-absent-defaulted", True, deleter(lambda e: spec(e)["objective"], "metricStrategies")),
    Case("objective-maximize", True, setter(lambda e: spec(e)["objective"], "type", "maximize")),
    Case("additional-metric", True, setter(lambda e: spec(e)["objective"], "additionalMetricNames", ["val_loss"])),
    Case("collector-push", True, setter(spec, "metricsCollectorSpec", {"collector": {"kind": "Push"}})),
    Case("collector-absent-defaults-to-stdout", True, deleter(spec, "metricsCollectorSpec")),
    Case(
        "conditions-absent-defaulted",
        True,
        chain(deleter(template, "successCondition"), deleter(template, "failureCondition")),
    ),
    Case("int-parameter", True, setter(lambda e: param(e, "dropout"), "parameterType", "int")),
    Case(
        "discrete-parameter",
        True,
        lambda e: param(e, "dropout").update(parameterType="discrete", feasibleSpace={"list": ["0.1", "0.2"]}),
    ),
    Case("double-with-step", True, setter(lambda e: param(e, "dropout")["feasibleSpace"], "step", "0.1")),
    Case(
        "min-above-max-not-katibs-rule",
        True,
        lambda e: param(e, "dropout")["feasibleSpace"].update(min="0.9", max="0.1"),
    ),
    Case("distribution-normal", True, setter(lambda e: param(e, "dropout")["feasibleSpace"], "distribution", "normal")),
    Case(
        "trial-parameter-metadata-reference",
        True,
        chain(add_trial_parameter("ns", "${trialSpec.Namespace}"), use_in_command("--ns=${trialParameters.ns}")),
    ),
    Case(
        "trial-parameter-label-reference",
        True,
        chain(
            add_trial_parameter("study", "${trialSpec.Labels[hpoctl.io/study]}"),
            use_in_command("--s=${trialParameters.study}"),
        ),
    ),
    Case("gpu-limit-any-value", True, setter(lambda e: container(e)["resources"]["limits"], "nvidia.com/gpu", 1)),
    Case("requests-int-cpu", True, setter(lambda e: container(e)["resources"]["requests"], "cpu", 1)),
    Case("pvc-read-only-true", True, setter(lambda e: volume(e, "cache")["persistentVolumeClaim"], "readOnly", True)),
    Case(
        "allow-privilege-escalation-false-kept",
        True,
        setter(lambda e: container(e)["securityContext"], "allowPrivilegeEscalation", False),
    ),
    Case("backoff-limit-zero-kept", True, setter(lambda e: job(e)["spec"], "backoffLimit", 0)),
    Case("empty-dir-empty-object", True, setter(lambda e: volume(e, "tmp"), "emptyDir", {})),
    Case("node-selector-set", True, setter(pod, "nodeSelector", {"nvidia.com/gpu.present": "true"})),
    Case("container-without-name-webhook-admits", True, deleter(container, "name")),
    Case("active-deadline-seconds", True, setter(lambda e: job(e)["spec"], "activeDeadlineSeconds", 3600)),
    # names
    Case("name-41-characters", False, rename("a" * 41)),
    Case("name-starts-with-digit", False, rename("1mlp-default-search")),
    Case("name-starts-with-upper-case", False, rename("Mlp-default-search")),
    # counts
    Case("max-trial-count-zero", False, setter(spec, "maxTrialCount", 0)),
    Case("parallel-trial-count-zero", False, setter(spec, "parallelTrialCount", 0)),
    Case("max-failed-negative", False, setter(spec, "maxFailedTrialCount", -1)),
    Case("max-failed-above-max-trials", False, setter(spec, "maxFailedTrialCount", 51)),
    Case("parallel-above-max-trials", False, setter(spec, "parallelTrialCount", 51)),
    Case(
        "default-parallel-above-max-trials",
        False,
        chain(
            deleter(spec, "parallelTrialCount"),
            setter(spec, "maxTrialCount", 2),
            setter(spec, "maxFailedTrialCount", 1),
        ),
    ),
    Case("max-trial-count-string", False, setter(spec, "maxTrialCount", "50")),
    # objective, algorithm, early stopping, resume
    Case("objective-absent", False, deleter(spec, "objective")),
    Case("objective-type-invalid", False, setter(lambda e: spec(e)["objective"], "type", "lowest")),
    Case("objective-metric-absent", False, deleter(lambda e: spec(e)["objective"], "objectiveMetricName")),
    Case(
        "additional-metric-repeats-objective",
        False,
        setter(lambda e: spec(e)["objective"], "additionalMetricNames", ["validation_error"]),
    ),
    Case("algorithm-absent", False, deleter(spec, "algorithm")),
    Case("algorithm-unknown", False, setter(spec, "algorithm", {"algorithmName": "simulated-annealing"})),
    Case("algorithm-name-empty", False, setter(spec, "algorithm", {"algorithmName": ""})),
    Case("early-stopping-unknown", False, setter(spec, "earlyStopping", {"algorithmName": "hyperband-stop"})),
    Case("resume-policy-invalid", False, setter(spec, "resumePolicy", "Sometimes")),
    # parameters
    Case("parameters-empty", False, setter(spec, "parameters", [])),
    Case("parameter-type-empty", False, setter(lambda e: param(e, "dropout"), "parameterType", "")),
    Case("parameter-type-float", False, setter(lambda e: param(e, "dropout"), "parameterType", "float")),
    Case(
        "distribution-invalid",
        False,
        setter(lambda e: param(e, "dropout")["feasibleSpace"], "distribution", "gaussian"),
    ),
    Case("feasible-space-empty", False, setter(lambda e: param(e, "dropout"), "feasibleSpace", {})),
    Case("double-with-list", False, setter(lambda e: param(e, "dropout")["feasibleSpace"], "list", ["0.1"])),
    Case("double-without-max", False, deleter(lambda e: param(e, "dropout")["feasibleSpace"], "max")),
    Case("categorical-with-min", False, setter(lambda e: param(e, "hidden_sizes")["feasibleSpace"], "min", "1")),
    Case(
        "both-parameters-and-nas", False, setter(spec, "nasConfig", {"graphConfig": {"numLayers": 2}, "operations": []})
    ),
    # trial template
    Case("trial-template-absent", False, deleter(spec, "trialTemplate")),
    Case("primary-container-absent", False, deleter(template, "primaryContainerName")),
    Case("trial-parameters-absent", False, deleter(template, "trialParameters")),
    Case(
        "trial-spec-and-config-map",
        False,
        setter(template, "configMap", {"configMapName": "t", "configMapNamespace": "kubeflow", "templatePath": "x"}),
    ),
    Case("trial-spec-absent", False, deleter(template, "trialSpec")),
    Case("trial-parameter-unused", False, add_trial_parameter("unused", "lr")),
    Case("placeholder-undefined", False, use_in_command("--x=${trialParameters.undefined}")),
    Case(
        "reference-unknown",
        False,
        chain(add_trial_parameter("momentum", "momentum"), use_in_command("--m=${trialParameters.momentum}")),
    ),
    Case("trial-parameter-name-duplicated", False, chain(add_trial_parameter("lr", "dropout"))),
    Case(
        "trial-parameter-reference-duplicated",
        False,
        chain(add_trial_parameter("lr2", "lr"), use_in_command("--l=${trialParameters.lr2}")),
    ),
    Case("trial-parameter-name-braces", False, add_trial_parameter("a{b}", "lr")),
    Case("trial-spec-named", False, setter(lambda e: job(e)["metadata"], "name", "fixed")),
    Case("trial-spec-kind-absent", False, deleter(job, "kind")),
    # the Job's typed round trip (validatePatchJob)
    Case(
        "pvc-read-only-false", False, setter(lambda e: volume(e, "cache")["persistentVolumeClaim"], "readOnly", False)
    ),
    Case("node-selector-empty", False, setter(pod, "nodeSelector", {})),
    Case("tolerations-empty", False, setter(pod, "tolerations", [])),
    Case("stdin-false", False, setter(container, "stdin", False)),
    Case("image-pull-secrets-null", False, setter(pod, "imagePullSecrets", None)),
    Case("unknown-container-field", False, setter(container, "gpus", 1)),
    Case("unknown-pod-field", False, setter(pod, "priority_class", "high")),
    Case("mount-read-only-false", False, lambda e: container(e)["volumeMounts"][2].update(readOnly=False)),
    Case("active-deadline-string", False, setter(lambda e: job(e)["spec"], "activeDeadlineSeconds", "an hour")),
    Case("restart-policy-empty", False, setter(pod, "restartPolicy", "")),
    Case("env-value-empty", False, lambda e: container(e)["env"].append({"name": "EMPTY", "value": ""})),
    Case("job-labels-empty", False, setter(lambda e: job(e)["metadata"], "labels", {})),
    # metrics collector
    Case("collector-kind-unknown", False, setter(spec, "metricsCollectorSpec", {"collector": {"kind": "Telepathy"}})),
    Case(
        "collector-custom-without-container",
        False,
        setter(spec, "metricsCollectorSpec", {"collector": {"kind": "Custom"}}),
    ),
    Case(
        "collector-file-relative-path",
        False,
        setter(
            spec,
            "metricsCollectorSpec",
            {"collector": {"kind": "File"}, "source": {"fileSystemPath": {"kind": "File", "path": "metrics.log"}}},
        ),
    ),
    # Katib checks no filter of a StdOut collector (its switch returns first); hpoctl's stricter check may
    Case(
        "stdout-filter-one-group",
        True,
        setter(
            spec,
            "metricsCollectorSpec",
            {"collector": {"kind": "StdOut"}, "source": {"filter": {"metricsFormat": ["([a-z]+)=.*"]}}},
        ),
    ),
    Case(
        "stdout-filter-two-groups",
        True,
        setter(
            spec,
            "metricsCollectorSpec",
            {"collector": {"kind": "StdOut"}, "source": {"filter": {"metricsFormat": ["([a-z]+)=([0-9.]+)"]}}},
        ),
    ),
    Case(
        "stdout-filter-bad-regex",
        True,
        setter(
            spec,
            "metricsCollectorSpec",
            {"collector": {"kind": "StdOut"}, "source": {"filter": {"metricsFormat": ["(([a-z]+)=([0-9.]+)"]}}},
        ),
    ),
    Case(
        "stdout-with-file-path",
        True,
        setter(
            spec,
            "metricsCollectorSpec",
            {"collector": {"kind": "StdOut"}, "source": {"fileSystemPath": {"kind": "File", "path": "/var/log/m.log"}}},
        ),
    ),
    Case(
        "prometheus-not-in-katib-config",
        False,
        setter(spec, "metricsCollectorSpec", {"collector": {"kind": "PrometheusMetric"}}),
    ),
    Case(
        "file-filter-one-group",
        False,
        setter(
            spec,
            "metricsCollectorSpec",
            {
                "collector": {"kind": "File"},
                "source": {
                    "fileSystemPath": {"kind": "File", "path": "/var/log/m.log"},
                    "filter": {"metricsFormat": ["([a-z]+)=.*"]},
                },
            },
        ),
    ),
    Case(
        "file-json-with-filter",
        False,
        setter(
            spec,
            "metricsCollectorSpec",
            {
                "collector": {"kind": "File"},
                "source": {
                    "fileSystemPath": {"kind": "File", "path": "/var/log/m.json", "format": "JSON"},
                    "filter": {"metricsFormat": ["([a-z]+)=([0-9.]+)"]},
                },
            },
        ),
    ),
    Case("file-default-path", True, setter(spec, "metricsCollectorSpec", {"collector": {"kind": "File"}})),
]
