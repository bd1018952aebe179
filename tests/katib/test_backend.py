"""The Katib backend against an in-process fake of the Kubernetes API: idempotent launch, stages in
order, errors as one actionable line, status, budget, cancel and delete."""

from __future__ import annotations

import json

import pytest
import yaml

from hpoctl.backends.registry import get_backend
from hpoctl.catalog import load_study
from hpoctl.config import HpoctlConfig, KatibSettings
from hpoctl.errors import BackendError, HpoctlError, UsageError
from hpoctl.katib import names
from hpoctl.katib.backend import KatibBackend, KatibOptions
from hpoctl.katib.errors import ExperimentInvalid
from hpoctl.katib.parameters import decode_config
from hpoctl.plan import build_plans
from tests.katib.conftest import NAMESPACE

QUICK = ["quick"]


def plans(study="everest", target="all", stage=None, presets=()):
    return build_plans(load_study(study), target, stage=stage, presets=list(presets))


def trials_for(experiment: dict, condition: str = "Succeeded") -> list[dict]:
    """Trials Katib could have run for an Experiment: the i-th gets tss 0.1*i (later ones are better)."""
    spec = experiment["spec"]
    trials = []
    for i in range(spec["maxTrialCount"]):
        assignments = {}
        for param in spec["parameters"]:
            space = param["feasibleSpace"]
            assignments[param["name"]] = space["list"][i % len(space["list"])] if "list" in space else space["min"]
        trials.append(
            {
                "name": f"{experiment['metadata']['name']}-{i:08d}"[-63:],
                "condition": condition,
                "assignments": assignments,
                "metrics": {"tss": round(0.1 * i, 3), "val_loss": 1 - 0.1 * i},
                "created": f"2025-01-01T01:{i:02d}:00Z",
            }
        )
    return trials


def finish(fake, name: str, condition="Succeeded") -> None:
    experiment = fake.objects[("experiments", NAMESPACE, name)]
    fake.add_trials(NAMESPACE, name, trials_for(experiment))
    fake.set_state(NAMESPACE, name, condition)


def test_launch_twice_creates_once(backend, fake_api):
    target = plans(target="M_24h", presets=QUICK)
    first = backend.launch(target, KatibOptions()).lines()
    assert first == ["everest/M_24h: created exploration (hpo/everest-m-24h-exploration, 8 trials x 4 epochs)"]
    second = backend.launch(target, KatibOptions()).lines()
    assert second == ["everest/M_24h: exploration queued: 0/8 trials, 0 running (hpo/everest-m-24h-exploration)"]
    assert [c for c in fake_api.calls if c[0] == "create"] == [("create", "experiments", "everest-m-24h-exploration")]
    assert list(fake_api.experiments()) == ["everest-m-24h-exploration"]


def test_a_server_error_then_a_relaunch_ends_with_nine(backend, fake_api):
    exploration = plans(stage="exploration")
    fake_api.fail("create", 3, 500, "etcdserver: request timed out")
    with pytest.raises(BackendError) as caught:
        backend.launch(exploration, KatibOptions(stage="exploration"))
    message = str(caught.value)
    assert "\n" not in message and "HTTP 500" in message and "Experiment hpo/everest-c-72h-exploration" in message
    assert len(fake_api.experiments()) == 2
    lines = backend.launch(exploration, KatibOptions(stage="exploration")).lines()
    assert len(fake_api.experiments()) == 9
    assert sum(line.count(": created exploration") for line in lines) == 7
    assert sum(1 for c in fake_api.calls if c[0] == "create") == 10


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (
            lambda f: f.forbidden.add("get"),
            [
                "forbidden to get Experiment hpo/everest-m-24h-exploration",
                "kubectl auth can-i get experiments.kubeflow.org -n hpo",
            ],
        ),
        (
            lambda f: f.forbidden.add("create"),
            ["forbidden to create Experiment hpo/everest-m-24h-exploration", 'cannot create resource "experiments"'],
        ),
        (
            lambda f: setattr(f, "unreachable", True),
            [
                "cannot reach the Kubernetes API server",
                "Experiment hpo/everest-m-24h-exploration",
                "Connection refused",
                "kubectl cluster-info",
            ],
        ),
        (
            lambda f: setattr(f, "katib_installed", False),
            ["has no Katib API (experiments.kubeflow.org/v1beta1 not found)", "install Katib"],
        ),
        (
            lambda f: f.fail("create", 1, 404, 'namespaces "hpo" not found'),
            ["namespace hpo not found", "kubectl create namespace hpo"],
        ),
    ],
    ids=["forbidden-get", "forbidden-create", "unreachable", "no-crds", "no-namespace"],
)
def test_errors_are_one_actionable_line(backend, fake_api, setup, expected):
    setup(fake_api)
    with pytest.raises(BackendError) as caught:
        backend.launch(plans(target="M_24h"), KatibOptions())
    message = str(caught.value)
    assert "\n" not in message
    for part in expected:
        assert part in message


