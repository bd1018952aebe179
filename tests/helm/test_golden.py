"""`helm template` with the chart's default values equals tests/golden/helm/default.yaml."""

from __future__ import annotations

import difflib

from .conftest import CHART, NAMESPACE, RELEASE, REPO

GOLDEN = REPO / "tests" / "golden" / "helm" / "default.yaml"
REGENERATE = f".venv/bin/helm template {RELEASE} helm/hpoctl --namespace {NAMESPACE} > tests/golden/helm/default.yaml"


def test_default_render_matches_golden(helm):
    rendered = helm.template().stdout
    assert GOLDEN.exists(), f"no golden file; create it with:\n  {REGENERATE}"
    golden = GOLDEN.read_text()
    if rendered != golden:
        diff = "".join(
            difflib.unified_diff(
                golden.splitlines(keepends=True),
                rendered.splitlines(keepends=True),
                fromfile=str(GOLDEN.relative_to(REPO)),
                tofile=f"helm template {RELEASE} {CHART.relative_to(REPO)}",
            )
        )
        raise AssertionError(f"the rendered chart differs from the golden file:\n{diff}\nIf intended:\n  {REGENERATE}")
