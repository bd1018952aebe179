"""Validation equal to Katib's admission webhook: Katib's own examples pass, broken Experiments fail
with a line naming the Experiment and the field."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from hpoctl.katib.errors import ExperimentInvalid
from hpoctl.katib.katib_config import DEFAULT_INSTALLATION, from_katib_config
from hpoctl.katib.validate import check_experiments, validate_experiment
from tests.katib.conftest import REFERENCE, render

EXAMPLES = REFERENCE / "examples"
needs_reference = pytest.mark.skipif(not EXAMPLES.is_dir(), reason=f"{EXAMPLES} is not on this machine")

# Two of Katib's own examples break rules Katib's webhook enforces (validator.go in v0.19.0):
# simple-pbt asks for maxFailedTrialCount 3 with maxTrialCount 2 (Katib's validator_test.go has this very
# case, "maxFailedTrialCount greater than maxTrialCount", as an error); the Tekton example's trial template
# never uses ${trialParameters.learningRate}. Both are rejected by Katib itself, so by hpoctl too.
UPSTREAM_INVALID = {
    "simple-pbt": "spec.maxFailedTrialCount: should be less than or equal to spec.maxTrialCount",
    "tekton-pipeline-run": "parameter name: learningRate in spec.trialParameters not found in spec.trialTemplate",
}


def example_experiments() -> list[tuple[str, dict]]:
    found = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        with path.open(encoding="utf-8") as handle:
            for doc in yaml.safe_load_all(handle):
                if doc and doc.get("kind") == "Experiment":
                    found.append((path.name, doc))
    return found


@needs_reference
def test_katib_examples_are_accepted():
    examples = example_experiments()
    assert len(examples) == 33
    for filename, experiment in examples:
        problems = validate_experiment(experiment)
        name = experiment["metadata"]["name"]
        if name in UPSTREAM_INVALID:
            assert len(problems) == 1 and UPSTREAM_INVALID[name] in problems[0], problems
            continue
        assert problems == [], filename


@needs_reference
def test_upstream_invalid_examples_pass_once_the_broken_field_is_fixed():
    examples = {doc["metadata"]["name"]: doc for _, doc in example_experiments()}
    pbt = copy.deepcopy(examples["simple-pbt"])
    pbt["spec"]["maxFailedTrialCount"] = 2
    assert validate_experiment(pbt) == []
    tekton = copy.deepcopy(examples["tekton-pipeline-run"])
    tekton["spec"]["trialTemplate"]["trialSpec"]["spec"]["params"][0] = {
        "name": "lr",
        "value": "${trialParameters.learningRate}",
    }
    assert validate_experiment(tekton) == []


@needs_reference
def test_katib_config_of_the_reference_is_the_default():
    with (REFERENCE / "katib-config.standalone.v0.19.0.yaml").open(encoding="utf-8") as handle:
        installation = from_katib_config(yaml.safe_load(handle))
    assert installation.suggestions == DEFAULT_INSTALLATION.suggestions
    assert installation.early_stoppings == DEFAULT_INSTALLATION.early_stoppings
    assert installation.metrics_collectors == DEFAULT_INSTALLATION.metrics_collectors
    assert dict(installation.services) == dict(DEFAULT_INSTALLATION.services)


@needs_reference
def test_trial_template_from_a_config_map_is_checked_when_it_can_be_read():
    with (REFERENCE / "trial-templates.v0.19.0.yaml").open(encoding="utf-8") as handle:
        maps = {d["metadata"]["name"]: d for d in yaml.safe_load_all(handle) if d}

    def resolve(namespace: str, name: str, path: str) -> str | None:
        config_map = maps.get(name)
        return config_map["data"].get(path) if config_map else None

    experiment = copy.deepcopy(dict(example_experiments())["trial-template_trial-configmap-source.yaml"])
    assert validate_experiment(experiment) == []  # the ConfigMap lives in the cluster: not checked offline
    problems = validate_experiment(experiment, resolve_config_map=resolve)
    assert "numberLayers in spec.trialParameters not found in spec.trialTemplate" in problems[0]
    experiment["spec"]["trialTemplate"]["trialParameters"] = [
        {"name": "learningRate", "reference": "lr"},
        {"name": "momentum", "reference": "num-layers"},
    ]
    assert validate_experiment(experiment, resolve_config_map=resolve) == []


@pytest.fixture(scope="module")
def valid() -> dict:
    experiment = render("mlp", "default")[0].manifest
    assert validate_experiment(experiment) == []
    return experiment


def _set(path: str, value):
    def change(e: dict) -> None:
        *parents, leaf = path.split(".")
        node = e
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is DELETE:
            del node[int(leaf) if leaf.isdigit() else leaf]
        else:
            node[int(leaf) if leaf.isdigit() else leaf] = value

    return change


DELETE = object()
JOB = "spec.trialTemplate.trialSpec"
CONTAINER = f"{JOB}.spec.template.spec.containers.0"


def _replace_script(old: str, new: str):
    def change(e: dict) -> None:
        container = e["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
        container["args"][0] = container["args"][0].replace(old, new)

    return change


INVALID = [
    ("name-uppercase", _set("metadata.name", "Mlp-search"), "metadata.name: must start with a lower-case letter"),
    ("name-too-long", _set("metadata.name", "a" * 60), "the Service Katib names '<experiment>-random' would exceed"),
    ("max-trials-zero", _set("spec.maxTrialCount", 0), "spec.maxTrialCount: must be greater than 0"),
    ("parallel-zero", _set("spec.parallelTrialCount", 0), "spec.parallelTrialCount: must be greater than 0"),
    ("parallel-over-max", _set("spec.parallelTrialCount", 80), "parallelTrialCount: should be less than or equal"),
    ("failed-over-max", _set("spec.maxFailedTrialCount", 80), "maxFailedTrialCount: should be less than or equal"),
    ("failed-negative", _set("spec.maxFailedTrialCount", -1), "maxFailedTrialCount: should not be less than 0"),
    ("count-as-text", _set("spec.maxTrialCount", "50"), "spec.maxTrialCount: must be an integer"),
    ("no-objective", _set("spec.objective", DELETE), "spec.objective: must be specified"),
    ("objective-type", _set("spec.objective.type", "maximise"), "spec.objective.type: must be minimize or maximize"),
    ("objective-metric", _set("spec.objective.objectiveMetricName", ""), "objectiveMetricName: must be specified"),
    (
        "objective-in-additional",
        _set("spec.objective.additionalMetricNames", ["validation_error"]),
        "additionalMetricNames: should not contain spec.objective.objectiveMetricName",
    ),
    ("strategy", _set("spec.objective.metricStrategies.0.value", "best"), "metricStrategies[0].value: must be one"),
    ("no-algorithm", _set("spec.algorithm", DELETE), "spec.algorithm: must be specified"),
    (
        "unknown-algorithm",
        _set("spec.algorithm.algorithmName", "bayes"),
        "unable to get Suggestion config data for algorithm bayes",
    ),
    (
        "hyperopt-tpe-startup",
        _set(
            "spec.algorithm",
            {"algorithmName": "tpe", "algorithmSettings": [{"name": "n_startup_trials", "value": "10"}]},
        ),
        "unknown setting n_startup_trials for algorithm tpe (hyperopt)",
    ),
    (
        "random-state-negative",
        _set("spec.algorithm.algorithmSettings", [{"name": "random_state", "value": "-3"}]),
        "random_state: must be an integer >= 0",
    ),
    (
        "setting-not-text",
        _set("spec.algorithm.algorithmSettings", [{"name": "random_state", "value": 3}]),
        "algorithmSettings[0].value: must be a string",
    ),
    (
        "unknown-early-stopping",
        _set("spec.earlyStopping", {"algorithmName": "asha"}),
        "unable to get EarlyStopping config data for algorithm asha",
    ),
    (
        "medianstop-zero",
        _set(
            "spec.earlyStopping",
            {"algorithmName": "medianstop", "algorithmSettings": [{"name": "min_trials_required", "value": "0"}]},
        ),
        "min_trials_required: must be an integer > 0",
    ),
    (
        "early-stopping-push",
        lambda e: (
            _set("spec.earlyStopping", {"algorithmName": "medianstop"})(e),
            _set("spec.metricsCollectorSpec.collector.kind", "Push")(e),
        ),
        "early stopping works only with the StdOut or File metrics collector, not Push",
    ),
    ("resume-policy", _set("spec.resumePolicy", "Always"), "spec.resumePolicy: invalid ResumePolicyType"),
    ("parameter-type", _set("spec.parameters.0.parameterType", "float"), "parameterType: float is not supported"),
    (
        "double-with-list",
        _set("spec.parameters.0.feasibleSpace.list", ["0.1"]),
        "feasibleSpace.list is not supported for parameterType: double",
    ),
    (
        "missing-max",
        _set("spec.parameters.0.feasibleSpace.max", DELETE),
        "feasibleSpace.max or feasibleSpace.min must be specified",
    ),
    ("min-over-max", _set("spec.parameters.0.feasibleSpace.min", "0.5"), "min (0.5) must not be greater than max"),
    ("bound-as-number", _set("spec.parameters.0.feasibleSpace.max", 0.01), "feasibleSpace.max: must be a string"),
    ("bound-not-number", _set("spec.parameters.0.feasibleSpace.max", "high"), "feasibleSpace.max: must be a number"),
    (
        "categorical-with-min",
        _set("spec.parameters.1.feasibleSpace.min", "1"),
        "feasibleSpace .max, .min and .step is not supported for parameterType: categorical",
    ),
    ("empty-feasible-space", _set("spec.parameters.1.feasibleSpace", {}), "feasibleSpace must be specified"),
    (
        "distribution",
        _set("spec.parameters.0.feasibleSpace.distribution", "loguniform"),
        "distribution: loguniform is not supported",
    ),
    (
        "duplicate-parameter",
        lambda e: e["spec"]["parameters"].append(copy.deepcopy(e["spec"]["parameters"][0])),
        "spec.parameters[3].name: duplicated parameter name",
    ),
    ("no-parameters", _set("spec.parameters", []), "spec.parameters or spec.nasConfig must be specified"),
    (
        "parameters-and-nas",
        _set("spec.nasConfig", {"graphConfig": {"numLayers": 1}}),
        "only one of spec.parameters and spec.nasConfig can be specified",
    ),
    (
        "placeholder-undefined",
        _replace_script("--dropout=", "--depth=${trialParameters.depth} --dropout="),
        "parameters: ['${trialParameters.depth}'] in spec.trialTemplate not found in spec.trialParameters",
    ),
    (
        "placeholder-unused",
        _replace_script("--lr=${trialParameters.lr}", ""),
        "parameter name: lr in spec.trialParameters not found in spec.trialTemplate",
    ),
    (
        "reference-unknown",
        _set("spec.trialTemplate.trialParameters.0.reference", "learning_rate"),
        "parameter reference learning_rate does not exist in spec.parameters",
    ),
    (
        "trial-parameter-duplicate",
        lambda e: e["spec"]["trialTemplate"]["trialParameters"].append({"name": "lr", "reference": "dropout"}),
        "parameter name lr can't be duplicated",
    ),
    (
        "trial-parameter-braces",
        _set("spec.trialTemplate.trialParameters.0.name", "l{r}"),
        "name and reference must be specified and name must not contain '{' or '}'",
    ),
    (
        "no-primary-container-name",
        _set("spec.trialTemplate.primaryContainerName", ""),
        "spec.trialTemplate.primaryContainerName: must be specified",
    ),
    (
        "primary-container-missing",
        _set("spec.trialTemplate.primaryContainerName", "training"),
        "no container named 'training'",
    ),
    (
        "no-trial-spec",
        _set("spec.trialTemplate.trialSpec", DELETE),
        "spec.trialTemplate.trialSpec or spec.trialTemplate.configMap must be specified",
    ),
    (
        "trial-spec-and-config-map",
        _set("spec.trialTemplate.configMap", {"configMapName": "t"}),
        "only one of spec.trialTemplate.trialSpec or spec.trialTemplate.configMap can be specified",
    ),
    (
        "template-named",
        _set(f"{JOB}.metadata.name", "job"),
        "metadata.name and metadata.namespace in spec.trialTemplate must be omitted",
    ),
    (
        "job-unknown-field",
        _set(f"{CONTAINER}.cpu", "4"),
        "spec.trialTemplate.trialSpec.spec.template.spec.containers[0].cpu: is not a field of core/v1.Container",
    ),
    ("job-wrong-type", _set(f"{JOB}.spec.backoffLimit", "0"), "spec.trialTemplate.trialSpec.spec.backoffLimit:"),
    (
        "job-restart-always",
        _set(f"{JOB}.spec.template.spec.restartPolicy", "Always"),
        "restartPolicy: a Job's pods need Never or OnFailure",
    ),
    (
        "collector-kind",
        _set("spec.metricsCollectorSpec.collector.kind", "Stdout"),
        "invalid metrics collector kind: Stdout",
    ),
    (
        "file-collector-relative",
        _set(
            "spec.metricsCollectorSpec",
            {"collector": {"kind": "File"}, "source": {"fileSystemPath": {"kind": "File", "path": "metrics.log"}}},
        ),
        "file path where metrics file exists is required",
    ),
    (
        "filter-one-group",
        _set("spec.metricsCollectorSpec.source", {"filter": {"metricsFormat": ["(\\w+)=.*"]}}),
        "two top subexpressions are required",
    ),
    (
        "collector-not-installed",
        _set("spec.metricsCollectorSpec.collector.kind", "PrometheusMetric"),
        "GetMetricsCollectorConfigData failed",
    ),
    (
        "grid-double-needs-step",
        _set("spec.algorithm", {"algorithmName": "grid"}),
        "spec.parameters[0].feasibleSpace.step: grid needs a step",
    ),
    (
        "cmaes-one-dimension",
        lambda e: (_set("spec.algorithm", {"algorithmName": "cmaes"})(e), e["spec"]["parameters"].pop(2)),
        "cmaes only supports two or more dimensional continuous search space",
    ),
]


@pytest.mark.parametrize(("case", "break_it", "message"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_experiment_is_rejected_with_the_field(valid, case, break_it, message):
    experiment = copy.deepcopy(valid)
    break_it(experiment)
    problems = validate_experiment(experiment)
    assert problems, f"{case}: accepted"
    assert any(message in p for p in problems), problems
    assert all(p.startswith("Experiment hpo/") or p.startswith("Experiment ") for p in problems)


def test_every_problem_is_reported_at_once(valid):
    experiment = copy.deepcopy(valid)
    experiment["spec"]["parallelTrialCount"] = 0
    experiment["spec"]["resumePolicy"] = "Sometimes"
    experiment["spec"]["parameters"][0]["parameterType"] = "real"
    with pytest.raises(ExperimentInvalid) as caught:
        check_experiments([experiment, valid])
    lines = caught.value.lines()
    assert len(lines) == 3 and all(line.startswith("Experiment hpo/mlp-default-search: spec.") for line in lines)


def test_grid_needs_fewer_trials_than_combinations(valid):
    experiment = copy.deepcopy(valid)
    experiment["spec"]["algorithm"] = {"algorithmName": "grid"}
    experiment["spec"]["parameters"][0]["feasibleSpace"]["step"] = "0.005"
    experiment["spec"]["parameters"][2]["feasibleSpace"]["step"] = "0.25"
    problems = validate_experiment(experiment)
    assert problems == [
        "Experiment hpo/mlp-default-search: spec.maxTrialCount: grid has 18 combinations; "
        "Max Trial Count 50 > all possible search combinations (hpoctl)"
    ]


def test_not_an_experiment():
    assert validate_experiment({"apiVersion": "batch/v1", "kind": "Job"}) == [
        "Experiment (unnamed): apiVersion/kind: must be kubeflow.org/v1beta1 Experiment (got 'batch/v1 Job')"
    ]


def test_cli_validate_katib(cli, tmp_path, valid):
    result = cli("validate", "--katib", "everest", "mlp")
    assert result.code == 0, result.err
    assert "everest: 27 Katib Experiments render and are valid" in result.err
    broken = copy.deepcopy(valid)
    broken["spec"]["parallelTrialCount"] = 0
    path = tmp_path / "experiments.yaml"
    path.write_text(yaml.safe_dump_all([valid, broken]), encoding="utf-8")
    result = cli("validate", "--katib", str(path))
    assert result.code == 1
    assert result.err.strip() == (
        "error: Experiment hpo/mlp-default-search: spec.parallelTrialCount: must be greater than 0 (got 0)"
    )
    result = cli("validate", "--katib", "forecast")  # several objectives and NSGA-II: on hpoctl-optuna
    assert result.code == 0 and "forecast: 9 Katib Experiments render and are valid" in result.err
    path.write_text(yaml.safe_dump(valid), encoding="utf-8")
    assert cli("validate", "--katib", str(path)).code == 0
    assert Path(path).exists()
