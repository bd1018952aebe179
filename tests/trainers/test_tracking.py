"""Experiment tracking (the spec's `tracking:` entry): MLflow on a local file store and W&B offline, one run per
trial with its parameters and per-epoch metrics; an unreachable server costs the trial nothing; no key is ever
written into a spec, a manifest or the results folder."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from hpoctl.catalog import LoadedStudy
from hpoctl.config import HpoctlConfig, KatibSettings, SecretRef
from hpoctl.errors import SpecError
from hpoctl.katib.manifest_io import dump_manifests
from hpoctl.katib.render import RenderOptions, hpoctl_installation, render_experiments
from hpoctl.katib.validate import validate_experiment
from hpoctl.plan import build_plans
from hpoctl.spec.loader import validate_spec
from hpoctl.tracking_env import tracking_env
from hpoctl.trainers.common.exit_codes import ExitCode
from hpoctl.trainers.common.tracking import INSTALL, Tracker
from hpoctl.trainers.mlp.config import SPEC
from tests.conftest import BASE_SPEC

TINY = ("--target", "default", "--epochs", "2", "--seed", "3", "--n-samples", "600", "--hidden_sizes=[32,32]",
        "--threads", "1", "--lr=3e-3")  # fmt: skip
TOKEN = "secret-xyz-4f1c9a"


def tracking(backend: str, **env: str) -> dict[str, str]:
    return {
        "HPOCTL_TRACKING": backend,
        "HPOCTL_TRACKING_PROJECT": "hpoctl-tiny",
        "HPOCTL_TRACKING_GROUP": "tiny/default",
        "HPOCTL_TRACKING_RUN": "tiny-default-explore-7",
        "HPOCTL_TRACKING_TAGS": json.dumps({"team": "flares"}),
        "HPOCTL_STAGE": "explore",
        **env,
    }


@pytest.fixture
def mlflow_client(monkeypatch):
    # MLflow 3 refuses a file store unless told; the trainer says so itself for a spec's `file:` URI.
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow import MlflowClient

    return lambda store: MlflowClient(tracking_uri=store.as_uri())


def runs_of(client, project: str) -> list:
    experiment = client.get_experiment_by_name(project)
    assert experiment is not None, f"no experiment {project!r}"
    return client.search_runs([experiment.experiment_id])


@pytest.mark.slow
def test_mlflow_file_store_gets_one_run_with_params_epochs_group_and_status(trainers, tmp_path, mlflow_client):
    store = tmp_path / "mlruns"
    done = trainers.run("mlp", *TINY, env=tracking("mlflow", HPOCTL_TRACKING_URI=store.as_uri()))
    assert done.rc == ExitCode.OK, done.explain()
    done.assert_metric_lines(epochs=2, metrics=SPEC.metrics)  # stdout holds the metric lines and nothing else
    assert done.stderr_lines == []
    client = mlflow_client(store)
    [run] = runs_of(client, "hpoctl-tiny")
    assert run.info.status == "FINISHED" and run.info.run_name == "tiny-default-explore-7"
    assert run.data.params == {"lr": "0.003", "hidden_sizes": "[32, 32]", "dropout": "0.1", "batch_size": "128"}
    tags = run.data.tags
    assert tags["hpoctl.group"] == "tiny/default" and tags["hpoctl.stage"] == "explore" and tags["team"] == "flares"
    assert tags["hpoctl.target"] == "default" and tags["hpoctl.seed"] == "3"
    history = done.metrics()["history"]
    for metric in SPEC.metrics:
        logged = client.get_metric_history(run.info.run_id, metric)
        assert sorted((m.step, m.value) for m in logged) == [(e["epoch"], e[metric]) for e in history], metric


@pytest.mark.slow
def test_wandb_offline_run_holds_the_config_and_every_epoch(trainers, tmp_path):
    done = trainers.run("mlp", *TINY, env=tracking("wandb", HPOCTL_TRACKING_MODE="offline", WANDB_MODE="offline"))
    assert done.rc == ExitCode.OK, done.explain()
    done.assert_metric_lines(epochs=2, metrics=SPEC.metrics)
    assert done.stderr_lines == []
    [run_file] = (done.output / "wandb").glob("offline-run-*/run-*.wandb")  # beside the trial's outputs
    records = read_wandb(run_file)
    run = records["run"][0]
    assert (run.project, run.run_group, run.display_name) == ("hpoctl-tiny", "tiny/default", "tiny-default-explore-7")
    assert set(run.tags) == {"team:flares", "stage:explore"}
    config = {item.key: json.loads(item.value_json) for item in run.config.update}
    assert config["lr"] == 0.003 and config["hidden_sizes"] == [32, 32]
    assert config["hpoctl"]["target"] == "default" and config["hpoctl"]["seed"] == 3
    history = done.metrics()["history"]
    assert [h.step.num for h in records["history"]] == [e["epoch"] for e in history]
    logged = [{i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in h.item} for h in records["history"]]
    for entry, expected in zip(logged, history, strict=True):
        assert {m: entry[m] for m in SPEC.metrics} == pytest.approx({m: expected[m] for m in SPEC.metrics})
    assert records["exit"][0].exit_code == 0


def read_wandb(path: Path) -> dict[str, list]:
    """The records of a W&B run file by kind (`run`, `history`, `exit`, ...), read with wandb's own reader."""
    from wandb.proto import wandb_internal_pb2
    from wandb.sdk.internal import datastore

    store = datastore.DataStore()
    store.open_for_scan(str(path))
    records: dict[str, list] = {}
    try:
        while (data := store.scan_data()) is not None:
            record = wandb_internal_pb2.Record()
            record.ParseFromString(data)
            kind = record.WhichOneof("record_type")
            records.setdefault(kind, []).append(getattr(record, kind))
    finally:
        store.close()
    return records


