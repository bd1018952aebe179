"""`hpoctl katib register` against the in-process fake of the Kubernetes API: hpoctl-optuna added to Katib's
katib-config once, every other entry untouched, a second run a no-op."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hpoctl.errors import BackendError
from hpoctl.katib.client import Connection
from hpoctl.katib.register import CONFIG_KEY, register, suggestion_entry, with_entry
from tests.katib.conftest import REFERENCE
from tests.katib.fake_kube import FakeCoreApi

CHART_PATCH = Path(__file__).resolve().parents[2] / "helm" / "hpoctl" / "files" / "katib-config-patch.yaml"
KATIB = "kubeflow"


@pytest.fixture
def core() -> FakeCoreApi:
    fake = FakeCoreApi()
    text = (REFERENCE / "katib-config.standalone.v0.19.0.yaml").read_text(encoding="utf-8")
    fake.add_config_map(KATIB, "katib-config", {CONFIG_KEY: text, "other-key": "kept"})
    return fake


def config_of(core: FakeCoreApi) -> dict:
    return yaml.safe_load(core.config_maps[(KATIB, "katib-config")]["data"][CONFIG_KEY])


def test_register_adds_once_and_leaves_everything_else(core):
    before = config_of(core)
    first = register(core, image="ghcr.io/hpoctl/suggestion:0.1.0")
    assert first.action == "added" and core.config_map_calls == [("get", "katib-config"), ("patch", "katib-config")]
    after = config_of(core)
    ours = [s for s in after["runtime"]["suggestions"] if s["algorithmName"] == "hpoctl-optuna"]
    assert ours == [suggestion_entry("ghcr.io/hpoctl/suggestion:0.1.0")]
    assert after["runtime"]["suggestions"][:-1] == before["runtime"]["suggestions"]
    assert after["init"]["controller"].pop("injectSecurityContext") is True
    before["init"]["controller"].pop("injectSecurityContext", None)
    assert {k: v for k, v in after.items() if k != "runtime"} == {k: v for k, v in before.items() if k != "runtime"}
    assert {k: v for k, v in after["runtime"].items() if k != "suggestions"} == {
        k: v for k, v in before["runtime"].items() if k != "suggestions"
    }
    assert core.config_maps[(KATIB, "katib-config")]["data"]["other-key"] == "kept"

    text = core.config_maps[(KATIB, "katib-config")]["data"][CONFIG_KEY]
    second = register(core, image="ghcr.io/hpoctl/suggestion:0.1.0")
    assert second.action == "unchanged" and "nothing to change" in second.line()
    assert [c for c in core.config_map_calls if c[0] == "patch"] == [("patch", "katib-config")]
    assert core.config_maps[(KATIB, "katib-config")]["data"][CONFIG_KEY] == text


def test_register_updates_its_entry_in_place(core):
    register(core, image="registry.example.com/suggestion:1")
    position = [s["algorithmName"] for s in config_of(core)["runtime"]["suggestions"]].index("hpoctl-optuna")
    result = register(core, image="registry.example.com/suggestion:2")
    assert result.action == "updated" and result.line() == (
        "updated hpoctl-optuna (image registry.example.com/suggestion:2) in ConfigMap kubeflow/katib-config"
    )
    suggestions = config_of(core)["runtime"]["suggestions"]
    assert [s["algorithmName"] for s in suggestions].index("hpoctl-optuna") == position
    assert [s["image"] for s in suggestions if s["algorithmName"] == "hpoctl-optuna"] == [
        "registry.example.com/suggestion:2"
    ]


def test_dry_run_changes_nothing(core):
    result = register(core, dry_run=True)
    assert result.action == "added" and ("patch", "katib-config") not in core.config_map_calls
    shown = yaml.safe_load(result.config_map["data"][CONFIG_KEY])
    assert shown["runtime"]["suggestions"][-1]["algorithmName"] == "hpoctl-optuna"
    assert all(s["algorithmName"] != "hpoctl-optuna" for s in config_of(core)["runtime"]["suggestions"])


def test_a_concurrent_change_is_a_conflict_not_an_overwrite(core):
    original = core.patch_namespaced_config_map

    def changed_meanwhile(name, namespace, body, **kwargs):
        core.config_maps[(namespace, name)]["resourceVersion"] = "7"
        return original(name, namespace, body, **kwargs)

    core.patch_namespaced_config_map = changed_meanwhile
    with pytest.raises(BackendError, match=r"conflict: ConfigMap kubeflow/katib-config was changed meanwhile"):
        register(core)


def test_missing_config_map_or_key_is_one_line(core):
    with pytest.raises(BackendError, match=r"ConfigMap katib/katib-config not found in the cluster; is Katib"):
        register(core, namespace="katib")
    core.add_config_map("katib", "katib-config", {"other": "x"})
    with pytest.raises(BackendError, match=r"has no key katib-config.yaml"):
        register(core, namespace="katib")


def test_entry_is_the_helm_charts():
    """The chart (katib.manageConfig, or its NOTES' patch) and `hpoctl katib register` register the same entry."""
    chart = yaml.safe_load(CHART_PATCH.read_text(encoding="utf-8"))["runtime"]["suggestions"]
    assert chart == [suggestion_entry(chart[0]["image"])]


def test_with_entry_creates_runtime_and_suggestions():
    config, action = with_entry({"apiVersion": "config.kubeflow.org/v1beta1"}, suggestion_entry("x:1"))
    assert action == "added" and config["runtime"]["suggestions"] == [suggestion_entry("x:1")]


def test_cli_register(cli, core, monkeypatch):
    monkeypatch.setattr(
        "hpoctl.katib.client.connect", lambda kubeconfig=None, context=None: Connection(None, core, "hpo", "test")
    )
    result = cli("katib", "register", "--dry-run", "--image", "x/suggestion:1")
    assert result.code == 0, result.err
    shown = yaml.safe_load(yaml.safe_load(result.out)["data"][CONFIG_KEY])
    assert shown["runtime"]["suggestions"][-1]["image"] == "x/suggestion:1"
    assert "dry run: would have added hpoctl-optuna" in result.err
    result = cli("katib", "register", "--image", "x/suggestion:1")
    assert result.code == 0 and "added hpoctl-optuna" in result.err and "rollout restart" in result.err
    result = cli("katib", "register", "--image", "x/suggestion:1")
    assert result.code == 0 and "nothing to change" in result.err and "rollout restart" not in result.err
    result = cli("katib", "register", "-n", "elsewhere")
    assert (
        result.code == 1 and result.err.count("\n") == 1 and "ConfigMap elsewhere/katib-config not found" in result.err
    )


def test_register_can_leave_the_security_context_setting_alone(core):
    register(core, inject_security_context=False)
    assert "injectSecurityContext" not in (config_of(core).get("init") or {}).get("controller", {})
    assert register(core).action == "updated"  # only the setting changes
    assert config_of(core)["init"]["controller"]["injectSecurityContext"] is True
    assert register(core).action == "unchanged"
