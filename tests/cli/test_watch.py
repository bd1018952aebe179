"""`hpoctl watch`: when a study is over, the time left, `--once -o json`, and the live view in a real terminal
(tmux) while a real local launch runs: it refreshes until the study is done, and Ctrl-C leaves it."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from hpoctl.backends import StageStatus
from hpoctl.eta import StagePace, format_eta, remaining_seconds
from hpoctl.watching import Snapshot
from tests.local.conftest import toy_spec

HPOCTL = str(Path(sys.executable).with_name("hpoctl"))


def row(target: str, state: str, stage: str | None = "explore", done: int = 0) -> StageStatus:
    return StageStatus("toy", target, stage, state, done, 10)


@pytest.mark.parametrize(
    ("states", "finished"),
    [
        ({"a": ["done"], "b": ["done"]}, True),
        ({"a": ["done"], "b": ["running"]}, False),
        ({"a": ["done"], "b": ["not started"]}, True),  # a launch of some targets only
        ({"a": ["not started"], "b": ["not started"]}, False),  # waiting for a launch
        ({"a": ["stopped"]}, False),  # a relaunch resumes it
        ({"a": ["done", "not started"]}, False),  # Katib: the next stage's Experiment is still to come
        ({"a": ["failed", "not started"], "b": ["done"]}, True),
        ({"a": ["done"], "b": ["queued"]}, False),
    ],
)
def test_a_study_is_over_when_every_started_target_is(states, finished):
    rows = [row(t, s, stage=f"s{i}") for t, ss in states.items() for i, s in enumerate(ss)]
    assert Snapshot("toy", "local", rows).finished is finished


def test_time_left_goes_by_the_pace_so_far_scaled_by_epochs():
    # 4 of 10 trials in 100 s: 6 more at 25 s; then 5 trials of twice the epochs at 50 s each.
    paces = [StagePace(10, 10, 4, 100.0), StagePace(20, 5, 0, None)]
    assert remaining_seconds(paces) == pytest.approx(6 * 25 + 5 * 50)
    assert remaining_seconds([StagePace(10, 10, 0, None)]) is None
    assert remaining_seconds([StagePace(10, 10, 10, 100.0)]) == 0
    assert [format_eta(s) for s in (None, 42, 200, 7260, 200_000)] == ["-", "42s", "3m 20s", "2h 01m", "2d 07h"]


def test_watch_once_as_json_and_bad_flags(cli, tmp_path):
    spec = tmp_path / "toy.yaml"
    spec.write_text(yaml.safe_dump(toy_spec()))
    result = cli("watch", str(spec), "--results", str(tmp_path / "r"), "--once", "-o", "json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert (data["study"], data["backend"], data["finished"], data["active"]) == ("toy", "local", False, False)
    assert [(r["target"], r["state"], r["trials_budget"]) for r in data["rows"]] == [
        ("large", "not started", 15),
        ("small", "not started", 15),
    ]
    assert cli("watch", str(spec), "--target", "nope*", "--once").code == 2
    bad = cli("watch", str(spec), "-o", "json")
    assert bad.code == 2 and "--once" in bad.err


@pytest.fixture
def tmux(tmp_path):
    """A tmux server of the test's own; its windows run commands in a real terminal."""
    if shutil.which("tmux") is None:
        if os.environ.get("CI"):
            pytest.fail("tmux is missing: `make system-deps` installs it")
        pytest.skip("tmux is not installed (make system-deps)")
    socket = str(tmp_path / "tmux.sock")

    def run(*args: str) -> str:
        return subprocess.run(["tmux", "-S", socket, *args], check=True, capture_output=True, text=True).stdout

    yield run
    subprocess.run(["tmux", "-S", socket, "kill-server"], capture_output=True)


def start_window(tmux, name: str, command: list[str], rc_file: Path) -> None:
    shell = f"{shlex.join(command)}; echo $? > {shlex.quote(str(rc_file))}; sleep 600"
    tmux("new-session", "-d", "-s", name, "-x", "140", "-y", "20", shell)


def showing(tmux, window: str, text: str) -> str | None:
    screen = tmux("capture-pane", "-p", "-t", window)
    return screen if text in screen else None


def wait_for(condition, what: str, limit: float = 120.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"never saw {what}")


def test_the_live_view_follows_a_launch_until_done_and_ctrl_c_leaves_it(tmux, tmp_path):
    spec = tmp_path / "toy.yaml"
    protocol = [{"name": "explore", "trials": 6, "epochs": 3}]
    spec.write_text(yaml.safe_dump(toy_spec(targets={"small": {"args": {"size": 1}}}, protocol=protocol)))
    results = tmp_path / "results"
    common = [str(spec), "--results", str(results)]
    env = {**os.environ, "TOY_EPOCH_SLEEP": "0.3"}
    log = tmp_path / "launch.log"
    with log.open("w") as stderr:
        launch = subprocess.Popen([HPOCTL, "launch", *common, "--target", "small"], env=env, stderr=stderr)
    try:
        start_window(tmux, "follow", [HPOCTL, "watch", *common, "-n", "0.3"], tmp_path / "follow.rc")
        start_window(tmux, "leave", [HPOCTL, "watch", *common, "-n", "0.3"], tmp_path / "leave.rc")
        screen = wait_for(lambda: showing(tmux, "leave", "running"), "a running row")
        assert "toy on local" in screen and "Ctrl-C to leave" in screen
        tmux("send-keys", "-t", "leave", "C-c")
        wait_for((tmp_path / "leave.rc").exists, "the watch leaving on Ctrl-C")
        assert (tmp_path / "leave.rc").read_text().strip() == "0"
        assert "stopped watching; the study goes on" in tmux("capture-pane", "-p", "-t", "leave")
        assert launch.wait(timeout=300) == 0, log.read_text()
    finally:
        launch.kill()
    wait_for((tmp_path / "follow.rc").exists, "the watch ending when the study is done", limit=60)
    assert (tmp_path / "follow.rc").read_text().strip() == "0"
    screen = tmux("capture-pane", "-p", "-t", "follow")
    assert "6/6" in screen and "finished" in screen and "toy: done" in screen


def test_kubectl_finds_hpoctl_as_its_hpo_plugin(kube_tools, tmp_path):
    """`kubectl hpo watch` is the same application, through kubectl's plugin lookup of `kubectl-hpo` on PATH."""
    spec = tmp_path / "toy.yaml"
    spec.write_text(yaml.safe_dump(toy_spec()))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    kubectl = str(kube_tools / "bin" / "kubectl")
    done = subprocess.run(
        [kubectl, "hpo", "watch", str(spec), "--results", str(tmp_path / "r"), "--once", "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["study"] == "toy"
    usage = subprocess.run([kubectl, "hpo", "watch", "--interval", "0"], env=env, capture_output=True, text=True)
    assert usage.returncode == 2 and "kubectl hpo watch" in usage.stderr