def test_cli_prints_one_line_for_a_cluster_error(cli, monkeypatch, fake_api, fake_core):
    fake_api.forbidden.add("get")
    monkeypatch.setattr("hpoctl.katib.backend.connect", lambda *a: _connection(fake_api, fake_core))
    result = cli("delete", "everest", "--target", "M_24h", "-b", "katib", "-n", "hpo", "--yes")
    assert result.code == 1 and result.err.count("\n") == 1
    assert result.err.startswith("error: forbidden to get Experiment hpo/everest-m-24h-exploration")
    result = cli("katib", "budget", "everest", "--target", "M_24h", "--max-trials", "200", "-n", "hpo")
    assert result.code == 1 and result.err.count("\n") == 1 and "forbidden to get Experiment" in result.err


def _connection(custom, core):
    from hpoctl.katib.client import Connection

    return Connection(custom, core, "hpo", "context 'test'")


def test_no_kubeconfig_is_one_line(tmp_path):
    backend = KatibBackend(config=HpoctlConfig())
    with pytest.raises(BackendError) as caught:
        backend.status(plans(target="M_24h"), KatibOptions(kubeconfig=tmp_path / "missing"))
    assert "\n" not in str(caught.value) and "cannot load kubeconfig" in str(caught.value)
    assert "--kubeconfig" in str(caught.value)


def test_conflict_from_a_concurrent_launch_is_reported_not_duplicated(backend, fake_api):
    fake_api.fail("create", 1, 409, 'experiments.kubeflow.org "everest-m-24h-exploration" already exists')
    lines = backend.launch(plans(target="M_24h"), KatibOptions()).lines()
    assert lines == ["everest/M_24h: exploration exists (hpo/everest-m-24h-exploration, created meanwhile)"]


def test_render_prints_what_would_be_applied_and_applies_nothing(fake_api, fake_core, echo):
    backend = KatibBackend(fake_api, fake_core, config=HpoctlConfig(), namespace="hpo", echo=echo)
    rendered = backend.render(plans(stage="exploration"), KatibOptions(stage="exploration", namespace="hpo"))
    docs = list(yaml.safe_load_all(rendered.text))
    assert docs == rendered.documents and {d["metadata"]["namespace"] for d in docs} == {"hpo"}
    assert len(docs) == 9 and {d["metadata"]["name"] for d in docs} == {
        names.experiment_name("everest", t, "exploration") for t in load_study("everest").spec.targets
    }
    assert not fake_api.experiments() and not [c for c in fake_api.calls if c[0] == "create"]


