"""`helm lint --strict` passes for the chart's default values and for every file in helm/hpoctl/ci/."""

from __future__ import annotations

from .conftest import CHART, NAMESPACE


def test_lint_strict(helm, case):
    args = ["lint", "--strict", str(CHART), "--namespace", NAMESPACE]
    for v in case.files:
        args += ["--values", str(v)]
    result = helm.run(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_ci_values_exercise_every_optional_feature(helm):
    """Together the ci files switch on every optional feature the chart has."""
    from .conftest import CASES

    kinds = set()
    for name, values in CASES.items():
        if name != "default":
            kinds |= {(d["kind"], d["metadata"].get("namespace")) for d in helm.documents(*values)}
    rendered = {k for k, _ in kinds}
    assert {"Namespace", "Job", "ResourceQuota", "PriorityClass", "RoleBinding"} <= rendered
    assert ("ConfigMap", "kubeflow") in kinds, "katib.manageConfig=true is not exercised"