@pytest.mark.slow
def test_an_unreachable_server_is_one_warning_and_the_trial_goes_on(trainers):
    env = tracking("mlflow", HPOCTL_TRACKING_URI="http://127.0.0.1:9", MLFLOW_HTTP_REQUEST_MAX_RETRIES="0")
    done = trainers.run("mlp", *TINY, env=env)
    assert done.rc == ExitCode.OK, done.explain()
    done.assert_metric_lines(epochs=2, metrics=SPEC.metrics)
    done.assert_one_stderr_line("warning: mlflow tracking stopped, the trial goes on untracked", "127.0.0.1:9")
    assert done.metrics()["status"] == "completed"


@pytest.mark.slow
def test_a_missing_tracking_package_fails_the_trial_at_start_with_exit_2(trainers, tmp_path):
    shadow = tmp_path / "no-mlflow" / "mlflow"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError(\"No module named 'mlflow'\", name='mlflow')\n")
    env = tracking("mlflow", HPOCTL_TRACKING_URI=(tmp_path / "mlruns").as_uri(), PYTHONPATH=str(shadow.parent))
    done = trainers.run("mlp", *TINY, env=env)
    assert done.rc == ExitCode.USAGE, done.explain()
    assert done.stdout == ""
    done.assert_one_stderr_line("trial failed: tracking with mlflow needs the mlflow package", INSTALL)


class _Failing:
    """A run whose server goes away after the first epoch."""

    def __init__(self) -> None:
        self.epochs: list[int] = []
        self.finished = False

    def log_epoch(self, epoch, metrics) -> None:
        if epoch > 1:
            raise ConnectionError("server went away")
        self.epochs.append(epoch)

    def finish(self, status, reason) -> None:
        self.finished = True


def test_a_failure_mid_trial_warns_once_then_tracks_nothing(capsys):
    run = _Failing()
    tracker = Tracker(run, "mlflow")
    for epoch in (1, 2, 3):
        tracker.log_epoch(epoch, {"epoch": epoch, "loss": 0.5})
    tracker.finish("completed", None)
    assert run.epochs == [1] and not run.finished and not tracker.active
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "warning: mlflow tracking stopped, the trial goes on untracked: ConnectionError: server went away"
    ]


def spec_with(tracking_entry) -> dict:
    raw = copy.deepcopy(BASE_SPEC)
    raw["tracking"] = tracking_entry
    return raw


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ({"backend": "wandb", "api_key": TOKEN}, "field 'api_key' looks like a secret"),
        ({"backend": "mlflow", "token": TOKEN}, "field 'token' looks like a secret"),
        ({"backend": "wandb", "tags": {"WANDB_API_KEY": TOKEN}}, "tag 'WANDB_API_KEY' looks like a secret"),
        ({"backend": "mlflow", "tags": {"db-password": TOKEN}}, "tag 'db-password' looks like a secret"),
        ({"backend": "mlflow", "uri": f"https://me:{TOKEN}@mlflow.example"}, "tracking: uri: credentials in the URI"),
    ],
)
def test_the_spec_refuses_a_key_in_one_line_without_echoing_it(entry, fragment):
    with pytest.raises(SpecError) as caught:
        validate_spec(spec_with(entry), "test.yaml")
    [problem] = caught.value.problems
    assert fragment in problem and problem.startswith("tracking: ")
    assert "WANDB_API_KEY / MLFLOW_TRACKING_TOKEN" in problem and "katib.secret_env" in problem
    assert TOKEN not in problem


def test_the_spec_entry_and_its_defaults():
    spec = validate_spec(spec_with("mlflow"), "test.yaml")
    assert spec.tracking is not None and spec.tracking.backend == "mlflow" and spec.tracking.mode == "online"
    keyword_tags = {"backend": "wandb", "tags": {"keyword": "flare", "monkey": "x", "author": "me"}}
    assert validate_spec(spec_with(keyword_tags), "test.yaml").tracking.tags["keyword"] == "flare"
    with pytest.raises(SpecError) as caught:
        validate_spec(spec_with({"backend": "comet"}), "test.yaml")
    assert caught.value.problems == ["tracking.backend: Input should be 'wandb' or 'mlflow' (got 'comet')"]
    with pytest.raises(SpecError) as caught:
        validate_spec(spec_with({"backend": "mlflow", "entity": "team"}), "test.yaml")
    assert caught.value.problems == ["tracking: entity is a W&B team or user; MLflow has none, drop it"]
    with pytest.raises(SpecError) as caught:
        validate_spec(spec_with({"backend": "mlflow", "project": "a/b"}), "test.yaml")
    assert caught.value.problems == [
        "tracking.project: 'a/b' is not a W&B name (1 to 128 characters, none of / \\ # ? % :, no leading space)"
    ]


