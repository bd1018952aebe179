"""`hpoctl katib register`: the hpoctl-optuna entry in Katib's `katib-config` ConfigMap.

Katib keeps its whole configuration as one YAML text under the ConfigMap key `katib-config.yaml`, so the
entry is added (or an older one of hpoctl-optuna replaced in place) inside that text, and
`init.controller.injectSecurityContext` is set to true as the chart sets it (without it Pod Security
`restricted` refuses every trial pod); every other key and entry keeps its value and order, and a second
run finds nothing to change. The entry is the Helm chart's
(`helm/hpoctl/files/katib-config-patch.yaml`): the suggestion image, its resources and a restricted
securityContext with a read-only root file system. Katib reads the config when its controller starts.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import urllib3
import yaml
from kubernetes.client.exceptions import ApiException

from hpoctl import __version__
from hpoctl.errors import BackendError
from hpoctl.katib.client import api_error
from hpoctl.katib.katib_config import HPOCTL_OPTUNA

KATIB_NAMESPACE = "kubeflow"
CONFIG_MAP = "katib-config"
CONFIG_KEY = "katib-config.yaml"
IMAGE_REPOSITORY = "ghcr.io/hpoctl/suggestion"
#: Where the chart mounts the volume Katib creates for `resumePolicy: FromVolume` (the only place the
#: container may write; the service itself writes nothing).
VOLUME_MOUNT = "/opt/hpoctl/suggestion"
RUN_AS = 10001  # the user the images create
RESTART_HINT = "kubectl -n {namespace} rollout restart deployment/katib-controller"
REQUEST_TIMEOUT = 30


def default_image() -> str:
    tag = __version__ if "+" not in __version__ else "latest"
    return f"{IMAGE_REPOSITORY}:{tag}"


def suggestion_entry(image: str | None = None) -> dict[str, Any]:
    """The katib-config `runtime.suggestions` entry of hpoctl-optuna (the chart's, with its default values)."""
    return {
        "algorithmName": HPOCTL_OPTUNA,
        "image": image or default_image(),
        "imagePullPolicy": "IfNotPresent",
        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "100m", "memory": "256Mi"}},
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMountPath": VOLUME_MOUNT,
        "persistentVolumeClaimSpec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }


@dataclass(frozen=True)
class Registration:
    """What `register` did (or, with dry_run, would do) to the ConfigMap."""

    namespace: str
    name: str
    action: str  # added | updated | unchanged
    image: str
    config_map: dict[str, Any]

    def line(self) -> str:
        where = f"ConfigMap {self.namespace}/{self.name}"
        if self.action == "unchanged":
            return f"{HPOCTL_OPTUNA} is registered in {where} with image {self.image}; nothing to change"
        return f"{self.action} {HPOCTL_OPTUNA} (image {self.image}) in {where}"


