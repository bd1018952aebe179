"""Every built-in study loads, validates with each preset, and carries its seed's requirements."""

from __future__ import annotations

import json

import pytest

from hpoctl.catalog import builtin_names, load_study
from hpoctl.plan import build_plans

STUDIES = ["csi", "everest", "forecast", "mlp", "transfer"]


def test_catalog_lists_the_five_studies(cli):
    assert builtin_names() == STUDIES
    result = cli("studies", "list", "-o", "json")
    assert result.code == 0
    assert [row["name"] for row in json.loads(result.out)] == STUDIES


@pytest.mark.parametrize("name", STUDIES)
def test_every_study_and_preset_validates_and_plans(name, cli):
    assert cli("validate", name).code == 0
    study = load_study(name)
    for preset in [None, *study.spec.presets]:
        plans = build_plans(study, "all", presets=[preset] if preset else [])
        assert len(plans) == len(study.spec.targets)
        for plan in plans:
            assert plan.stages and plan.parameters


def test_everest_matches_seed_000(cli):
    result = cli("studies", "show", "everest", "-o", "json")
    assert result.code == 0
    spec = json.loads(result.out)
    params = spec["parameters"]
    assert {k: (v["type"], v.get("low"), v.get("high"), v.get("choices"), v["default"]) for k, v in params.items()} == {
        "embed_dim": ("int", 64, 256, None, 128),
        "num_blocks": ("int", 4, 12, None, 6),
        "dropout": ("float", 0.1, 0.5, None, 0.2),
        "focal_gamma": ("float", 0.0, 3.0, None, 1.0),
        "learning_rate": ("float", 1e-5, 1e-2, None, 3e-4),
        "batch_size": ("categorical", None, None, [256, 512, 1024], 512),
    }
    assert sorted(spec["targets"]) == sorted(f"{c}_{w}h" for c in "CMX" for w in (24, 48, 72))
    assert spec["targets"]["M_24h"]["args"] == {"flare-class": "M", "window": 24}
    assert [(s["name"], s.get("trials"), s.get("top_k"), s["epochs"], s["mode"]) for s in spec["protocol"]] == [
        ("exploration", 120, None, 20, "continue"),
        ("refinement", 40, None, 60, "continue"),
        ("confirmation", None, 6, 120, "top-k"),
    ]
    assert spec["objectives"][0]["metric"] == "tss" and spec["objectives"][0]["direction"] == "maximize"
    assert spec["algorithm"] == {"name": "tpe", "settings": {"n_startup_trials": 20, "seed": 42}}
    assert spec["early_stopping"]["name"] == "median"
    assert spec["early_stopping"]["settings"]["warmup_steps"] == 5
    assert spec["limits"]["timeout"] == 24 * 3600
    assert spec["resources"]["gpu"] == 1


def test_forecast_matches_seed_001():
    spec = load_study("forecast").spec
    assert sorted(spec.targets) == sorted(
        f"{m}@{d}" for m in ("NHITS_Q", "TFT_Q", "TIMESNET_Q") for d in ("heat", "water_centrum", "water_tommerby")
    )
    assert {name: sorted(space) for name, space in spec.search_spaces.items()} == {
        "NHITS_Q": sorted(
            [
                "num_stacks",
                "num_blocks",
                "layer_widths",
                "pooling_kernel_sizes",
                "learning_rate",
                "dropout",
                "batch_size",
            ]
        ),
        "TFT_Q": sorted(["hidden_size", "lstm_layers", "attention_heads", "dropout", "learning_rate"]),
        "TIMESNET_Q": sorted(["hidden_size", "conv_hidden_size", "num_kernels", "top_k", "learning_rate"]),
    }
    nhits = spec.search_spaces["NHITS_Q"]
    assert (nhits["num_stacks"].low, nhits["num_stacks"].high) == (2, 5)
    assert nhits["learning_rate"].log and (nhits["learning_rate"].low, nhits["learning_rate"].high) == (
        1e-5,
        1e-2,
    )
    assert spec.search_spaces["TFT_Q"]["hidden_size"].choices == [32, 64, 128, 256]
    assert spec.search_spaces["TIMESNET_Q"]["top_k"].high == 5
    assert [(o.metric, o.optimised_direction, o.target) for o in spec.objectives] == [
        ("mae", "minimize", None),
        ("picp", "minimize", 0.80),
    ]
    assert spec.protocol[0].trials == 50
    assert spec.trainer.args["walk-forward-steps"] == 10
    plan = build_plans(load_study("forecast"), "TFT_Q@heat")[0]
    assert sorted(plan.parameters) == sorted(spec.search_spaces["TFT_Q"])


