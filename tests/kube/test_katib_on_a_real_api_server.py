"""The Katib backend against a real kube-apiserver with Katib v0.19.0's own admission webhooks, RBAC and Pod
Security Admission (tests/kube/conftest.py): what hpoctl creates must be admitted by Katib itself, and
status, budget, pull, delete, kubectl, the Helm chart and the trial pods must work against real code."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml

from hpoctl.catalog import builtin_names, load_study
from hpoctl.katib.render import RenderOptions, render_experiments
from hpoctl.katib.trial_job import CONTAINER
from hpoctl.plan import build_plans
from tests.helm.conftest import CHART, find_helm
from tests.kube.katib_status import finish

STUDIES = builtin_names()


def experiments(kube, namespace: str, selector: str) -> dict[str, dict]:
    return {e["metadata"]["name"]: e for e in kube.get("experiments", "-n", namespace, "-l", selector)["items"]}


@pytest.mark.parametrize("study", STUDIES)
def test_launch_of_every_target_is_admitted_and_a_relaunch_changes_nothing(study, user, cli):
    namespace = user.namespace()
    launched = cli("launch", study, "--target", "all", "--backend", "katib", "-n", namespace)
    assert launched.code == 0, launched.err
    plans = build_plans(load_study(study), "all")
    created = experiments(user, namespace, f"hpoctl.io/study={study}")
    assert len(created) == len(plans)
    assert {e["metadata"]["labels"]["hpoctl.io/stage"] for e in created.values()} == {plans[0].stages[0].name}
    # Katib's mutating webhook ran on them: it gives every parameter hpoctl leaves without a distribution
    # (categorical ones) `uniform`
    rendered = {r.name: r.manifest for r in render_experiments(plans, RenderOptions(namespace=namespace))}
    defaulted = 0
    for name, experiment in created.items():
        for sent, stored in zip(rendered[name]["spec"]["parameters"], experiment["spec"]["parameters"], strict=True):
            expected = sent["feasibleSpace"].get("distribution") or "uniform"
            defaulted += "distribution" not in sent["feasibleSpace"]
            assert stored["feasibleSpace"]["distribution"] == expected
    assert defaulted, f"{study} sends a distribution for every parameter: nothing shows the defaulter"

    again = cli("launch", study, "--target", "all", "--backend", "katib", "-n", namespace)
    assert again.code == 0, again.err
    after = experiments(user, namespace, f"hpoctl.io/study={study}")
    assert {n: e["metadata"]["resourceVersion"] for n, e in after.items()} == {
        n: e["metadata"]["resourceVersion"] for n, e in created.items()
    }


@pytest.mark.parametrize("study", STUDIES)
def test_every_stage_hpoctl_renders_passes_katibs_webhook_on_the_server(study, user, cli):
    namespace = user.namespace()
    rendered = cli("render", study, "--target", "all", "-n", namespace, "-o", "yaml")
    assert rendered.code == 0, rendered.err
    documents = [d for d in yaml.safe_load_all(rendered.out) if d]
    assert len(documents) == sum(len(p.stages) for p in build_plans(load_study(study), "all"))
    # the YAML as printed, applied by the real kubectl (server-side dry run: admission runs, nothing is stored)
    done = user.kubectl("create", "--dry-run=server", "-f", "-", input=rendered.out, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("created (server dry run)") == len(documents)


def test_gp_renders_as_katibs_bayesian_optimization_and_is_admitted(user, cli):
    namespace = user.namespace()
    rendered = cli("render", "mlp", "--target", "default", "--set", "algorithm.name=gp", "-n", namespace, "-o", "yaml")
    assert rendered.code == 0, rendered.err
    assert yaml.safe_load(rendered.out)["spec"]["algorithm"]["algorithmName"] == "bayesianoptimization"
    done = user.kubectl("create", "--dry-run=server", "-f", "-", input=rendered.out, check=False)
    assert done.returncode == 0, done.stderr


def test_stages_run_in_order_status_budget_pull_and_delete(user, cli, tmp_path):
    namespace = user.namespace()
    study, target = "everest", "M_24h"
    launch = ("launch", study, "--target", target, "--backend", "katib", "-n", namespace, "--preset", "quick")
    selector = f"hpoctl.io/study={study}"
    for stage in ("exploration", "refinement", "confirmation"):
        done = cli(*launch)
        assert done.code == 0, done.err
        name = f"everest-m-24h-{stage}"
        assert name in experiments(user, namespace, selector), done.err
        status = cli("status", study, "--backend", "katib", "-n", namespace, "-o", "json")
        assert status.code == 0, status.err
        assert stage in status.out
        if stage == "exploration":
            budget = cli(
                "katib", "budget", study, "--target", target, "--max-trials", "9", "--parallel", "2", "-n", namespace
            )
            assert budget.code == 0, budget.err
            spec = experiments(user, namespace, selector)[name]["spec"]
            assert (spec["maxTrialCount"], spec["parallelTrialCount"]) == (9, 2)
        finish(user, namespace, name)

    confirmation = experiments(user, namespace, selector)["everest-m-24h-confirmation"]
    assert confirmation["spec"]["algorithm"]["algorithmName"] == "grid"
    assert "hpoctl.io/top-k-pending" not in confirmation["metadata"]["annotations"]
    refinement = experiments(user, namespace, selector)["everest-m-24h-refinement"]
    assert refinement["spec"]["algorithm"]["algorithmName"] == "hpoctl-optuna"

    listed = user.kubectl("get", "experiments,trials", "-n", namespace, "-l", selector)
    assert "everest-m-24h-confirmation" in listed.stdout
    trials = user.kubectl(
        "get", "trials", "-n", namespace, "-l", "katib.kubeflow.org/experiment=everest-m-24h-exploration"
    )
    assert trials.stdout.count("everest-m-24h-exploration-") == 9

    pulled = cli("results", "pull", study, "--target", target, "-b", "katib", "-n", namespace, "--preset", "quick")
    assert pulled.code == 0, pulled.err
    best = json.loads((tmp_path / "results" / study / target / "best_params.json").read_text())
    assert best

    deleted = cli("delete", study, "--target", target, "-b", "katib", "-n", namespace, "--preset", "quick", "--yes")
    assert deleted.code == 0, deleted.err
    assert experiments(user, namespace, selector) == {}
    assert (tmp_path / "results" / study / target / "study.db").is_file()


def test_budget_restarts_a_finished_experiment_only_as_katib_allows(user, cli):
    namespace = user.namespace()
    assert cli("launch", "mlp", "--target", "default", "--backend", "katib", "-n", namespace).code == 0
    budget = ("katib", "budget", "mlp", "--target", "default", "--stage", "search", "-n", namespace)
    finish(user, namespace, "mlp-default-search", reason="ExperimentGoalReached")
    refused = cli(*budget, "--max-trials", "60")
    assert refused.code == 1 and "another reason than reaching maxTrialCount" in refused.err
    user.kubectl(
        "patch",
        "experiment",
        "-n",
        namespace,
        "mlp-default-search",
        "--subresource=status",
        "--type=json",
        "-p",
        '[{"op": "replace", "path": "/status/conditions/2/reason", "value": "ExperimentMaxTrialsReached"}]',
    )
    too_few = cli(*budget, "--max-trials", "40")
    assert too_few.code == 2 and "greater than its 50 trials" in too_few.err
    restarted = cli(*budget, "--max-trials", "60")  # an UPDATE Katib's webhook judges
    assert restarted.code == 0, restarted.err
    assert experiments(user, namespace, "hpoctl.io/study=mlp")["mlp-default-search"]["spec"]["maxTrialCount"] == 60


def test_katibs_refusal_reaches_the_user_as_one_line(user, cli):
    namespace = user.namespace(katib=False)  # no metrics-collector-injection label: Katib's webhook refuses
    done = cli("launch", "mlp", "--target", "default", "--backend", "katib", "-n", namespace)
    assert done.code == 1
    errors = [line for line in done.err.splitlines() if line.startswith("error")]
    assert len(errors) == 1, done.err
    assert errors[0].startswith("error: Katib's admission webhook refused to create Experiment")
    assert "mlp-default-search" in errors[0] and "metrics-collector-injection" in errors[0]
    assert "Traceback" not in done.err


def pod_from_job(job: dict, namespace: str, name: str) -> dict:
    """The pod Kubernetes' Job controller would create for a trial, with Katib's placeholders filled in."""
    text = re.sub(r"\$\{trialParameters\.([^}]+)\}", r"value-of-\1", json.dumps(job["spec"]["template"]))
    template = json.loads(text)
    metadata = {"name": name, "namespace": namespace, "labels": template["metadata"]["labels"]}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]}


@pytest.mark.parametrize("study", STUDIES)
def test_each_trial_pod_passes_pod_security_restricted(study, user, cli):
    namespace = user.namespace()
    rendered = cli("render", study, "--target", "all", "-n", namespace, "-o", "json")
    assert rendered.code == 0, rendered.err
    items = json.loads(rendered.out)
    items = items.get("items", [items])
    for i, experiment in enumerate(items):
        pod = pod_from_job(experiment["spec"]["trialTemplate"]["trialSpec"], namespace, f"trial-{i}")
        assert pod["spec"]["containers"][0]["name"] == CONTAINER
        done = user.kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(pod), check=False)
        assert done.returncode == 0, f"{experiment['metadata']['name']}: {done.stderr}"


@pytest.mark.parametrize(
    ("pool", "resource"),
    [({"gpu_resource": "nvidia.com/mig-1g.18gb", "gpu_sharing": "mig"}, "nvidia.com/mig-1g.18gb"),
     ({"gpu_resource": "nvidia.com/gpu.shared", "gpu_sharing": "time-slicing"}, "nvidia.com/gpu.shared")],
)  # fmt: skip
def test_a_shared_gpu_pool_is_admitted_by_katib_and_its_trial_pod_by_the_server(pool, resource, user, cli, tmp_path):
    namespace = user.namespace()
    config = tmp_path / "hpoctl.yaml"
    config.write_text(yaml.safe_dump({"node_pools": {"shared": pool}}))
    common = ["everest", "--target", "M_24h", "-n", namespace, "--config", str(config), "--node-pool", "shared"]
    rendered = cli("render", *common, "-o", "json")
    assert rendered.code == 0, rendered.err
    items = json.loads(rendered.out)
    items = items.get("items", [items])
    done = user.kubectl("create", "--dry-run=server", "-f", "-", input=rendered.out, check=False)
    assert done.returncode == 0 and done.stdout.count("created (server dry run)") == len(items), done.stderr
    pod = pod_from_job(items[0]["spec"]["trialTemplate"]["trialSpec"], namespace, "trial-shared")
    assert pod["spec"]["containers"][0]["resources"]["limits"][resource] == "1"
    done = user.kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(pod), check=False)
    assert done.returncode == 0, done.stderr


def test_pod_security_restricted_does_refuse_a_root_pod(user):
    namespace = user.namespace()
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "root", "namespace": namespace},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }
    done = user.kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(pod), check=False)
    assert done.returncode != 0 and "violates PodSecurity" in done.stderr


def test_the_helm_chart_installs_and_its_role_is_least_privilege(user):
    helm = find_helm()
    if helm is None:
        pytest.skip("no helm 3 (scripts/install-helm.sh installs it; `make test` does)")
    namespace = user.namespace(claims=False)  # the chart creates them
    done = subprocess.run(
        [
            helm,
            "install",
            "hpoctl",
            str(CHART),
            "-n",
            namespace,
            "--kubeconfig",
            str(user.kubeconfig),
            "--set",
            "rbac.subjects[0].kind=User",
            "--set",
            "rbac.subjects[0].name=alice",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert user.get("roles,rolebindings", "-n", namespace)["items"], "the chart created no Role"

    def alice_can(verb: str, resource: str, where: str = namespace) -> bool:
        answer = user.kubectl("auth", "can-i", verb, resource, "-n", where, "--as", "alice", check=False)
        return answer.stdout.strip() == "yes"

    for verb in ("create", "watch", "list", "patch", "delete"):
        assert alice_can(verb, "experiments.kubeflow.org"), verb
    assert alice_can("get", "trials.kubeflow.org") and alice_can("get", "pods/log")
    assert not alice_can("get", "secrets") and not alice_can("list", "secrets")
    assert not alice_can("create", "trials.kubeflow.org") and not alice_can("create", "pods")
    assert not alice_can("create", "experiments.kubeflow.org", user.namespace())  # namespaced, not cluster-wide
