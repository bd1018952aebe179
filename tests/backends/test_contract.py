"""The contract every backend keeps, judged on each against its real system: the local backend on this machine,
SLURM on the real single-node cluster (tests/slurm/cluster.py), Katib on the real API server with Katib's own
admission webhooks (tests/kube/testenv.py; no kubelet runs, so the trials are finished as Katib's controller
would record them, tests/kube/katib_status.py). Through `Backend` alone, as the CLI uses it: render applies
nothing; launch says what it created; a relaunch creates nothing more; status judges the stage against its own
budget; results land in the one layout; cancel keeps every completed trial; delete is done or refused by name."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from hpoctl.backends._base import LAUNCH_ACTIONS, Backend, BackendUnsupported, Launched, Options, Rendered
from hpoctl.backends.registry import get_backend
from hpoctl.catalog import load_study
from hpoctl.plan import Plan, build_plans
from hpoctl.results import layout
from hpoctl.results.reader import load_results
from tests.slurm.conftest import toy_study

TRIALS = 4


def toy_plan(folder: Path) -> Plan:
    """One target, one search stage of TRIALS toy trials (the torch-free trainer every backend can run here), from
    a spec file as a user's would be: a SLURM job reads it on the compute node."""
    raw = toy_study(
        "contract",
        protocol=[{"name": "search", "trials": TRIALS, "epochs": 2}],
        limits={"parallelism": 2, "max_failed_trials": 1},
    )
    path = folder / "contract.yaml"
    path.write_text(yaml.safe_dump(raw))
    (plan,) = build_plans(load_study(str(path)), "default")
    return plan


@dataclass
class Subject:
    """A backend, the options that point it at its real system, and how that system runs a launched stage to
    its end (the local backend's launch already has)."""

    backend: Backend
    options: Options
    run_to_end: Callable[[Plan], None]


def local_subject(request, tmp_path: Path) -> Subject:
    from hpoctl.backends.local import LocalOptions

    return Subject(get_backend("local"), LocalOptions(results_dir=tmp_path / "results"), lambda plan: None)


def slurm_subject(request, tmp_path: Path) -> Subject:
    from hpoctl.slurm.backend import SlurmOptions
    from hpoctl.slurm.jobs import read_jobs

    cluster = request.getfixturevalue("slurm_cluster")
    config = tmp_path / "hpoctl.yaml"
    config.write_text(yaml.safe_dump({"slurm": {"partition": "over", "poll_interval": 1, "signal_grace": 30}}))
    results = tmp_path / "results"
    request.getfixturevalue("monkeypatch").setenv("TOY_EPOCH_SLEEP", "0.05")

    def run_to_end(plan: Plan) -> None:
        for job in read_jobs(results, plan.study).for_target(plan.target):
            cluster.wait(job.job_id, timeout=180)

    return Subject(get_backend("slurm"), SlurmOptions(results_dir=results, runtime="none", config=config), run_to_end)


def katib_subject(request, tmp_path: Path) -> Subject:
    from hpoctl.katib import names
    from hpoctl.katib.backend import KatibOptions
    from tests.kube.katib_status import finish

    user = request.getfixturevalue("user")
    namespace = user.namespace()

    def run_to_end(plan: Plan) -> None:
        for stage in plan.stages:
            finish(user, namespace, names.experiment_name(plan.study, plan.target, stage.name))

    options = KatibOptions(results_dir=tmp_path / "results", namespace=namespace, kubeconfig=user.kubeconfig)
    return Subject(get_backend("katib"), options, run_to_end)


SUBJECTS = {
    "local": local_subject,
    "slurm": pytest.param(slurm_subject, marks=pytest.mark.slurm),
    "katib": katib_subject,
}


@pytest.fixture(params=list(SUBJECTS.values()), ids=list(SUBJECTS))
def subject(request, tmp_path) -> Subject:
    return request.param(request, tmp_path)


def _created(launched: Launched) -> list[str]:
    return [e.action for e in launched.events if e.action in ("created", "submitted")]


def test_render_shows_the_stage_and_applies_nothing(subject, tmp_path):
    plan = toy_plan(tmp_path)
    rendered = subject.backend.render([plan], subject.options)
    assert isinstance(rendered, Rendered) and rendered.text.strip() and rendered.json_data()
    json.dumps(rendered.json_data())  # what `-o json` prints
    assert not layout.storage_exists(layout.target_dir(subject.options.results_dir, plan.study, plan.target))
    (row,) = subject.backend.status([plan], subject.options)
    assert row.trials_done == 0 and row.state == "not started", row


def test_one_lifecycle_through_the_interface(subject, tmp_path):
    plan, backend, options = toy_plan(tmp_path), subject.backend, subject.options
    launched = backend.launch([plan], options)
    assert launched.backend == backend.name and launched.events, launched
    assert all(e.action in LAUNCH_ACTIONS and e.target == plan.target for e in launched.events)
    assert _created(launched) or backend.name == "local", launched.to_data()
    subject.run_to_end(plan)

    again = backend.launch([plan], options)
    assert not _created(again), f"a relaunch of a finished stage created something: {again.to_data()}"

    (row,) = backend.status([plan], options)
    assert (row.study, row.target) == (plan.study, plan.target)
    assert (row.trials_done, row.trials_budget, row.failed) == (TRIALS, TRIALS, 0), row
    assert row.state in ("done", "succeeded"), row

    lines = backend.results([plan], options)
    assert lines and all(isinstance(line, str) for line in lines)
    out_dir = layout.target_dir(options.results_dir, plan.study, plan.target)
    loaded = load_results(out_dir)
    assert loaded.best["n_trials"] == TRIALS and loaded.best["best_params"].keys() == {"x", "y"}
    assert (out_dir / layout.TRIALS_CSV).is_file()
    study = layout.load_folder_study(out_dir)
    assert study is not None and len(study.get_trials(deepcopy=False)) == TRIALS

    backend.cancel([plan], options)
    (after,) = backend.status([plan], options)
    assert after.trials_done == TRIALS, f"cancel lost completed trials: {after}"
    assert len(layout.load_folder_study(out_dir).get_trials(deepcopy=False)) == TRIALS

    if backend.supports("delete"):
        assert backend.delete([plan], options)
        assert len(layout.load_folder_study(out_dir).get_trials(deepcopy=False)) == TRIALS
    else:
        with pytest.raises(BackendUnsupported, match=f"the {backend.name} backend does not"):
            backend.delete([plan], options)