def test_missing_claim_stops_before_creating(fake_api, echo):
    from tests.katib.fake_kube import FakeCoreApi

    backend = KatibBackend(
        fake_api, FakeCoreApi({("hpo", "hpoctl-data")}), config=HpoctlConfig(), namespace="hpo", echo=echo
    )
    with pytest.raises(BackendError, match=r"PersistentVolumeClaim hpo/hpoctl-cache not found \(katib.cache_pvc\)"):
        backend.launch(plans(target="M_24h"), KatibOptions())
    assert not fake_api.experiments()
    config = HpoctlConfig(katib=KatibSettings(cache_pvc=None))
    backend = KatibBackend(fake_api, FakeCoreApi({("hpo", "hpoctl-data")}), config=config, namespace="hpo", echo=echo)
    assert "created exploration" in backend.launch(plans(target="M_24h"), KatibOptions()).lines()[0]


def test_invalid_experiment_is_never_applied(fake_api, fake_core, echo):
    config = HpoctlConfig(katib=KatibSettings(kubernetes_version="1.10"))
    backend = KatibBackend(fake_api, fake_core, config=config, namespace="hpo", echo=echo)
    with pytest.raises(ExperimentInvalid, match=r"cannot check against Kubernetes 1\.10"):
        backend.launch(plans(target="M_24h"), KatibOptions())
    assert not [c for c in fake_api.calls if c[0] == "create"]


def test_stages_run_in_order_and_follow_fills_in_the_top_k(fake_api, fake_core, echo):
    def sleep(seconds: float) -> None:
        # Katib's controller, between two polls: a queued Experiment runs all its trials.
        for name, experiment in fake_api.experiments().items():
            if experiment["status"]["conditions"][-1]["type"] == "Created":
                finish(fake_api, name)

    backend = KatibBackend(fake_api, fake_core, config=HpoctlConfig(), namespace="hpo", echo=echo, sleep=sleep)
    target = plans(target="M_24h", presets=QUICK)
    lines = backend.launch(target, KatibOptions(follow=True)).lines()
    assert lines == ["everest/M_24h: done (exploration, refinement, confirmation)"]
    created = [c[2] for c in fake_api.calls if c[0] == "create"]
    assert created == ["everest-m-24h-exploration", "everest-m-24h-refinement", "everest-m-24h-confirmation"]
    assert any("created refinement" in line for line in echo) and any("created confirmation" in line for line in echo)
    confirmation = fake_api.experiments()["everest-m-24h-confirmation"]
    assert confirmation["spec"]["algorithm"] == {"algorithmName": "grid"}
    assert confirmation["spec"]["maxTrialCount"] == 4  # the top 2, 2 fresh seeds each
    sources = json.loads(confirmation["metadata"]["annotations"][names.ANNOTATION_TOP_K_SOURCES])
    # refinement's trial i reported tss 0.1*i: the best two are its last two, each listed once per repeat
    best_two = ["everest-m-24h-refinement-00000003", "everest-m-24h-refinement-00000002"]
    assert sources == [best_two[0], best_two[0], best_two[1], best_two[1]]
    values = confirmation["spec"]["parameters"][0]["feasibleSpace"]["list"]
    config = decode_config(target[0].parameters, values[0])
    assert config == {
        "embed_dim": 64,
        "num_blocks": 4,
        "dropout": 0.1,
        "focal_gamma": 0.0,
        "learning_rate": 1e-05,
        "batch_size": 256,
    }
    assert names.ANNOTATION_TOP_K_PENDING not in confirmation["metadata"]["annotations"]


def test_next_stage_waits_for_the_previous(backend, fake_api):
    target = plans(target="M_24h", presets=QUICK)
    backend.launch(target, KatibOptions())
    fake_api.set_state(NAMESPACE, "everest-m-24h-exploration", "Running")
    assert "exploration running" in backend.launch(target, KatibOptions()).lines()[0]
    finish(fake_api, "everest-m-24h-exploration")
    assert "created refinement" in backend.launch(target, KatibOptions()).lines()[0]
    assert "refinement queued" in backend.launch(target, KatibOptions()).lines()[0]
    # a top-k stage named explicitly still waits for the stage it ranks
    confirmation = plans(target="M_24h", stage="confirmation", presets=QUICK)
    line = backend.launch(confirmation, KatibOptions(stage="confirmation")).lines()[0]
    assert line == "everest/M_24h: confirmation waits for 'refinement' to finish"
    assert "everest-m-24h-confirmation" not in fake_api.experiments()


