"""The command line: version, plan, usage errors, unknown names."""

from __future__ import annotations

import json

import pytest
import yaml


def test_version(cli):
    result = cli("--version")
    assert result.code == 0 and result.out.startswith("hpoctl ")


def test_plan_applies_presets_and_overrides(cli):
    result = cli(
        "plan", "everest", "--target", "M_24h", "--preset", "quick", "--set", "limits.parallelism=3", "-o", "json"
    )
    assert result.code == 0, result.err
    plan = json.loads(result.out)
    assert plan["target"] == "M_24h" and plan["target_args"] == {"flare-class": "M", "window": 24}
    assert [(s["name"], s["trials"], s["epochs"]) for s in plan["stages"]] == [
        ("exploration", 8, 4),
        ("refinement", 4, 6),
        ("confirmation", 4, 8),  # the top 2, each with 2 fresh seeds
    ]
    assert plan["limits"]["parallelism"] == 3
    assert plan["presets"] == ["quick"]


def test_plan_one_stage_and_all_targets(cli):
    result = cli("plan", "everest", "--target", "all", "--stage", "refinement", "-o", "yaml")
    assert result.code == 0
    plans = yaml.safe_load(result.out)
    assert len(plans) == 9
    assert all([s["name"] for s in p["stages"]] == ["refinement"] for p in plans)
    assert plans[0]["stages"][0]["previous"] == "exploration"


def test_unknown_target_lists_valid_ones(cli):
    result = cli("plan", "everest", "--target", "Q_24h")
    assert result.code == 1
    assert result.err.count("\n") == 1
    assert "unknown target 'Q_24h'" in result.err and "M_24h" in result.err and "all" in result.err


def test_unknown_stage_and_preset(cli):
    result = cli("plan", "everest", "--target", "M_24h", "--stage", "warmup")
    assert result.code == 1 and "unknown stage 'warmup'" in result.err and "exploration" in result.err
    result = cli("plan", "everest", "--target", "M_24h", "--preset", "fast")
    assert result.code == 1 and "unknown preset 'fast'" in result.err and "quick" in result.err


def test_override_that_breaks_the_spec_names_the_field(cli):
    result = cli("plan", "everest", "--target", "M_24h", "--set", "algorithm.name=bayes")
    assert result.code == 1 and "algorithm.name" in result.err
    result = cli("plan", "everest", "--target", "M_24h", "--set", "nonsense")
    assert result.code == 2 and "--set expects KEY.PATH=VALUE" in result.err


def test_set_reaches_a_stage_by_index_or_by_name(cli):
    result = cli(
        "plan", "everest", "--target", "M_24h", "--set", "protocol.0.trials=3",
        "--set", "protocol.confirmation.epochs=9", "-o", "json",
    )  # fmt: skip
    assert result.code == 0, result.err
    stages = {s["name"]: (s["trials"], s["epochs"]) for s in json.loads(result.out)["stages"]}
    assert stages["exploration"][0] == 3 and stages["confirmation"][1] == 9
    assert stages["refinement"] == (40, 60)
    for item in ("protocol.3.trials=1", "protocol.nonesuch.trials=1"):
        result = cli("plan", "everest", "--target", "M_24h", "--set", item)
        assert result.code == 2 and result.err.count("\n") == 1, result.err
        assert "protocol has 3 items (0-2, or by name: exploration, refinement, confirmation)" in result.err


def test_usage_errors_exit_2_with_one_line(cli):
    result = cli("plan", "everest", "--frobnicate")
    assert result.code == 2
    assert result.err.strip().count("\n") == 0 and "--frobnicate" in result.err
    result = cli("plan")
    assert result.code == 2 and "Missing argument" in result.err


def test_studies_show_table(cli):
    result = cli("studies", "show", "csi", "-o", "table")
    assert result.code == 0 and "weight_decay" in result.out


