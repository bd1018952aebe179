"""hpoctl's configuration file: where trials run (node pools, the Katib settings), not what a study tunes.

The file is YAML, found as `--config PATH`, else `$HPOCTL_CONFIG`, else `./hpoctl.yaml`, else
`$XDG_CONFIG_HOME/hpoctl/config.yaml` (`~/.config/hpoctl/config.yaml`); with none of them the defaults
below apply. Each backend owns one top-level section (`katib:` now, `slurm:` later) next to the shared
`node_pools:`; an unknown key anywhere is an error that lists the valid ones.

Built-in node pools (usable by name without a config file; a pool in the file with the same name wins):

    gke-t4, gke-l4, gke-a100, gke-h100
        nodeSelector cloud.google.com/gke-accelerator: nvidia-tesla-t4 | nvidia-l4 | nvidia-tesla-a100
        | nvidia-h100-80gb; toleration nvidia.com/gpu Exists NoSchedule (GKE taints GPU nodes so).
    eks-gpu
        nodeSelector nvidia.com/gpu.present: "true" (set by NVIDIA GPU feature discovery / GPU operator);
        toleration nvidia.com/gpu Exists NoSchedule (the taint EKS documents for GPU node groups).
    aks-gpu
        nodeSelector kubernetes.azure.com/accelerator: nvidia (AKS labels GPU nodes so); toleration
        sku=gpu NoSchedule (the taint AKS documents for GPU node pools).

All use the GPU resource `nvidia.com/gpu`. Clusters differ: check with `kubectl get nodes --show-labels`
and `kubectl describe node` and copy a pool into your file when yours does not match.
"""

from __future__ import annotations

import os
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hpoctl.errors import HpoctlError, UnknownNameError
from hpoctl.yamlio import load_yaml_text

CONFIG_ENV = "HPOCTL_CONFIG"
LOCAL_CONFIG = Path("hpoctl.yaml")

_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_LABEL_KEY = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
_RESOURCE_NAME = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$"

DnsLabel = Annotated[str, Field(pattern=_DNS_LABEL, max_length=63)]
LabelKey = Annotated[str, Field(pattern=_LABEL_KEY, max_length=253)]
LabelValue = Annotated[str, Field(pattern=_LABEL_VALUE, max_length=63)]


class ConfigError(HpoctlError):
    """The configuration file is missing, unreadable or invalid; one line per problem."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        return [f"{self.source}: {problem}" for problem in self.problems]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Toleration(_Strict):
    """A Kubernetes toleration, spelled as in a pod spec but with snake_case keys."""

    key: LabelKey | None = None
    operator: Literal["Equal", "Exists"] = "Equal"
    value: LabelValue | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None

    @model_validator(mode="after")
    def _check(self):
        if self.operator == "Exists" and self.value:
            raise ValueError(f"a toleration with operator Exists takes no value, got value={self.value!r}")
        if self.key is None and self.operator != "Exists":
            raise ValueError("a toleration without a key needs operator: Exists")
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise ValueError("toleration_seconds applies only to effect: NoExecute")
        return self

    def to_k8s(self) -> dict[str, Any]:
        data = {
            "key": self.key,
            "operator": self.operator,
            "value": self.value,
            "effect": self.effect,
            "tolerationSeconds": self.toleration_seconds,
        }
        return {k: v for k, v in data.items() if v is not None}


class NodePool(_Strict):
    """Where GPU trials run: the nodes' labels to select, the taints to tolerate, the GPU resource name."""

    description: str = ""
    node_selector: dict[LabelKey, LabelValue] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)
    gpu_resource: Annotated[str, Field(pattern=_RESOURCE_NAME)] = "nvidia.com/gpu"


class SecretRef(_Strict):
    """An environment variable filled from a Kubernetes Secret (never a value in the file)."""

    secret: DnsLabel
    key: Annotated[str, Field(pattern=r"^[-._a-zA-Z0-9]+$", max_length=253)]
    optional: bool = False


class KatibSettings(_Strict):
    """How the Katib backend renders and runs Experiments."""

    namespace: DnsLabel | None = Field(
        default=None, description="Namespace of the Experiments (default: the kubeconfig context's, else default)."
    )
    data_pvc: DnsLabel | None = Field(
        default="hpoctl-data", description="PersistentVolumeClaim mounted read-only at data_mount; null: none."
    )
    cache_pvc: DnsLabel | None = Field(
        default="hpoctl-cache", description="PersistentVolumeClaim for the trainers' --cache-dir; null: emptyDir."
    )
    results_pvc: DnsLabel | None = Field(
        default=None, description="PersistentVolumeClaim for the trainers' --output; null: emptyDir (scratch)."
    )
    data_mount: str = "/data"
    cache_mount: str = "/cache"
    results_mount: str = "/results"
    secret_env: dict[Annotated[str, Field(pattern=_ENV_NAME)], SecretRef] = Field(
        default_factory=dict, description="Env var -> Secret key, e.g. WANDB_API_KEY: {secret: wandb, key: api-key}."
    )
    service_account: DnsLabel | None = None
    image_pull_secrets: list[DnsLabel] = Field(default_factory=list)
    run_as_user: int = Field(default=1000, ge=1)
    run_as_group: int = Field(default=1000, ge=1)
    read_only_root_filesystem: bool = True
    resume_policy: Literal["LongRunning", "FromVolume", "Never"] = "LongRunning"
    metrics_collector: Literal["stdout", "push"] = "stdout"
    suggestions: list[DnsLabel] = Field(
        default_factory=list,
        description="Extra algorithm names registered in the cluster's katib-config (e.g. hpoctl-optuna).",
    )
    kubernetes_version: Annotated[str, Field(pattern=r"^\d+\.\d+(\.\d+)?$")] | None = Field(
        default=None, description="Kubernetes version the trial Job is validated against (default: newest known)."
    )

    @model_validator(mode="after")
    def _check_mounts(self):
        mounts = {"data_mount": self.data_mount, "cache_mount": self.cache_mount, "results_mount": self.results_mount}
        for name, path in mounts.items():
            if not path.startswith("/") or path.rstrip("/") in ("", "/tmp"):
                raise ValueError(f"{name} must be an absolute path other than / and /tmp, got {path!r}")
        if len(set(mounts.values())) != len(mounts):
            raise ValueError(f"data_mount, cache_mount and results_mount must differ, got {sorted(mounts.values())}")
        return self