def test_csi_matches_seed_002():
    spec = load_study("csi").spec
    p = spec.parameters
    assert p["architecture"].choices == ["ResNet50", "CheXNet", "Custom_1"]
    assert p["optimizer"].choices == ["adam", "adamw", "sgd"]
    assert (p["learning_rate"].low, p["learning_rate"].high, p["learning_rate"].log) == (1e-5, 1e-1, True)
    assert p["weight_decay"].when == {"optimizer": ["adamw", "sgd"]}
    assert p["momentum"].when == {"optimizer": ["sgd"]} and (p["momentum"].low, p["momentum"].high) == (
        0.5,
        0.99,
    )
    assert p["batch_size"].choices == [16, 32, 64, 128]
    assert (p["patience"].low, p["patience"].high) == (5, 20)
    assert (p["unknown_weight"].low, p["unknown_weight"].high) == (0.1, 1.0)
    assert spec.objectives[0].metric == "val_f1" and spec.objectives[0].direction == "maximize"
    study = load_study("csi")
    for preset, algorithm, pruner in [
        ("random", "random", "median"),
        ("cmaes", "cmaes", "median"),
        ("successive-halving", "multivariate-tpe", "successive-halving"),
        ("no-pruning", "multivariate-tpe", "none"),
    ]:
        plan = build_plans(study, "default", presets=[preset])[0]
        assert (plan.algorithm.name, plan.early_stopping.name) == (algorithm, pruner)
    # auto, with group decomposition for the optimizer's conditional parameters; quick's start-up trials carried over
    (quick,) = build_plans(study, "default", presets=["quick"])
    assert quick.algorithm.settings == {"seed": 42, "n_startup_trials": 4, "group": True}
    assert quick.algorithm_choice.startswith("auto -> multivariate-tpe")


def test_mlp_matches_seed_003():
    spec = load_study("mlp").spec
    p = spec.parameters
    assert (p["lr"].low, p["lr"].high, p["lr"].log) == (1e-4, 1e-2, True)
    assert p["hidden_sizes"].choices == [[64, 64], [128, 128], [256, 256]]
    assert (p["dropout"].low, p["dropout"].high) == (0.0, 0.5)
    assert spec.algorithm.name == "random"
    assert spec.objectives[0].metric == "validation_error" and spec.objectives[0].direction == "minimize"
    assert spec.resources.gpu == 0


def test_transfer_matches_seed_004():
    spec = load_study("transfer").spec
    p = spec.parameters
    assert p["encoder_latent_dim"].choices == [64, 128, 256] and p["encoder_latent_dim"].default == 128
    assert p["encoder_hidden_dims"].choices == ["512_256", "1024_512_256", "256_128"]
    assert (p["encoder_dropout"].low, p["encoder_dropout"].high, p["encoder_dropout"].default) == (
        0.15,
        0.35,
        0.2,
    )
    assert (p["chi_head_dropout"].low, p["chi_head_dropout"].high) == (0.05, 0.25)
    assert (p["lr_pretrain"].low, p["lr_pretrain"].high, p["lr_pretrain"].log) == (5e-4, 2e-3, True)
    assert (p["weight_decay"].low, p["weight_decay"].high, p["weight_decay"].log) == (1e-5, 1e-3, True)
    objective = spec.objectives[0]
    assert objective.direction == "minimize"
    assert objective.reported_metrics == ["exp_mae", "sol_f1", "sol_recall", "stage1_mae"]
    assert spec.trainer.args["cv-folds"] == 5 and spec.trainer.args["stage2-epochs"] == 20
    assert spec.trainer.args["freeze-encoder-stage2"] is True
    assert (
        spec.trainer.args["lambda-exp"],
        spec.trainer.args["lambda-sol"],
        spec.trainer.args["class-weight-pos"],
    ) == (3.0, 1.0, 5.0)


def test_gpu_requests_follow_the_seeds():
    assert {n: load_study(n).spec.resources.gpu for n in STUDIES} == {
        "csi": 1,
        "everest": 1,
        "forecast": 1,
        "mlp": 0,
        "transfer": 1,
    }
