"""Rendering plans as Katib Experiments: the mapping of every spec field, typed manifests that pass
the webhook-equivalent validation and the strict Kubernetes schema."""

from __future__ import annotations

import copy
import json
import shlex

import pytest
import yaml

from hpoctl.catalog import LoadedStudy
from hpoctl.config import HpoctlConfig, KatibSettings, SecretRef, parse_config
from hpoctl.katib import names
from hpoctl.katib.errors import KatibUnsupported
from hpoctl.katib.manifest_io import dump_manifests, load_manifests
from hpoctl.katib.parameters import config_seed, decode_config
from hpoctl.katib.render import (
    RenderOptions,
    TopKConfigs,
    hpoctl_installation,
    render_experiment,
    render_experiments,
)
from hpoctl.katib.validate import validate_experiment
from hpoctl.plan import build_plans
from hpoctl.spec.loader import validate_spec
from tests.conftest import BASE_SPEC
from tests.katib.conftest import render


def plans_of(raw: dict, target: str = "small", **kwargs):
    return build_plans(LoadedStudy(raw, validate_spec(raw, "test.yaml"), "test.yaml"), target, **kwargs)


def render_spec(raw: dict, target: str = "small", **options):
    options.setdefault("namespace", "hpo")
    return render_experiments(plans_of(raw, target), RenderOptions(**options))


def spec(**changes) -> dict:
    raw = copy.deepcopy(BASE_SPEC)
    raw.update(changes)
    return raw


def job_of(manifest: dict) -> dict:
    return manifest["spec"]["trialTemplate"]["trialSpec"]


def pod_of(manifest: dict) -> dict:
    return job_of(manifest)["spec"]["template"]["spec"]


def script_of(manifest: dict) -> str:
    container = pod_of(manifest)["containers"][0]
    assert container["command"] == ["sh", "-c"]
    return container["args"][0]


def settings_of(spec_part: dict) -> dict:
    return {s["name"]: s["value"] for s in spec_part.get("algorithmSettings") or []}


def test_everest_all_targets_renders_27_valid_experiments():
    rendered = render("everest")
    assert len(rendered) == 27
    assert len({r.name for r in rendered}) == 27
    for item in rendered:
        assert item.manifest["apiVersion"] == "kubeflow.org/v1beta1" and item.manifest["kind"] == "Experiment"
        assert validate_experiment(item.manifest, installation=hpoctl_installation()) == [], item.name
    assert len(render("everest", stage="exploration")) == 9


