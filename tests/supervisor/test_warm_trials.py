"""Warm trial processes (hpoctl/warm_server.py, hpoctl/warm_slot.py): a slot's trials forked from one process that
imported the trainer once behave as fresh interpreters do: the same metrics for the same seed, the same exit codes
and signals, the timeout, the grace period, children killed, and nothing outliving a SIGKILLed launcher; a trial
that crashes leaves the slot serving the next one."""

from __future__ import annotations

import json
import signal
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import yaml

from hpoctl.trial_process import run_trial_process
from hpoctl.warm_slot import WarmSlot
from tests.supervisor.test_hostile_trainers import pids, sigkill_launcher_once_started, wait_dead

HOSTILE = "tests.supervisor.hostile_trainer"
MLP = ["--target", "default", "--epochs", "2", "--n-samples", "300", "--hidden_sizes=[16]", "--threads", "1"]


@pytest.fixture
def slot():
    warm = WarmSlot(HOSTILE)
    yield warm
    warm.close()


def hostile(slot: WarmSlot, mode: str, tmp_path: Path, name: str = "trial", **kwargs):
    argv = [sys.executable, "-m", HOSTILE, mode]
    return run_trial_process(argv, tmp_path / name, grace_s=1, warm=slot, **kwargs)


def test_warm_trials_give_what_fresh_interpreters_give(tmp_path):
    """Same seed, same metrics, bit for bit, on CPU; the second warm trial reuses the slot's process."""
    command = [sys.executable, "-m", "hpoctl.trainers.mlp", *MLP, "--cache-dir", str(tmp_path / "cache")]
    warm = WarmSlot("hpoctl.trainers.mlp")
    histories, servers = [], []
    try:
        for name, slot in (("fresh", None), ("warm-1", warm), ("warm-2", warm)):
            done = run_trial_process([*command, "--output", str(tmp_path / name / "out")], tmp_path / name, warm=slot)
            assert done.ok, done.failure_reason()
            histories.append(json.loads((tmp_path / name / "out" / "metrics.json").read_text())["history"])
            servers.append(warm.server_pid)
        assert "torch" in warm.preloaded and "hpoctl.trainers.mlp.train" in warm.preloaded
    finally:
        warm.close()
    assert histories[0] == histories[1] == histories[2]
    assert servers[1] == servers[2] is not None


def test_a_crashed_trial_leaves_the_slot_serving(slot, tmp_path):
    crashed = hostile(slot, "crash", tmp_path, "crashed")
    assert crashed.exit_code == -signal.SIGSEGV and crashed.history == [{"epoch": 1.0, "loss": 0.5}]
    server = slot.server_pid
    raised = hostile(slot, "raises", tmp_path, "raised")
    assert raised.exit_code == 1 and "RuntimeError: the trainer broke" in raised.failure_reason()
    done = hostile(slot, "lines:epoch=1 loss=0.25", tmp_path, "next")
    assert done.ok and done.history == [{"epoch": 1.0, "loss": 0.25}] and slot.server_pid == server


def test_sigterm_to_one_of_two_packed_trials_stops_only_that_one(tmp_path):
    slots = [WarmSlot(HOSTILE), WarmSlot(HOSTILE)]
    stop = threading.Event()
    done: dict[str, object] = {}

    def run(key: str, warm: WarmSlot, mode: str, **kwargs) -> None:
        done[key] = hostile(warm, mode, tmp_path, key, **kwargs)

    try:
        threads = [
            threading.Thread(target=run, args=("stopped", slots[0], "sleeps"), kwargs={"stop_event": stop}),
            threading.Thread(target=run, args=("kept", slots[1], "paced")),
        ]
        for thread in threads:
            thread.start()
        threading.Timer(2.0, stop.set).start()  # the paced trial is half-way
        for thread in threads:
            thread.join(60)
    finally:
        for warm in slots:
            warm.close()
    assert done["stopped"].stopped_by_us == "interrupted" and done["stopped"].exit_code == -signal.SIGTERM
    assert done["kept"].ok and len(done["kept"].history) == 8, "the trial beside it ran to its end"


def test_a_trial_ignoring_sigterm_is_killed_with_its_children_after_the_grace_period(slot, tmp_path):
    record = tmp_path / "pids"
    done = hostile(slot, "children", tmp_path, timeout_s=1, env={"HOSTILE_PIDS": str(record)})
    assert done.stopped_by_us == "timeout" and done.exit_code == -signal.SIGKILL
    assert len(pids(record)) == 4 and wait_dead(pids(record)) == []
    assert hostile(slot, "silent-exit", tmp_path, "after").exit_code == 0


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_nothing_outlives_a_sigkilled_launcher(tmp_path):
    record = tmp_path / "pids"
    launcher = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from hpoctl.trial_process import run_trial_process
        from hpoctl.warm_slot import WarmSlot
        slot = WarmSlot({HOSTILE!r})
        run_trial_process([sys.executable, "-m", {HOSTILE!r}, "children"], Path({str(tmp_path / "trial")!r}),
                          grace_s=1, warm=slot)
        """
    )
    servers: list[int] = []

    def note_server() -> None:
        server = parent_of(pids(record)[0])
        assert "hpoctl.warm_server" in Path(f"/proc/{server}/cmdline").read_text(), "the trial was not forked warm"
        servers.append(server)

    sigkill_launcher_once_started(launcher, record, note_server)
    assert wait_dead(pids(record) + servers) == [], "processes outlived the launcher"


@pytest.mark.parametrize("warm", [True, False])
def test_a_launch_keeps_one_warm_process_per_slot_for_every_stage(warm, tmp_path, cli, monkeypatch):
    """The local backend starts its slots once: every trial of every stage is forked by the same process."""
    from tests.local.conftest import toy_spec

    parents = tmp_path / "parents"
    monkeypatch.setenv("TOY_PARENTS", str(parents))
    spec = toy_spec(
        trainer={"module": "tests.local.toy_trainer", "warm": warm},
        protocol=[{"name": "explore", "trials": 3, "epochs": 1}, {"name": "confirm", "mode": "top-k", "top_k": 1,
                                                                   "repeats": 2, "epochs": 1}],
        limits={"parallelism": 1},
    )  # fmt: skip
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert cli("launch", str(path), "-t", "small", "--results", str(tmp_path / "results")).code == 0
    found = [int(line) for line in parents.read_text().split()]
    assert len(found) == 5
    assert (len(set(found)) == 1) == warm, found