def with_entry(config: Mapping[str, Any], entry: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """The KatibConfig with `entry` in `runtime.suggestions` (replacing one of the same algorithm in place),
    and whether it was added, updated or left unchanged."""
    updated = copy.deepcopy(dict(config))
    runtime = updated.get("runtime")
    if runtime is None:
        runtime = updated["runtime"] = {}
    if not isinstance(runtime, dict):
        raise ValueError("runtime is not a mapping")
    suggestions = runtime.get("suggestions")
    if suggestions is None:
        suggestions = runtime["suggestions"] = []
    if not isinstance(suggestions, list):
        raise ValueError("runtime.suggestions is not a list")
    for i, existing in enumerate(suggestions):
        if isinstance(existing, Mapping) and existing.get("algorithmName") == entry["algorithmName"]:
            if existing == entry:
                return updated, "unchanged"
            suggestions[i] = dict(entry)
            return updated, "updated"
    suggestions.append(dict(entry))
    return updated, "added"


def with_injected_security_context(config: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """The KatibConfig with `init.controller.injectSecurityContext: true`, and whether that changed it.

    Katib's metrics-collector sidecar otherwise has no securityContext, and Pod Security `restricted` refuses
    every trial pod (the real tier's `test_trial_pod_with_katibs_sidecar` shows it); with the setting Katib
    copies the trainer container's restricted context into the sidecar. The chart sets it too
    (`katib.injectSecurityContext`)."""
    updated = copy.deepcopy(dict(config))
    init = updated.get("init") or {}
    controller = (init.get("controller") or {}) if isinstance(init, Mapping) else None
    if not isinstance(controller, Mapping):
        raise ValueError("init.controller is not a mapping")
    if controller.get("injectSecurityContext") is True:
        return updated, False
    updated["init"] = {**init, "controller": {**controller, "injectSecurityContext": True}}
    return updated, True


def register(
    core: Any,
    *,
    namespace: str = KATIB_NAMESPACE,
    name: str = CONFIG_MAP,
    image: str | None = None,
    inject_security_context: bool = True,
    dry_run: bool = False,
    where: str = "the cluster",
) -> Registration:
    """Add or update hpoctl-optuna in the katib-config ConfigMap through `core` (a CoreV1Api), and (unless
    told not to) let Katib give its metrics sidecar the trainer's securityContext; idempotent."""
    entry = suggestion_entry(image)
    config_map = _call(
        "get",
        namespace,
        name,
        where,
        lambda: core.read_namespaced_config_map(name, namespace, _request_timeout=REQUEST_TIMEOUT),
    )
    data = dict(_field(config_map, "data") or {})
    metadata = _field(config_map, "metadata")
    version = _field(metadata, "resource_version", "resourceVersion")
    text = data.get(CONFIG_KEY)
    if text is None:
        raise BackendError(
            f"ConfigMap {namespace}/{name} in {where} has no key {CONFIG_KEY} (Katib v0.15 and later keep their "
            f"configuration there); is Katib installed in {namespace} (--namespace)?"
        )
    try:
        config = yaml.safe_load(text) or {}
        if not isinstance(config, Mapping):
            raise ValueError("it is not a mapping")
        updated, action = with_entry(config, entry)
        if inject_security_context:
            updated, injected = with_injected_security_context(updated)
            if injected and action == "unchanged":
                action = "updated"
    except (yaml.YAMLError, ValueError) as e:
        raise BackendError(f"ConfigMap {namespace}/{name} in {where}: {CONFIG_KEY} cannot be read: {e}") from e
    new_text = text if action == "unchanged" else yaml.safe_dump(updated, sort_keys=False, default_flow_style=False)
    result = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {**data, CONFIG_KEY: new_text},
    }
    if action != "unchanged" and not dry_run:
        # The resourceVersion makes the API server refuse the patch if someone changed the ConfigMap meanwhile.
        patch = {"metadata": {"resourceVersion": version}, "data": {CONFIG_KEY: new_text}}
        _call(
            "patch",
            namespace,
            name,
            where,
            lambda: core.patch_namespaced_config_map(name, namespace, patch, _request_timeout=REQUEST_TIMEOUT),
        )
    return Registration(namespace, name, action, entry["image"], result)


def _field(obj: Any, attribute: str, key: str | None = None) -> Any:
    """A field of a kubernetes-client model, or of the same object as a dict."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(key or attribute)
    return getattr(obj, attribute, None)


def _call(verb: str, namespace: str, name: str, where: str, call: Any) -> Any:
    try:
        return call()
    except ApiException as e:
        error = api_error(e, verb, "ConfigMap", namespace, name, where)
        if e.status == 404:
            raise BackendError(
                f"ConfigMap {namespace}/{name} not found in {where}; is Katib installed there (--namespace, "
                "--config-map)?"
            ) from e
        raise error from e
    except (urllib3.exceptions.HTTPError, OSError) as e:
        reason = getattr(e, "reason", None) or e
        raise BackendError(
            f"cannot reach the Kubernetes API server of {where} to {verb} ConfigMap {namespace}/{name}: {reason}; "
            "check the cluster is up (kubectl cluster-info) and --context"
        ) from e