def test_cli_render_everest_prints_27_documents(cli):
    result = cli("render", "everest", "--target", "all", "-o", "yaml")
    assert result.code == 0, result.err
    docs = [d for d in yaml.safe_load_all(result.out) if d]
    assert len(docs) == 27 and all(d["kind"] == "Experiment" for d in docs)
    assert "top-1" in result.out and "filled in at launch" in result.err
    result = cli("render", "everest", "--target", "all", "--stage", "exploration", "-o", "json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["kind"] == "List" and len(data["items"]) == 9
    assert load_manifests(result.out, "-") == data["items"]


def test_gpu_node_pool_on_every_trial_pod():
    rendered = render("everest", node_pool="gke-a100")
    assert len(rendered) == 27
    for item in rendered:
        pod = pod_of(item.manifest)
        assert pod["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-tesla-a100"}
        assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
        assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
        assert validate_experiment(item.manifest, installation=hpoctl_installation()) == []


def test_node_pool_from_config_and_from_the_study(tmp_path):
    config = parse_config(
        {
            "node_pools": {
                "a100": {
                    "node_selector": {"pool": "a100"},
                    "gpu_resource": "amd.com/gpu",
                    "tolerations": [{"key": "gpu", "operator": "Exists"}],
                }
            }
        }
    )
    raw = spec(resources={"gpu": 2, "node_pool": "a100"})
    pod = pod_of(render_spec(raw, config=config)[0].manifest)
    assert pod["nodeSelector"] == {"pool": "a100"}
    assert pod["containers"][0]["resources"]["limits"]["amd.com/gpu"] == "2"
    assert "nvidia.com/gpu" not in pod["containers"][0]["resources"]["limits"]
    # --node-pool overrides the study's pool; an unknown one lists the valid names
    pod = pod_of(render_spec(raw, config=config, node_pool="aks-gpu")[0].manifest)
    assert pod["tolerations"] == [{"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]
    with pytest.raises(Exception, match=r"unknown node pool 'h200'.*a100.*gke-t4"):
        render_spec(raw, config=config, node_pool="h200")


def test_a_shared_gpu_pool_gives_each_trial_one_share():
    pools = {"mig": {"gpu_resource": "nvidia.com/mig-1g.18gb", "gpu_sharing": "mig"}}
    pools["sliced"] = {"gpu_resource": "nvidia.com/gpu.shared", "gpu_sharing": "time-slicing"}
    config = parse_config({"node_pools": pools})
    for pool, resource in (("mig", "nvidia.com/mig-1g.18gb"), ("sliced", "nvidia.com/gpu.shared")):
        pod = pod_of(render_spec(spec(resources={"gpu": 1, "node_pool": pool}), config=config)[0].manifest)
        assert pod["containers"][0]["resources"]["limits"][resource] == "1"
    for bad, says in (
        ({"gpu_resource": "nvidia.com/mig-1g.18gb"}, "is a MIG profile: set gpu_sharing: mig"),
        ({"gpu_sharing": "mig"}, "gpu_sharing mig needs a MIG profile"),
        ({"gpu_sharing": "slices"}, "gpu_sharing"),
    ):
        with pytest.raises(Exception, match=says):
            parse_config({"node_pools": {"p": bad}})


def test_no_gpu_no_gpu_limit_and_no_node_selector():
    pod = pod_of(render("mlp", "default")[0].manifest)
    assert "nvidia.com/gpu" not in pod["containers"][0]["resources"]["limits"]
    assert "nodeSelector" not in pod and "tolerations" not in pod
    assert pod["containers"][0]["resources"]["requests"] == {"cpu": "1", "memory": "2Gi"}


def test_trainer_command_and_arguments():
    item = render("everest", "M_24h", stage="refinement")[0]
    words = shlex.split(script_of(item.manifest))
    assert words[:3] == ["python", "-m", "hpoctl.trainers.everest"]
    assert words[3:9] == ["--target", "M_24h", "--epochs", "60", "--seed", "42"]
    assert "--flare-class=M" in words and "--window=24" in words
    assert words[words.index("--cache-dir") + 1] == "/cache"
    assert words[words.index("--output") + 1] == "/results/everest/M_24h/refinement/${trialParameters.trialName}"
    for name in ("embed_dim", "num_blocks", "dropout", "focal_gamma", "learning_rate", "batch_size"):
        assert f"--{name}=${{trialParameters.{name}}}" in words
    refs = {p["name"]: p["reference"] for p in item.manifest["spec"]["trialTemplate"]["trialParameters"]}
    assert refs["trialName"] == "${trialSpec.Name}" and refs["embed_dim"] == "embed_dim"


def test_trainer_command_list_and_seed_and_image_override():
    raw = spec(trainer={"command": ["/opt/train", "--fast"], "image": "example.org/t:1"})
    item = render_spec(raw, seed=7, image="example.org/t:2")[0]
    words = shlex.split(script_of(item.manifest))
    assert words[:2] == ["/opt/train", "--fast"] and words[words.index("--seed") + 1] == "7"
    assert pod_of(item.manifest)["containers"][0]["image"] == "example.org/t:2"
    assert settings_of(item.manifest["spec"]["algorithm"])["random_state"] == "7"


def test_list_values_are_quoted_for_the_shell_and_survive_it():
    item = render("mlp", "default")[0]
    script = script_of(item.manifest)
    assert "--hidden_sizes='${trialParameters.hidden_sizes}'" in script
    substituted = script.replace("${trialParameters.hidden_sizes}", "[128,128]")
    assert "--hidden_sizes=[128,128]" in shlex.split(substituted)
    space = item.manifest["spec"]["parameters"][1]
    assert space == {
        "feasibleSpace": {"list": ["[64,64]", "[128,128]", "[256,256]"]},
        "name": "hidden_sizes",
        "parameterType": "categorical",
    }


def test_parameter_types_and_feasible_spaces():
    raw = spec(
        parameters={
            "lr": {"type": "float", "low": 1e-5, "high": 0.1, "log": True, "default": 1e-3},
            "drop": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1, "default": 0.1},
            "units": {"type": "int", "low": 32, "high": 256, "step": 32, "default": 64},
            "depth": {"type": "int", "low": 1, "high": 64, "log": True, "default": 4},
            "act": {"type": "categorical", "choices": ["relu", "gelu"], "default": "relu"},
            "flag": {"type": "categorical", "choices": [True, False], "default": True},
        }
    )
    params = {p["name"]: p for p in render_spec(raw)[0].manifest["spec"]["parameters"]}
    assert params["lr"] == {
        "name": "lr",
        "parameterType": "double",
        "feasibleSpace": {"min": "1e-05", "max": "0.1", "distribution": "logUniform"},
    }
    assert params["drop"]["feasibleSpace"] == {"min": "0.0", "max": "0.5", "step": "0.1", "distribution": "uniform"}
    assert params["units"]["feasibleSpace"] == {"min": "32", "max": "256", "step": "32", "distribution": "uniform"}
    assert params["depth"]["feasibleSpace"]["distribution"] == "logUniform"
    assert params["act"]["feasibleSpace"] == {"list": ["relu", "gelu"]}
    assert params["flag"]["feasibleSpace"] == {"list": ["true", "false"]}


def test_yaml_output_quotes_numbers_kubectl_would_misread():
    text = dump_manifests([render("csi", "default")[0].manifest])
    assert "min: '1e-05'" in text and "min: 1e-05" not in text
    assert yaml.safe_load(text)["spec"]["parameters"][2]["feasibleSpace"]["min"] == "1e-05"


@pytest.mark.parametrize(
    ("algorithm", "katib_name", "settings"),
    [
        (
            {"name": "tpe", "settings": {"n_startup_trials": 5}},
            "multivariate-tpe",
            {"n_startup_trials": "5", "random_state": "0"},
        ),
        ({"name": "tpe", "settings": {"seed": 3}}, "tpe", {"random_state": "3"}),
        (
            {"name": "tpe", "settings": {"n_ei_candidates": 12, "seed": 1}},
            "multivariate-tpe",
            {"n_ei_candidates": "12", "random_state": "1"},
        ),
        ({"name": "multivariate-tpe", "settings": {}}, "multivariate-tpe", {"random_state": "0"}),
        ({"name": "random", "settings": {"seed": 9}}, "random", {"random_state": "9"}),
        (
            {"name": "cmaes", "settings": {"sigma0": 0.5, "restart_strategy": "ipop"}},
            "cmaes",
            {"random_state": "0", "sigma": "0.5", "restart_strategy": "ipop"},
        ),
        ({"name": "qmc", "settings": {"seed": 2}}, "sobol", {}),
    ],
)
def test_algorithm_mapping(algorithm, katib_name, settings):
    item = render_spec(spec(algorithm=algorithm))[0]
    assert item.manifest["spec"]["algorithm"]["algorithmName"] == katib_name
    assert settings_of(item.manifest["spec"]["algorithm"]) == settings
    assert validate_experiment(item.manifest) == []


def test_grid_clamps_trials_to_the_grid():
    raw = spec(
        algorithm={"name": "grid", "settings": {}},
        parameters={
            "units": {"type": "int", "low": 1, "high": 3, "default": 1},
            "act": {"type": "categorical", "choices": ["a", "b"], "default": "a"},
        },
    )
    item = render_spec(raw)[0]
    assert item.manifest["spec"]["maxTrialCount"] == 6 and "grid has 6 points" in item.notes[0]
    assert validate_experiment(item.manifest) == []


@pytest.mark.parametrize(
    ("algorithm", "message"),
    [
        ({"name": "qmc", "settings": {"qmc_type": "halton"}}, "qmc_type 'halton' has no Katib equivalent"),
        ({"name": "qmc", "settings": {"scramble": True}}, "not scrambled"),
        ({"name": "cmaes", "settings": {"popsize": 8}}, "settings.popsize has no Katib equivalent"),
        ({"name": "cmaes", "settings": {"n_startup_trials": 3}}, "n_startup_trials=3 has no Katib equivalent"),
        ({"name": "tpe", "settings": {"consider_endpoints": True}}, "consider_endpoints has no Katib equivalent"),
        ({"name": "tpe", "settings": {"n_startup_trials": 3, "constant_liar": False}}, "constant_liar=false"),
        ({"name": "random", "settings": {"seed": -1}}, "random_state >= 0"),
    ],
)
def test_algorithm_settings_katib_cannot_honour(algorithm, message):
    with pytest.raises(KatibUnsupported, match=message):
        render_spec(spec(algorithm=algorithm))


def test_nsga2_needs_the_suggestion_service():
    raw = spec(
        objectives=[{"metric": "loss", "direction": "minimize"}, {"metric": "acc", "direction": "maximize"}],
        algorithm={"name": "nsga2", "settings": {}},
        early_stopping={"name": "none"},
    )
    assert render_spec(raw)[0].manifest["spec"]["algorithm"]["algorithmName"] == "hpoctl-optuna"
    with pytest.raises(KatibUnsupported, match=r"2 objectives .*--scalarise"):
        render_spec(raw, algorithm="katib")
    with pytest.raises(KatibUnsupported, match=r"'nsga2' has no Katib equivalent.*hpoctl-optuna"):
        render_spec(raw, scalarise=True, algorithm="katib")


def test_objectives_target_expression_and_scalarised():
    raw = spec(objectives=[{"metric": "picp", "target": 0.8}], early_stopping={"name": "none"})
    objective = render_spec(raw)[0].manifest["spec"]["objective"]
    assert objective["type"] == "minimize" and objective["objectiveMetricName"] == "picp_error"
    assert objective["additionalMetricNames"] == ["picp"]
    raw = spec(
        objectives=[
            {"metric": "score", "direction": "minimize", "expression": "2*a + (1 - b)", "goal": 0.1, "strategy": "min"}
        ]
    )
    objective = render_spec(raw)[0].manifest["spec"]["objective"]
    assert objective["objectiveMetricName"] == "score" and objective["goal"] == 0.1
    assert objective["additionalMetricNames"] == ["a", "b"]
    assert objective["metricStrategies"] == [
        {"name": "score", "value": "min"},
        {"name": "a", "value": "latest"},
        {"name": "b", "value": "latest"},
    ]
    item = render("forecast", "TFT_Q@water_centrum", scalarise=True, overrides={"algorithm": {"name": "random"}})[0]
    objective = item.manifest["spec"]["objective"]
    assert objective["objectiveMetricName"] == "mae" and objective["additionalMetricNames"] == ["picp_error", "picp"]
    assert "Katib optimises mae only" in item.notes[0]


def test_early_stopping_mapping_and_errors():
    raw = spec(early_stopping={"name": "median", "settings": {"warmup_steps": 0, "min_trials": 0}})
    rule = render_spec(raw)[0].manifest["spec"]["earlyStopping"]
    assert rule == {
        "algorithmName": "medianstop",
        "algorithmSettings": [{"name": "min_trials_required", "value": "1"}, {"name": "start_step", "value": "1"}],
    }
    everest = render("everest", "M_24h")
    assert settings_of(everest[0].manifest["spec"]["earlyStopping"]) == {"min_trials_required": "5", "start_step": "5"}
    assert "earlyStopping" not in everest[2].manifest["spec"]  # top-k confirms, never stops early
    for name in ("successive-halving", "hyperband"):
        with pytest.raises(KatibUnsupported, match=f"'{name}' has no Katib equivalent.*early_stopping.name=none"):
            render_spec(spec(early_stopping={"name": name, "settings": {}}))
    with pytest.raises(KatibUnsupported, match="interval_steps=2"):
        render_spec(spec(early_stopping={"name": "median", "settings": {"interval_steps": 2}}))
    assert "earlyStopping" not in render_spec(spec(early_stopping={"name": "none"}))[0].manifest["spec"]


def test_push_collector():
    with pytest.raises(KatibUnsupported, match="StdOut or File collector's logs, not Push"):
        render_spec(spec(), metrics_collector="push")
    item = render_spec(spec(early_stopping={"name": "none"}), metrics_collector="push")[0]
    assert item.manifest["spec"]["metricsCollectorSpec"] == {"collector": {"kind": "Push"}}
    assert "--report push" in script_of(item.manifest)
    env = {e["name"]: e.get("value") for e in pod_of(item.manifest)["containers"][0]["env"]}
    assert "KATIB_TRIAL_NAME" not in env  # Katib's pod webhook sets it (tests/kube shows it)
    assert validate_experiment(item.manifest) == []


def test_counts_resume_policy_and_deadline():
    raw = spec(
        limits={"parallelism": 8, "max_failed_trials": 50, "trial_timeout": "2h"},
        protocol=[{"name": "explore", "trials": 5, "epochs": 3, "timeout": "30m"}],
    )
    manifest = render_spec(raw)[0].manifest
    assert manifest["spec"]["parallelTrialCount"] == 5 and manifest["spec"]["maxFailedTrialCount"] == 5
    assert manifest["spec"]["resumePolicy"] == "LongRunning"
    assert job_of(manifest)["spec"]["activeDeadlineSeconds"] == 7200 and job_of(manifest)["spec"]["backoffLimit"] == 0
    raw["limits"].pop("trial_timeout")
    assert job_of(render_spec(raw)[0].manifest)["spec"]["activeDeadlineSeconds"] == 1800
    config = HpoctlConfig(katib=KatibSettings(resume_policy="FromVolume"))
    assert render_spec(raw, config=config)[0].manifest["spec"]["resumePolicy"] == "FromVolume"


def test_security_context_volumes_and_secrets():
    config = HpoctlConfig(
        katib=KatibSettings(
            secret_env={"WANDB_API_KEY": SecretRef(secret="wandb", key="api-key")},
            data_pvc=None,
            cache_pvc="cache-claim",
            service_account="trainer",
        )
    )
    pod = pod_of(render_spec(spec(), config=config)[0].manifest)
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    container = pod["containers"][0]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
    }
    assert pod["serviceAccountName"] == "trainer" and pod["automountServiceAccountToken"] is False
    assert pod["restartPolicy"] == "Never"
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts == {"/tmp": "tmp", "/cache": "cache", "/results": "results"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["tmp"] == {"name": "tmp", "emptyDir": {}}
    assert volumes["cache"]["persistentVolumeClaim"]["claimName"] == "cache-claim"
    secret = [e for e in container["env"] if e["name"] == "WANDB_API_KEY"]
    assert secret == [{"name": "WANDB_API_KEY", "valueFrom": {"secretKeyRef": {"name": "wandb", "key": "api-key"}}}]
    assert "value" not in secret[0]


def test_labels_annotations_and_names():
    item = render("forecast", "NHITS_Q@water_tommerby", scalarise=True, overrides={"algorithm": {"name": "random"}})[0]
    meta = item.manifest["metadata"]
    assert meta["name"] == "forecast-nhits-q-water-tommerby-search" and meta["namespace"] == "hpo"
    assert meta["labels"][names.LABEL_TARGET] == "NHITS_Q-water_tommerby"
    assert meta["annotations"][names.ANNOTATION_TARGET] == "NHITS_Q@water_tommerby"
    assert meta["labels"][names.LABEL_STUDY] == "forecast" and meta["labels"][names.LABEL_STAGE] == "search"
    assert job_of(item.manifest)["spec"]["template"]["metadata"]["labels"] == meta["labels"]


def test_top_k_stage_pending_then_filled():
    plan = plans_of(spec())[0]
    stage = plan.stage("confirm")
    pending = render_experiment(plan, stage, RenderOptions(namespace="hpo"))
    assert pending.pending and pending.manifest["metadata"]["annotations"][names.ANNOTATION_TOP_K_PENDING] == "true"
    assert validate_experiment(pending.manifest) == []
    configs = [
        {"lr": 0.01, "layers": 2, "optimizer": "sgd", "momentum": 0.9},
        {"lr": 0.001, "layers": 3, "optimizer": "adam"},
    ]
    filled = render_experiment(
        plan, stage, RenderOptions(namespace="hpo", top_k={"confirm": TopKConfigs(configs, ["t-a", "t-b"])})
    )
    spec_ = filled.manifest["spec"]
    assert not filled.pending and spec_["algorithm"] == {"algorithmName": "grid"}
    assert spec_["maxTrialCount"] == 6 and spec_["parallelTrialCount"] == 4  # top 2 x 3 fresh seeds
    values = spec_["parameters"][0]["feasibleSpace"]["list"]
    assert [decode_config(plan.parameters, v) for v in values] == [configs[0]] * 3 + [configs[1]] * 3
    seed = int(filled.manifest["metadata"]["annotations"][names.ANNOTATION_SEED])
    assert [config_seed(v) for v in values] == [seed + 1, seed + 2, seed + 3] * 2
    assert (
        json.loads(filled.manifest["metadata"]["annotations"][names.ANNOTATION_TOP_K_SOURCES])
        == ["t-a"] * 3 + ["t-b"] * 3
    )
    script = script_of(filled.manifest)
    assert script.endswith(" ${trialParameters.config}") and "--epochs 6" in script
    words = shlex.split(script.replace("${trialParameters.config}", values[0]))
    assert words[-5:] == ["--lr=0.01", "--layers=2", "--optimizer=sgd", "--momentum=0.9", f"--seed={seed + 1}"]
    assert validate_experiment(filled.manifest) == []


def test_conditional_parameters_are_noted():
    notes = render_spec(spec())[0].notes
    assert any("no conditional parameters; momentum" in n for n in notes)


@pytest.mark.parametrize(
    ("choices", "message"),
    [
        (['say "hi"', "b"], "cannot travel through Katib's trial template"),
        (["it's", "b"], "cannot travel"),
        ([1, "1"], "become the same text"),
    ],
)
def test_categorical_values_katib_cannot_carry(choices, message):
    raw = spec(parameters={"x": {"type": "categorical", "choices": choices, "default": choices[1]}})
    with pytest.raises(KatibUnsupported, match=message):
        render_spec(raw)


def test_trial_name_parameter_is_reserved():
    raw = spec(parameters={"trialName": {"type": "int", "low": 1, "high": 2, "default": 1}})
    with pytest.raises(KatibUnsupported, match="may not be named 'trialName'"):
        render_spec(raw)


def test_render_cli_errors_are_one_line(cli):
    result = cli("render", "forecast", "--target", "NHITS_Q@heat", "--algorithm", "katib")
    assert result.code == 1 and result.err.count("\n") == 1 and "--scalarise" in result.err
    result = cli("render", "everest", "--target", "M_24h", "--backend", "nomad")
    assert result.code == 1 and "unknown backend 'nomad'" in result.err
    result = cli("render", "everest", "--target", "M_24h", "--backend", "local", "--node-pool", "gke-a100")
    assert result.code == 2 and result.err.count("\n") == 1 and "local backend does not take --node-pool" in result.err
    result = cli("render", "everest", "--target", "M_24h", "--metrics-collector", "file")
    assert result.code == 2 and "stdout or push" in result.err
