"""hpoctl's configuration file: where trials run (node pools, the Katib settings), not what a study tunes.

The file is YAML, found as `--config PATH`, else `$HPOCTL_CONFIG`, else `./hpoctl.yaml`, else
`$XDG_CONFIG_HOME/hpoctl/config.yaml` (`~/.config/hpoctl/config.yaml`); with none of them the defaults
below apply. Each backend owns one top-level section (`katib:`, `slurm:`) next to the shared
`node_pools:`; an unknown key anywhere is an error that lists the valid ones. `slurm.studies.<study>` overrides
any `slurm:` key for one study.

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
import re
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hpoctl.errors import ProblemsError, UnknownNameError
from hpoctl.spec.durations import Duration
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


class ConfigError(ProblemsError):
    """The configuration file is missing, unreadable or invalid; one line per problem."""


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
    gpu_sharing: Literal["none", "mig", "time-slicing", "mps"] = Field(
        default="none",
        description="How the pool's GPUs are shared out by the cluster: none (a trial gets whole GPUs), mig (a MIG "
        "profile such as nvidia.com/mig-1g.18gb), time-slicing or mps (the NVIDIA device plugin's replicas, e.g. "
        "nvidia.com/gpu or nvidia.com/gpu.shared). A trial pod asks for one unit of gpu_resource a GPU.",
    )

    @model_validator(mode="after")
    def _check_sharing(self):
        mig = re.fullmatch(r"nvidia\.com/mig-\d+g\.\d+gb", self.gpu_resource) is not None
        if self.gpu_sharing == "mig" and not mig:
            raise ValueError(
                f"gpu_sharing mig needs a MIG profile as gpu_resource (e.g. nvidia.com/mig-1g.18gb), got "
                f"{self.gpu_resource!r}"
            )
        if mig and self.gpu_sharing != "mig":
            raise ValueError(f"gpu_resource {self.gpu_resource!r} is a MIG profile: set gpu_sharing: mig")
        return self


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
    run_as_user: int = Field(default=10001, ge=1, description="The images' non-root user (docker/*.Dockerfile).")
    run_as_group: int = Field(default=10001, ge=1)
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


# #SBATCH options hpoctl writes itself; `slurm.sbatch` may add any other.
SBATCH_MANAGED = (
    "account",
    "array",
    "cpus-per-task",
    "dependency",
    "error",
    "gres",
    "job-name",
    "mem",
    "nodes",
    "ntasks",
    "open-mode",
    "output",
    "parsable",
    "partition",
    "qos",
    "requeue",
    "signal",
    "time",
)
_SLURM_NAME = r"^[A-Za-z0-9][-A-Za-z0-9_.+]*$"
SlurmName = Annotated[str, Field(pattern=_SLURM_NAME, max_length=128)]


class SlurmJobSettings(_Strict):
    """Where and how SLURM array jobs run a study; each key may be overridden per study (`slurm.studies`)."""

    partition: SlurmName | None = Field(default=None, description="Partition of the jobs (default: the cluster's).")
    cpu_partition: SlurmName | None = Field(
        default=None, description="Partition of CPU-only jobs (resources.gpu: 0); default: partition."
    )
    account: SlurmName | None = None
    qos: SlurmName | None = None
    time_limit: Duration | None = Field(
        default=None,
        description="The longest --time a job may ask for (the partition's limit). A stage asks for its timeout, "
        "else limits.timeout, capped by this; a stage that needs longer requeues itself.",
    )
    gpu_type: SlurmName | None = Field(default=None, description="GPU type in --gres=gpu:TYPE:N, e.g. a100.")
    gpu_shards: int | None = Field(
        default=None,
        ge=1,
        description="The shards each GPU is split into where the cluster's gres.conf names them (Name=shard "
        "Count=N per GPU): a study with a number of trials_per_gpu then asks --gres=shard:N/trials_per_gpu a task "
        "and SLURM packs the tasks; unset, a task asks a whole GPU and runs trials_per_gpu trials on it.",
    )
    workers: int | None = Field(
        default=None, ge=1, description="Array tasks (Optuna workers) per target; default: limits.parallelism."
    )
    max_running: int | None = Field(
        default=None, ge=1, description="Array tasks running at once (--array=0-K%N); default: all of them."
    )
    modules: list[Annotated[str, Field(pattern=r"^[^\s;&|`$]+$")]] = Field(
        default_factory=list, description="Environment modules loaded before the command, e.g. apptainer/1.3."
    )
    setup: list[str] = Field(default_factory=list, description="Shell lines run before the command.")
    teardown: list[str] = Field(default_factory=list, description="Shell lines run after the command.")
    env: dict[Annotated[str, Field(pattern=_ENV_NAME)], str] = Field(
        default_factory=dict, description="Environment variables exported in the job."
    )
    runtime: Literal["apptainer", "singularity", "none"] = Field(
        default="apptainer", description="Container runtime; none runs hpoctl on the node itself (a venv)."
    )
    image: str | None = Field(
        default=None,
        description="The trainer image as a .sif path (or any URI apptainer takes); default: "
        "docker://<the study's trainer.image>, pulled on the compute node.",
    )
    binds: list[Annotated[str, Field(pattern=r"^/[^,:]*(:/[^,:]*)?(:(ro|rw))?$")]] = Field(
        default_factory=list,
        description="More --bind SRC[:DEST[:ro|rw]] for the container; the results folder is always bound.",
    )
    worker_command: list[str] | None = Field(
        default=None,
        description="How a job runs hpoctl: default `hpoctl` in a container, this Python's `-m hpoctl` without one.",
    )
    storage: str | None = Field(
        default=None,
        description="An Optuna RDB URL the workers share instead of results/<study>/<target>/study.journal.",
    )
    sbatch: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$")], str | int | None] = Field(
        default_factory=dict, description="More #SBATCH options, e.g. {constraint: a100, exclusive: null}."
    )
    signal_grace: Duration = Field(
        default=120, description="Seconds before the time limit at which a task stops its trial and requeues."
    )
    poll_interval: Duration = Field(
        default=10, description="Seconds a worker with no trial to start waits before looking again."
    )

    @field_validator("sbatch")
    @classmethod
    def _check_sbatch(cls, value: dict[str, Any]) -> dict[str, Any]:
        managed = sorted(k for k in value if k in SBATCH_MANAGED)
        if managed:
            raise ValueError(
                f"{', '.join(managed)}: written by hpoctl, set them with the slurm keys (partition, account, qos, "
                f"time_limit, workers, max_running, gpu_type) or the study's resources"
            )
        return value


class SlurmSettings(SlurmJobSettings):
    """The SLURM backend's section: cluster settings, and per-study overrides of any of them."""

    studies: dict[Annotated[str, Field(pattern=r"^[a-z0-9][-a-z0-9_]*$")], SlurmJobSettings] = Field(
        default_factory=dict, description="Study name -> keys that override the ones above for that study."
    )

    def for_study(self, study: str) -> SlurmJobSettings:
        """The settings for one study: its overrides (only the keys it sets) over the cluster's."""
        base = SlurmJobSettings.model_validate(self.model_dump(exclude={"studies"}))
        override = self.studies.get(study)
        if override is None:
            return base
        return base.model_copy(update={k: getattr(override, k) for k in override.model_fields_set})


class HpoctlConfig(_Strict):
    """The whole file: the shared node pools and one section per backend."""

    node_pools: dict[DnsLabel, NodePool] = Field(default_factory=dict)
    katib: KatibSettings = KatibSettings()
    slurm: SlurmSettings = SlurmSettings()

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
    except UnicodeDecodeError as e:
        raise ConfigError(str(path), [f"not UTF-8 text ({e.reason} at byte {e.start}): hpoctl.yaml is YAML"]) from e
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