@pytest.mark.parametrize(
    ("targets", "expected"),
    [
        (["M_*"], ["M_24h", "M_48h", "M_72h"]),
        (["C_24h,X_72h"], ["C_24h", "X_72h"]),
        (["X_72h", "C_24h"], ["C_24h", "X_72h"]),  # repeatable, in the spec's order
        (["?_48h", "M_48h"], ["C_48h", "M_48h", "X_48h"]),  # once each
        (["all"], ["C_24h", "C_48h", "C_72h", "M_24h", "M_48h", "M_72h", "X_24h", "X_48h", "X_72h"]),
    ],
)
def test_targets_are_selected_by_names_lists_and_patterns(cli, targets, expected):
    args = [word for target in targets for word in ("--target", target)]
    done = cli("plan", "everest", *args, "-o", "json")
    assert done.code == 0, done.err
    assert [plan["target"] for plan in json.loads(done.out)] == expected


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["plan", "everest", "-t", "Q_*"], 2, "--target 'Q_*' matches no target of study 'everest'"),
        (["plan", "everest", "-t", ","], 2, "--target is empty"),
        (["plan", "everest", "-t", "M_24h,M_25h"], 1, "unknown target 'M_25h'"),
        (["train-best", "everest", "-t", "M_*"], 2, "train-best takes one target, and --target selects 3"),
        (["results", "show", "everest", "-t", "all"], 2, "`hpoctl results compare` shows them all"),
    ],
)
def test_a_target_selection_that_does_not_fit_is_one_line(cli, args, code, fragment):
    done = cli(*args)
    assert done.code == code and fragment in done.err and done.err.count("\n") == 1, done.err


@pytest.mark.parametrize(
    ("total", "expected"),
    [
        (None, [120, 40, 18]),
        (178, [120, 40, 18]),
        (166, [114, 37, 15]),  # seed 000's --max-trials 166: the whole budget of the target, every stage in it
        (20, [13, 4, 3]),
        (5, [1, 1, 3]),  # the least the protocol runs: a trial per search stage, the confirmation's 3 seeds
    ],
)
def test_max_trials_is_the_targets_total_shared_over_its_stages(cli, total, expected):
    args = ["--max-trials", str(total)] if total else []
    done = cli("plan", "everest", "-t", "M_24h", *args, "-o", "json")
    assert done.code == 0, done.err
    stages = json.loads(done.out)["stages"]
    assert [s["trials"] for s in stages] == expected and sum(expected) <= (total or sum(expected))
    assert stages[-1]["trials"] % stages[-1]["repeats"] == 0


def test_a_total_below_what_the_stages_need_is_one_line(cli):
    done = cli("plan", "everest", "-t", "M_24h", "--max-trials", "4")
    assert done.code == 1 and done.err.count("\n") == 1
    assert "limits.max_trials: 4 trials in all is fewer than the stages need, 5" in done.err


def test_debug_after_the_command_shows_the_traceback_and_without_it_one_line():
    import subprocess
    import sys

    argv = [sys.executable, "-m", "hpoctl", "plan", "everest", "-t", "M_25h"]
    plain = subprocess.run(argv, capture_output=True, text=True)
    debug = subprocess.run([*argv, "--debug"], capture_output=True, text=True)
    assert plain.returncode == 1 and plain.stderr.count("\n") == 1 and "Traceback" not in plain.stderr
    assert "Traceback" in debug.stderr and "UnknownNameError" in debug.stderr


def test_verbose_says_what_runs(tmp_path, cli):
    from tests.local.conftest import toy_spec

    spec = tmp_path / "toy.yaml"
    spec.write_text(yaml.safe_dump(toy_spec(protocol=[{"name": "explore", "trials": 2, "epochs": 1}])))
    done = cli("launch", str(spec), "-t", "small", "--results", str(tmp_path / "r"), "-v")
    assert done.code == 0, done.err
    lines = [line for line in done.err.splitlines() if line.startswith("trial ") and "(logs in " in line]
    assert len(lines) == 2 and "toy_trainer.py --target small --epochs 1" in lines[0]
    quiet = cli("launch", str(spec), "-t", "small", "--results", str(tmp_path / "q"))
    assert "(logs in " not in quiet.err