def test_failed_stage_stops_the_target(backend, fake_api):
    target = plans(target="M_24h", presets=QUICK)
    backend.launch(target, KatibOptions())
    fake_api.set_state(
        NAMESPACE, "everest-m-24h-exploration", "Failed", "Experiment has failed because max failed count has reached"
    )
    line = backend.launch(target, KatibOptions(follow=True)).lines()[0]
    assert "exploration failed (Experiment has failed because max failed count has reached)" in line
    assert "everest-m-24h-refinement" not in fake_api.experiments()


def test_name_clash_between_targets_is_an_error(backend, fake_api):
    backend.launch(plans(target="M_24h"), KatibOptions())
    fake_api.objects[("experiments", NAMESPACE, "everest-m-24h-exploration")]["metadata"]["annotations"][
        names.ANNOTATION_TARGET
    ] = "m-24h"
    with pytest.raises(BackendError, match="belongs to target 'm-24h', not 'M_24h'"):
        backend.launch(plans(target="M_24h"), KatibOptions())


def test_status_rows(backend, fake_api):
    target = plans(target="M_24h", presets=QUICK)
    backend.launch(target, KatibOptions())
    name = "everest-m-24h-exploration"
    trials = trials_for(fake_api.objects[("experiments", NAMESPACE, name)])
    trials[0]["condition"], trials[1]["condition"], trials[2]["condition"] = "Failed", "EarlyStopped", "Running"
    fake_api.add_trials(NAMESPACE, name, trials)
    fake_api.set_state(NAMESPACE, name, "Running")
    fake_api.objects[("experiments", NAMESPACE, name)]["status"]["currentOptimalTrial"] = {
        "bestTrialName": trials[-1]["name"],
        "observation": {"metrics": [{"name": "tss", "min": "0.2", "max": "0.7", "latest": "0.6"}]},
    }
    rows = backend.status(target, KatibOptions())
    assert [(r.stage, r.state) for r in rows] == [
        ("exploration", "running"),
        ("refinement", "not started"),
        ("confirmation", "not started"),
    ]
    row = rows[0]
    assert (row.trials_done, row.trials_budget, row.running, row.failed, row.pruned) == (7, 8, 1, 1, 1)
    assert row.best == 0.7 and row.detail == "hpo/everest-m-24h-exploration"


def test_budget_patches_the_running_experiment(backend, fake_api):
    target = plans(target="M_24h", presets=QUICK)
    backend.launch(target, KatibOptions())
    name = "everest-m-24h-exploration"
    lines = backend.budget(target, KatibOptions(), max_trials=20, parallel=4)
    assert lines == [f"everest/M_24h: Experiment hpo/{name}: maxTrialCount 8 -> 20, parallelTrialCount 2 -> 4"]
    spec = fake_api.objects[("experiments", NAMESPACE, name)]["spec"]
    assert (spec["maxTrialCount"], spec["parallelTrialCount"]) == (20, 4)
    fake_api.add_trials(NAMESPACE, name, trials_for({"metadata": {"name": name}, "spec": spec})[:12])
    with pytest.raises(UsageError, match="--max-trials must be greater than its 12 trials, got 10"):
        backend.budget(target, KatibOptions(), max_trials=10)
    with pytest.raises(UsageError, match="--parallel 30 must not exceed maxTrialCount 20"):
        backend.budget(target, KatibOptions(), parallel=30)
    with pytest.raises(UsageError, match="needs --max-trials and/or --parallel"):
        backend.budget(target, KatibOptions())


