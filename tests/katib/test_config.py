"""hpoctl's configuration file: where it is found, node pools, unknown keys listed with the valid ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpoctl.config import BUILTIN_NODE_POOLS, ConfigError, HpoctlConfig, config_path, load_config, parse_config
from hpoctl.errors import UnknownNameError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hpoctl.yaml"


def test_no_file_gives_defaults():
    config = load_config()
    assert config == HpoctlConfig()
    assert config.katib.data_pvc == "hpoctl-data" and config.katib.resume_policy == "LongRunning"


def test_search_order(tmp_path, monkeypatch):
    xdg = tmp_path / "xdg" / "hpoctl"
    xdg.mkdir(parents=True)
    (xdg / "config.yaml").write_text("katib: {namespace: from-xdg}\n")
    assert load_config().katib.namespace == "from-xdg"
    Path("hpoctl.yaml").write_text("katib: {namespace: from-cwd}\n")
    assert load_config().katib.namespace == "from-cwd"
    env_file = tmp_path / "env.yaml"
    env_file.write_text("katib: {namespace: from-env}\n")
    monkeypatch.setenv("HPOCTL_CONFIG", str(env_file))
    assert load_config().katib.namespace == "from-env"
    flag = tmp_path / "flag.yaml"
    flag.write_text("katib: {namespace: from-flag}\n")
    assert load_config(flag).katib.namespace == "from-flag"
    assert config_path(None, {"HOME": str(tmp_path / "home")}) == Path("hpoctl.yaml")


def test_missing_given_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"file not found .given by --config"):
        load_config(tmp_path / "nope.yaml")


def test_unknown_keys_list_the_valid_ones():
    with pytest.raises(ConfigError) as caught:
        parse_config({"katib": {"namespce": "hpo"}, "node_pools": {"a": {"gpu": "nvidia.com/gpu"}}})
    lines = caught.value.lines()
    assert len(lines) == 2
    assert any("katib.namespce: unknown key; valid keys: cache_mount, cache_pvc" in line for line in lines)
    assert any(
        "node_pools.a.gpu: unknown key; valid keys: description, gpu_resource, gpu_sharing, node_selector, "
        "tolerations" in line
        for line in lines
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"katib": {"secret_env": {"WANDB_API_KEY": {"secret": "wandb", "key": "k", "value": "s3cret"}}}},
            "katib.secret_env.WANDB_API_KEY.value: unknown key; valid keys: key, optional, secret",
        ),
        ({"node_pools": {"a": {"tolerations": [{"key": "k", "operator": "Exists", "value": "v"}]}}}, "takes no value"),
        ({"node_pools": {"A_B": {}}}, "node_pools.A_B"),
        ({"katib": {"resume_policy": "Forever"}}, "katib.resume_policy"),
        ({"katib": {"cache_mount": "/tmp"}}, "absolute path other than / and /tmp"),
        (["not", "a", "mapping"], "a mapping of sections"),
    ],
)
def test_invalid_values(raw, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_config(raw)


def test_node_pools_builtin_and_own():
    config = parse_config({"node_pools": {"gke-t4": {"node_selector": {"pool": "mine"}}, "big": {}}})
    assert config.node_pool("gke-t4").node_selector == {"pool": "mine"}
    assert config.node_pool("eks-gpu") == BUILTIN_NODE_POOLS["eks-gpu"]
    with pytest.raises(UnknownNameError, match=r"unknown node pool 'h100'.*aks-gpu, big, eks-gpu"):
        config.node_pool("h100")


def test_example_configuration_file_is_valid():
    config = load_config(EXAMPLE)
    assert config.katib.namespace == "hpo"
    assert "a100" in config.node_pools and config.node_pool("a100").gpu_resource == "nvidia.com/gpu"
    assert config.katib.secret_env["WANDB_API_KEY"].secret == "wandb"
