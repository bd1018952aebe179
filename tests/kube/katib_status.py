"""Writing what Katib's controller writes, through the real API server: Trials of an Experiment with the
status a finished trial has (conditions, observation metrics, times) and the Experiment's status, both
through the status subresource as katib-controller does."""

from __future__ import annotations

import json
from typing import Any

from tests.kube.testenv import KubeEnv

GROUP_VERSION = "kubeflow.org/v1beta1"


def condition(kind: str, message: str = "", reason: str = "") -> dict[str, str]:
    return {
        "type": kind,
        "status": "True",
        "reason": reason or f"Experiment{kind}",
        "message": message,
        "lastUpdateTime": "2026-12-04T01:00:00Z",
        "lastTransitionTime": "2026-12-04T01:00:00Z",
    }


def assignments(experiment: dict[str, Any], i: int) -> list[dict[str, str]]:
    found = []
    for param in experiment["spec"]["parameters"]:
        space = param["feasibleSpace"]
        found.append(
            {"name": param["name"], "value": space["list"][i % len(space["list"])] if "list" in space else space["min"]}
        )
    return found


def finish(kube: KubeEnv, namespace: str, name: str, reason: str = "ExperimentMaxTrialsReached") -> list[str]:
    """Run the Experiment as Katib would have: maxTrialCount Succeeded Trials, the i-th reporting each
    objective metric 0.1 * (i + 1), then the Experiment Succeeded for `reason`. Returns the trial names."""
    experiment = kube.get("experiment", "-n", namespace, name)
    objective = experiment["spec"]["objective"]
    metrics = [objective["objectiveMetricName"], *(objective.get("additionalMetricNames") or [])]
    count = experiment["spec"]["maxTrialCount"]
    trial_names = []
    for i in range(count):
        trial_name = f"{name}-{i:08d}"[-63:].lstrip("-")
        trial = {
            "apiVersion": GROUP_VERSION,
            "kind": "Trial",
            "metadata": {
                "name": trial_name,
                "namespace": namespace,
                "labels": {"katib.kubeflow.org/experiment": name},
                "ownerReferences": [
                    {
                        "apiVersion": GROUP_VERSION,
                        "kind": "Experiment",
                        "name": name,
                        "uid": experiment["metadata"]["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": {
                "objective": objective,
                "parameterAssignments": assignments(experiment, i),
                "runSpec": experiment["spec"]["trialTemplate"]["trialSpec"],
                "primaryContainerName": experiment["spec"]["trialTemplate"]["primaryContainerName"],
            },
        }
        kube.kubectl("create", "-f", "-", input=json.dumps(trial))
        value = round(0.1 * (i + 1), 3)
        status = {
            "status": {
                "startTime": "2026-12-04T01:00:00Z",
                "completionTime": f"2026-12-04T01:{i + 1:02d}:30Z",
                "conditions": [
                    condition("Created"),
                    condition("Running"),
                    condition("Succeeded", "Trial has succeeded"),
                ],
                "observation": {
                    "metrics": [
                        {"name": m, "min": str(value), "max": str(value), "latest": str(value)} for m in metrics
                    ]
                },
            }
        }
        kube.kubectl(
            "patch",
            "trial",
            "-n",
            namespace,
            trial_name,
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps(status),
        )
        trial_names.append(trial_name)
    experiment_status = {
        "status": {
            "conditions": [
                condition("Created"),
                condition("Running"),
                condition("Succeeded", "Experiment has succeeded because max trial count has reached", reason),
            ],
            "trials": count,
            "trialsSucceeded": count,
            "succeededTrialList": trial_names,
            "startTime": "2026-12-04T01:00:00Z",
            "completionTime": "2026-12-04T02:00:00Z",
        }
    }
    kube.kubectl(
        "patch",
        "experiment",
        "-n",
        namespace,
        name,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(experiment_status),
    )
    return trial_names
