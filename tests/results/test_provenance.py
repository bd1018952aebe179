"""provenance.json's contents: versions, git revision, host, seeds, UTC times, and no environment."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone

from hpoctl.results import collect_provenance
from hpoctl.results.provenance import git_revision, iso_utc
from tests.results.synthetic import forecast_plan


def test_collect_provenance(monkeypatch):
    monkeypatch.setenv("HPOCTL_TEST_TOKEN", "s3cr3t-value")
    torch_loaded = "torch" in sys.modules
    started = datetime(2025, 1, 16, 12, 0, tzinfo=timezone.utc)
    data = collect_provenance(forecast_plan(), started, started.timestamp() + 90, [42, 43])
    assert data["study"] == "forecast" and data["target"] == "NHITS_Q@heat"
    assert data["started_at"] == "2025-01-16T12:00:00Z" and data["ended_at"] == "2025-01-16T12:01:30Z"
    assert data["seeds"] == [42, 43]
    assert set(data["versions"]) == {"hpoctl", "optuna", "torch", "python"}
    assert data["versions"]["optuna"].startswith("5.")
    assert data["hostname"] and data["platform"]
    assert ("torch" in sys.modules) == torch_loaded, "collecting provenance must not import torch"
    assert "s3cr3t-value" not in json.dumps(data)


def test_git_revision(tmp_path):
    assert git_revision(str(tmp_path)) is None  # not a repository
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "a.txt").write_text("a")
    subprocess.run(["git", "-C", str(tmp_path), "add", "a.txt"], check=True)
    subprocess.run(
        ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "a"], check=True
    )
    revision = git_revision(str(tmp_path))
    assert len(revision["commit"]) == 40 and revision["dirty"] is False
    (tmp_path / "a.txt").write_text("b")
    assert git_revision(str(tmp_path))["dirty"] is True


def test_iso_utc_of_a_local_time():
    assert iso_utc(None) is None
    local = datetime(2025, 1, 16, 12, 0).astimezone()  # aware, in the machine's zone
    assert iso_utc(local) == local.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_study_provenance_names_the_trainers_code_and_the_spec(tmp_path):
    from hpoctl.results.provenance import study_provenance

    plan = forecast_plan()
    data = study_provenance(plan)
    assert data["trainer"]["module"] == plan.trainer.module and data["trainer"]["version"] == data["hpoctl"]
    assert data["trainer"]["git"] is None or len(data["trainer"]["git"]["commit"]) == 40
    assert data["accelerator"] == "cpu" and data["hostname"]
    assert data == study_provenance(plan), "the same plan hashes the same"
    other = plan.model_copy(update={"seed": plan.seed + 1})
    assert study_provenance(other)["spec_sha256"] != data["spec_sha256"]
    pinned = plan.model_copy(
        update={"trainer": plan.trainer.model_copy(update={"image": "ghcr.io/x/t@sha256:" + "ab" * 32})}
    )
    assert study_provenance(pinned)["trainer"]["image_digest"] == "sha256:" + "ab" * 32


def test_a_command_trainers_script_is_found_in_its_repository(tmp_path):
    from hpoctl.results.provenance import trainer_code
    from hpoctl.spec.study import Trainer

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    script = tmp_path / "train.py"
    script.write_text("print('epoch=1 loss=1')\n")
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run(["git", "-C", str(tmp_path), "add", "."], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "commit", "-qm", "x"], check=True, env={**env, "PATH": "/usr/bin:/bin"})
    code = trainer_code(Trainer(command=[sys.executable, str(script)]))
    head = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    assert code["git"] == {"commit": head.strip(), "dirty": False} and code["command"][1] == str(script)
