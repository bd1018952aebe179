"""A trial pod as a cluster would get it: Katib's pod webhook (its own sidecar injector, in katib-admission)
adds the metrics-collector sidecar to a pod whose Job belongs to a Trial, and Pod Security `restricted`
then judges the whole pod, sidecar included. The Suggestion, Trial and Job are written as katib-controller
and the Job controller would write them (neither runs here)."""

from __future__ import annotations

import json
import re

import pytest

from tests.kube.katib_status import GROUP_VERSION


def trial_objects(experiment: dict, namespace: str, name: str) -> tuple[dict, dict, dict]:
    """The Trial Katib's controller would create for the Experiment, the Job it would create for the Trial,
    and the pod the Job controller would create, each owned by the one before, placeholders filled in."""
    spec = experiment["spec"]
    template = spec["trialTemplate"]
    run_spec = json.loads(re.sub(r"\$\{trialParameters\.([^}]+)\}", r"value-of-\1", json.dumps(template["trialSpec"])))
    trial = {
        "apiVersion": GROUP_VERSION,
        "kind": "Trial",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"katib.kubeflow.org/experiment": experiment["metadata"]["name"]},
        },
        "spec": {
            "objective": spec["objective"],
            "parameterAssignments": [],
            "runSpec": run_spec,
            "primaryContainerName": template["primaryContainerName"],
            "successCondition": template["successCondition"],
            "failureCondition": template["failureCondition"],
            "metricsCollector": spec["metricsCollectorSpec"],
        },
    }
    job = {**run_spec, "metadata": {**run_spec.get("metadata", {}), "name": name, "namespace": namespace}}
    pod_template = run_spec["spec"]["template"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"{name}-pod", "namespace": namespace, "labels": pod_template["metadata"]["labels"]},
        "spec": pod_template["spec"],
    }
    return trial, job, pod


def owned_by(child: dict, owner: dict) -> None:
    child["metadata"]["ownerReferences"] = [
        {
            "apiVersion": owner["apiVersion"],
            "kind": owner["kind"],
            "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"],
            "controller": True,
        }
    ]


@pytest.mark.parametrize("study", ["mlp", "everest"])
def test_the_trial_pod_with_katibs_sidecar_passes_pod_security_restricted(study, user, cli):
    namespace = user.namespace()
    rendered = cli("render", study, "--target", "all", "-n", namespace, "-o", "json")
    assert rendered.code == 0, rendered.err
    out = json.loads(rendered.out)
    experiment = out.get("items", [out])[0]
    experiment = json.loads(user.kubectl("create", "-o", "json", "-f", "-", input=json.dumps(experiment)).stdout)
    name = experiment["metadata"]["name"]
    suggestion = {
        "apiVersion": GROUP_VERSION,
        "kind": "Suggestion",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"algorithm": experiment["spec"]["algorithm"], "requests": 1, "resumePolicy": "LongRunning"},
    }
    owned_by(suggestion, experiment)
    user.kubectl("create", "-f", "-", input=json.dumps(suggestion))
    trial, job, pod = trial_objects(experiment, namespace, f"{name}-x1")
    owned_by(trial, experiment)
    trial = json.loads(user.kubectl("create", "-o", "json", "-f", "-", input=json.dumps(trial)).stdout)
    owned_by(job, trial)
    job = json.loads(user.kubectl("create", "-o", "json", "-f", "-", input=json.dumps(job)).stdout)
    owned_by(pod, job)
    done = user.kubectl("create", "--dry-run=server", "-o", "json", "-f", "-", input=json.dumps(pod), check=False)
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout)
    containers = [c["name"] for c in created["spec"]["containers"]]
    assert containers == ["trainer", "metrics-logger-and-collector"], "Katib's sidecar was not injected"