class HpoctlConfig(_Strict):
    """The whole file. Backends add their own section here (a `slurm:` section comes next)."""

    node_pools: dict[DnsLabel, NodePool] = Field(default_factory=dict)
    katib: KatibSettings = KatibSettings()

    def node_pool(self, name: str) -> NodePool:
        pools = {**BUILTIN_NODE_POOLS, **self.node_pools}
        if name not in pools:
            raise UnknownNameError("node pool", name, sorted(pools), where="node_pools of hpoctl's configuration")
        return pools[name]


def _gke(accelerator: str) -> NodePool:
    return NodePool(
        description=f"GKE node pool with {accelerator} GPUs",
        node_selector={"cloud.google.com/gke-accelerator": accelerator},
        tolerations=[Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")],
    )


BUILTIN_NODE_POOLS: dict[str, NodePool] = {
    "gke-t4": _gke("nvidia-tesla-t4"),
    "gke-l4": _gke("nvidia-l4"),
    "gke-a100": _gke("nvidia-tesla-a100"),
    "gke-h100": _gke("nvidia-h100-80gb"),
    "eks-gpu": NodePool(
        description="EKS GPU node group (NVIDIA GPU feature discovery labels)",
        node_selector={"nvidia.com/gpu.present": "true"},
        tolerations=[Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")],
    ),
    "aks-gpu": NodePool(
        description="AKS GPU node pool (tainted sku=gpu:NoSchedule)",
        node_selector={"kubernetes.azure.com/accelerator": "nvidia"},
        tolerations=[Toleration(key="sku", operator="Equal", value="gpu", effect="NoSchedule")],
    ),
}


def config_path(flag: Path | str | None = None, environ: Mapping[str, str] | None = None) -> Path | None:
    """The file to read: `--config`, else $HPOCTL_CONFIG, else ./hpoctl.yaml, else the XDG one; None if
    no candidate exists (a path given by flag or environment must exist)."""
    env = os.environ if environ is None else environ
    if flag:
        return Path(flag)
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    if LOCAL_CONFIG.is_file():
        return LOCAL_CONFIG
    xdg = Path(env.get("XDG_CONFIG_HOME") or Path(env.get("HOME") or Path.home()) / ".config")
    candidate = xdg / "hpoctl" / "config.yaml"
    return candidate if candidate.is_file() else None


def load_config(flag: Path | str | None = None, environ: Mapping[str, str] | None = None) -> HpoctlConfig:
    """The configuration from the file `config_path` finds, or the defaults when there is none."""
    path = config_path(flag, environ)
    if path is None:
        return HpoctlConfig()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        given = "--config" if flag else f"${CONFIG_ENV}"
        raise ConfigError(str(path), [f"file not found (given by {given})"]) from e
    except OSError as e:
        raise ConfigError(str(path), [f"cannot read: {e.strerror}"]) from e
    return parse_config(load_yaml_text(text, str(path)) if text.strip() else {}, str(path))


def parse_config(raw: Any, source: str = "hpoctl.yaml") -> HpoctlConfig:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(source, [f"the configuration is a mapping of sections, got {type(raw).__name__}"])
    try:
        return HpoctlConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(source, _problems(e)) from e


def _problems(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors(include_url=False):
        loc = [part for part in item["loc"] if not (isinstance(part, str) and "[" in part)]
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
        if item["type"] == "extra_forbidden":
            valid = ", ".join(_fields_at(loc[:-1])) or "none"
            problems.append(f"{path}: unknown key; valid keys: {valid}")
        elif item["type"] == "missing":
            problems.append(f"{path}: required key is missing")
        else:
            message = item["msg"].removeprefix("Value error, ")
            got = item.get("input")
            suffix = "" if isinstance(got, (dict, list)) or item["type"] == "value_error" else f" (got {got!r})"
            problems.append(f"{path or '(top level)'}: {message}{suffix}")
    return problems


def _fields_at(loc: list[Any]) -> list[str]:
    """The keys the model at a location in the file accepts (for 'unknown key' messages)."""
    cursor: Any = HpoctlConfig
    for part in loc:
        if isinstance(cursor, type) and issubclass(cursor, BaseModel):
            field = cursor.model_fields.get(str(part))
            cursor = _unwrap(field.annotation) if field else None
        elif get_origin(cursor) is dict:
            cursor = _unwrap(get_args(cursor)[1])
        elif get_origin(cursor) is list:
            cursor = _unwrap(get_args(cursor)[0])
        else:
            return []
    return sorted(cursor.model_fields) if isinstance(cursor, type) and issubclass(cursor, BaseModel) else []


def _unwrap(annotation: Any) -> Any:
    """The type inside Annotated[...] and Optional[...]."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) in (Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation
