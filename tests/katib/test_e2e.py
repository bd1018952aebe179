"""End to end against a real cluster with Katib (e.g. kind + Katib v0.19 standalone), opt-in:

    HPOCTL_E2E_KUBECONFIG=~/.kube/config HPOCTL_E2E_NAMESPACE=hpoctl-e2e \\
    HPOCTL_E2E_IMAGE=ghcr.io/hpoctl/trainer:0.1.0 .venv/bin/python -m pytest tests/katib -m e2e

The namespace must exist and carry the label katib.kubeflow.org/metrics-collector-injection=enabled; the
image must hold the trainers (`kind load docker-image` it for kind). The run launches the mlp study's quick
preset (8 trials of 3 epochs), follows it to the end, checks status, pulls the results and deletes it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time

import pytest

from hpoctl.catalog import load_study
from hpoctl.config import HpoctlConfig, KatibSettings
from hpoctl.katib.backend import KatibBackend, KatibOptions
from hpoctl.plan import build_plans

KUBECONFIG = os.environ.get("HPOCTL_E2E_KUBECONFIG")
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not KUBECONFIG, reason="set HPOCTL_E2E_KUBECONFIG to run against a real cluster with Katib"),
]


def test_launch_follow_status_pull_delete(tmp_path):
    namespace = os.environ.get("HPOCTL_E2E_NAMESPACE", "hpoctl-e2e")
    config = HpoctlConfig(katib=KatibSettings(namespace=namespace, data_pvc=None, cache_pvc=None))
    options = KatibOptions(
        results_dir=tmp_path,
        follow=True,
        kubeconfig=os.path.expanduser(KUBECONFIG),
        context=os.environ.get("HPOCTL_E2E_CONTEXT"),
        image=os.environ.get("HPOCTL_E2E_IMAGE"),
        namespace=namespace,
    )
    plans = build_plans(load_study("mlp"), "default", presets=["quick"], overrides={"limits": {"trial_timeout": 900}})
    backend = KatibBackend(config=config, poll_seconds=10)
    backend.delete(plans, dataclasses.replace(options, no_pull=True))
    deadline = time.monotonic() + 1800
    lines = backend.launch(plans, options).lines()
    assert time.monotonic() < deadline
    assert lines == ["mlp/default: done (search)"], lines
    rows = backend.status(plans, options)
    assert rows[0].state == "done" and rows[0].trials_done == 8
    pulled = backend.results(plans, options)
    assert "pulled 8 trials" in pulled[0]
    best = json.loads((tmp_path / "mlp" / "default" / "best_params.json").read_text())
    assert best["best_params"] is not None
    assert any("deleted" in line for line in backend.delete(plans, dataclasses.replace(options, no_pull=True)))