def test_budget_of_a_finished_experiment(backend, fake_api):
    target = plans(target="M_24h", presets=QUICK)
    backend.launch(target, KatibOptions())
    finish(fake_api, "everest-m-24h-exploration")
    with pytest.raises(BackendError, match="no running Experiment in hpo; name one with --stage"):
        backend.budget(target, KatibOptions(), max_trials=20)
    one = plans(target="M_24h", stage="exploration", presets=QUICK)
    assert "maxTrialCount 8 -> 20" in backend.budget(one, KatibOptions(stage="exploration"), max_trials=20)[0]
    fake_api.objects[("experiments", NAMESPACE, "everest-m-24h-exploration")]["spec"]["resumePolicy"] = "Never"
    with pytest.raises(BackendError, match="resumePolicy is Never; Katib restarts only LongRunning or FromVolume"):
        backend.budget(one, KatibOptions(stage="exploration"), max_trials=30)


def test_delete_pulls_first(backend, fake_api, tmp_path, no_plots):
    target = plans(target="M_24h", presets=QUICK)
    backend.launch(target, KatibOptions())
    finish(fake_api, "everest-m-24h-exploration")
    backend.launch(target, KatibOptions())
    lines = backend.delete(target, KatibOptions(results_dir=tmp_path / "results"))
    assert lines[0].startswith("everest/M_24h: pulled 8 trials (complete 8)")
    assert lines[1:] == [
        "everest/M_24h: deleted hpo/everest-m-24h-exploration",
        "everest/M_24h: deleted hpo/everest-m-24h-refinement",
    ]
    assert (tmp_path / "results" / "everest" / "M_24h" / "best_params.json").exists()
    assert not fake_api.experiments()
    assert backend.delete(target, KatibOptions()) == ["everest/M_24h: no Experiments to delete in hpo"]


def test_delete_without_pull_and_cancel(backend, fake_api, tmp_path, no_plots):
    target = plans(target="M_24h", presets=QUICK)
    backend.launch(target, KatibOptions())
    lines = backend.delete(target, KatibOptions(results_dir=tmp_path, no_pull=True))
    assert lines == ["everest/M_24h: deleted hpo/everest-m-24h-exploration"] and not list(tmp_path.iterdir())
    backend.launch(target, KatibOptions())
    name = "everest-m-24h-exploration"
    trials = trials_for(fake_api.objects[("experiments", NAMESPACE, name)])
    trials[-1]["condition"] = "Running"
    fake_api.add_trials(NAMESPACE, name, trials)
    fake_api.set_state(NAMESPACE, name, "Running")
    lines = backend.cancel(target, KatibOptions(results_dir=tmp_path / "r"))
    assert "pulled 7 trials" in lines[0] and "1 still running (not pulled)" in lines[0]
    assert lines[1] == f"everest/M_24h: cancelled hpo/{name}"
    assert backend.cancel(target, KatibOptions()) == ["everest/M_24h: nothing running"]


def test_registry_builds_the_katib_backend():
    backend = get_backend("katib")
    assert isinstance(backend, KatibBackend) and backend.name == "katib"


def test_validation_error_type_is_in_the_tree():
    assert issubclass(ExperimentInvalid, HpoctlError)


def test_follow_stops_at_the_timeout_and_n_jobs_sets_parallelism(fake_api, fake_core, echo):
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    backend = KatibBackend(
        fake_api,
        fake_core,
        config=HpoctlConfig(),
        namespace="hpo",
        echo=echo,
        sleep=sleep,
        clock=lambda: now[0],
        poll_seconds=10,
    )
    lines = backend.launch(plans(target="M_24h"), KatibOptions(follow=True, timeout=35, n_jobs=7)).lines()
    assert lines == [
        "everest/M_24h: exploration queued: 0/120 trials, 0 running (hpo/everest-m-24h-exploration); "
        "stopped following after --timeout (the Experiments go on)"
    ]
    assert now[0] == 40
    assert fake_api.experiments()["everest-m-24h-exploration"]["spec"]["parallelTrialCount"] == 7


def test_no_resume_refuses_an_existing_experiment(backend):
    backend.launch(plans(target="M_24h"), KatibOptions())
    with pytest.raises(BackendError, match="exists and --no-resume was given; delete it first"):
        backend.launch(plans(target="M_24h"), KatibOptions(resume=False))
