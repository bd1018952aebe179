"""The command line: version, plan, usage errors, unknown names."""

from __future__ import annotations

import json

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