def plans_of(raw: dict, target: str = "small"):
    return build_plans(LoadedStudy(raw, validate_spec(raw, "test.yaml"), "test.yaml"), target)


def test_the_environment_of_a_trial():
    [plan] = plans_of(spec_with({"backend": "wandb", "mode": "offline", "tags": {"team": "flares"}}))
    env = tracking_env(plan, stage="explore", run_name="toy-small-explore-4")
    assert env == {
        "HPOCTL_TRACKING": "wandb",
        "HPOCTL_TRACKING_PROJECT": "hpoctl-toy",
        "HPOCTL_TRACKING_GROUP": "toy/small",
        "HPOCTL_TRACKING_RUN": "toy-small-explore-4",
        "HPOCTL_TRACKING_MODE": "offline",
        "HPOCTL_TRACKING_TAGS": '{"team": "flares"}',
        "HPOCTL_STAGE": "explore",
    }
    [untracked] = plans_of(copy.deepcopy(BASE_SPEC))
    assert tracking_env(untracked, stage="explore", run_name="x") == {}


def test_katib_trial_gets_the_tracking_env_and_the_key_only_by_secret_reference():
    raw = spec_with({"backend": "wandb", "project": "flares", "entity": "sun-lab"})
    config = HpoctlConfig(katib=KatibSettings(secret_env={"WANDB_API_KEY": SecretRef(secret="wandb", key="api-key")}))
    rendered = render_experiments(plans_of(raw), RenderOptions(namespace="hpo", config=config))
    stages = []
    for item in rendered:
        assert validate_experiment(item.manifest, installation=hpoctl_installation()) == [], item.name
        container = item.manifest["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e for e in container["env"]}
        assert env["HPOCTL_TRACKING"] == {"name": "HPOCTL_TRACKING", "value": "wandb"}
        assert env["HPOCTL_TRACKING_PROJECT"]["value"] == "flares"
        assert env["HPOCTL_TRACKING_ENTITY"]["value"] == "sun-lab"
        assert env["HPOCTL_TRACKING_GROUP"]["value"] == "toy/small"
        stages.append(env["HPOCTL_STAGE"]["value"])
        assert "HPOCTL_TRACKING_RUN" not in env  # the trainer names the run after KATIB_TRIAL_NAME
        assert env["WANDB_API_KEY"] == {
            "name": "WANDB_API_KEY",
            "valueFrom": {"secretKeyRef": {"name": "wandb", "key": "api-key"}},
        }
    assert stages == ["explore", "confirm"]
    untracked = render_experiments(plans_of(copy.deepcopy(BASE_SPEC)), RenderOptions(namespace="hpo", config=config))
    assert "HPOCTL_TRACKING" not in dump_manifests([item.manifest for item in untracked])


@pytest.mark.slow
def test_launch_logs_one_mlflow_run_per_trial_and_writes_no_key(cli, tmp_path, monkeypatch, mlflow_client):
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", TOKEN)  # the launcher's environment reaches the trainers
    store, results = tmp_path / "mlruns", tmp_path / "results"
    spec = {
        "name": "tiny",
        "seed": 5,
        "parameters": {"lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True, "default": 3e-3}},
        "targets": {"default": {}},
        "objectives": [{"metric": "validation_error", "direction": "minimize"}],
        "algorithm": {"name": "random"},
        "protocol": [{"name": "explore", "trials": 2, "epochs": 2}],
        "trainer": {"module": "hpoctl.trainers.mlp", "args": {"hidden_sizes": 8}, "synthetic_args": {"n-samples": 300}},
        "limits": {"parallelism": 2},
        "tracking": {"backend": "mlflow", "uri": store.as_uri(), "tags": {"team": "flares"}},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = cli("launch", str(path), "--target", "default", "--results", str(results))
    assert result.code == 0, result.err
    runs = runs_of(mlflow_client(store), "hpoctl-tiny")
    assert sorted(r.info.run_name for r in runs) == ["tiny-default-explore-0", "tiny-default-explore-1"]
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert {r.data.tags["hpoctl.group"] for r in runs} == {"tiny/default"}
    # trials starting together share one experiment
    assert len(mlflow_client(store).search_experiments(filter_string="name = 'hpoctl-tiny'")) == 1
    written = [p for folder in (results, store) for p in folder.rglob("*") if p.is_file()]
    assert any(p.name == "spec.yaml" for p in written)
    assert [p for p in written if TOKEN.encode() in p.read_bytes()] == []
