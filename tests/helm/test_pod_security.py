"""The pod-security checker itself: a compliant pod passes, and each kind of violation is caught."""

from __future__ import annotations

import copy

import pytest

from .pod_security import hardening_violations, namespace_violations, pod_spec, restricted_violations

GOOD = {
    "automountServiceAccountToken": False,
    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
    "containers": [
        {
            "name": "main",
            "image": "x",
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            },
            "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        }
    ],
    "volumes": [{"name": "tmp", "emptyDir": {}}],
}


def mutate(path: str, value):
    spec = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    node = spec
    for key in parents:
        node = node[int(key)] if key.isdigit() else node.setdefault(key, {})
    if value is None:
        node.pop(last)
    else:
        node[last] = value
    return spec


def test_compliant_pod_passes():
    assert restricted_violations(GOOD) == []
    assert hardening_violations(GOOD) == []


@pytest.mark.parametrize(
    ("path", "value", "fragment"),
    [
        ("hostNetwork", True, "hostNetwork"),
        ("securityContext.runAsNonRoot", None, "runAsNonRoot"),
        ("securityContext.runAsUser", 0, "runAsUser"),
        ("securityContext.seccompProfile", {"type": "Unconfined"}, "seccompProfile"),
        ("containers.0.securityContext.allowPrivilegeEscalation", None, "allowPrivilegeEscalation"),
        ("containers.0.securityContext.privileged", True, "privileged"),
        ("containers.0.securityContext.capabilities", {"drop": ["NET_RAW"]}, "drop must contain ALL"),
        ("containers.0.securityContext.capabilities", {"drop": ["ALL"], "add": ["SYS_ADMIN"]}, "capabilities.add"),
        ("containers.0.ports", [{"containerPort": 80, "hostPort": 80}], "hostPort"),
        ("volumes", [{"name": "tmp", "hostPath": {"path": "/"}}], "hostPath"),
    ],
)
def test_restricted_violations_are_caught(path, value, fragment):
    problems = restricted_violations(mutate(path, value))
    assert any(fragment in p for p in problems), problems


@pytest.mark.parametrize(
    ("path", "value", "fragment"),
    [
        ("containers.0.securityContext.readOnlyRootFilesystem", None, "readOnlyRootFilesystem"),
        ("containers.0.resources", {"requests": {"cpu": "1", "memory": "1Gi"}}, "resources.limits.cpu"),
        ("containers.0.volumeMounts", [], "/tmp must be an emptyDir"),
        ("automountServiceAccountToken", None, "automountServiceAccountToken"),
    ],
)
def test_hardening_violations_are_caught(path, value, fragment):
    problems = hardening_violations(mutate(path, value))
    assert any(fragment in p for p in problems), problems


def test_pod_spec_finds_templates():
    job = {"kind": "Job", "spec": {"template": {"spec": GOOD}}}
    cron = {"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": GOOD}}}}}
    assert pod_spec(job) is GOOD and pod_spec(cron) is GOOD
    assert pod_spec({"kind": "ConfigMap"}) is None


def test_namespace_labels():
    labels = {f"pod-security.kubernetes.io/{m}": "restricted" for m in ("enforce", "audit", "warn")}
    assert namespace_violations({"metadata": {"labels": labels}}) == []
    assert namespace_violations({"metadata": {"labels": {**labels, "pod-security.kubernetes.io/enforce": "baseline"}}})
