"""The trial template: a `batch/v1` Job whose one container runs the trainer, built as typed objects.

The container runs `sh -c '<trainer command>'`. Katib's StdOut collector runs the primary container's
command through `sh -c` anyway (it joins the arguments with spaces, unquoted, and appends its redirect),
so hpoctl writes that shell command itself with every word quoted: a value such as `[8,4,2]` reaches the
trainer intact instead of meeting the shell's globbing.

The pod runs as a non-root user with a restricted security context and a read-only root file system
(writable: /tmp, the cache and the results mounts). Katib's injected metrics-collector sidecar inherits
the pod's user, so it can watch the trainer's process.
"""

from __future__ import annotations

import shlex
from pathlib import PurePosixPath
from typing import Any

from kubernetes import client as k8s

from hpoctl.config import KatibSettings, NodePool
from hpoctl.errors import UsageError
from hpoctl.katib.parameters import CONFIG_PARAMETER, needs_quoting
from hpoctl.plan import Plan, StagePlan
from hpoctl.tracking_env import tracking_env

CONTAINER = "trainer"
TRIAL_NAME_PARAMETER = "trialName"  # a trial parameter whose reference is ${trialSpec.Name}
DEFAULT_GPU_RESOURCE = "nvidia.com/gpu"
_API = k8s.ApiClient()


def placeholder(name: str) -> str:
    return "${trialParameters." + name + "}"


def trainer_command(plan: Plan) -> list[str]:
    """The trainer as the image runs it (`python -m MODULE`, not this machine's interpreter)."""
    if plan.trainer.module:
        return ["python", "-m", plan.trainer.module]
    return list(plan.trainer.command or [])


def output_dir(plan: Plan, stage: StagePlan, settings: KatibSettings) -> str:
    return f"{settings.results_mount}/{plan.study}/{plan.target}/{stage.name}"


def data_path(plan: Plan, settings: KatibSettings) -> str | None:
    """The plan's data as a trial pod sees it: a path inside the data volume (relative: under its mount)."""
    if plan.data is None:
        return None
    if settings.data_pvc is None:
        raise UsageError(
            f"--data {plan.data!r}: a Katib trial reads its data from the data volume, and katib.data_pvc is null; "
            "name the PersistentVolumeClaim that holds it in hpoctl.yaml"
        )
    mount = PurePosixPath(settings.data_mount)
    path = PurePosixPath(plan.data)
    if not path.is_absolute():
        path = mount / path
    if ".." in path.parts or not path.is_relative_to(mount):
        raise UsageError(
            f"--data {plan.data!r}: on Katib the data is read from the data volume {settings.data_pvc!r}, mounted at "
            f"{mount}; give a path inside it (relative, or under {mount})"
        )
    return str(path)


def trainer_script(
    plan: Plan, stage: StagePlan, *, seed: int, settings: KatibSettings, push: bool, top_k: bool = False
) -> str:
    """The shell command of one trial: the trainer contract's arguments, then one `--name=value` per
    parameter as Katib placeholders (a top-k trial gets its whole configuration from `config`)."""
    contract = plan.trainer_args({}, epochs=stage.epochs, seed=seed, data=data_path(plan, settings))
    words = [shlex.quote(w) for w in [*trainer_command(plan), *contract]]
    words += ["--cache-dir", shlex.quote(settings.cache_mount)]
    trial_output = f"{shlex.quote(output_dir(plan, stage, settings))}/{placeholder(TRIAL_NAME_PARAMETER)}"
    words += ["--output", trial_output]
    if plan.saves_model(stage):  # on the results volume, beside the trial's metrics.json
        words += ["--save-model", f"{trial_output}/model", "--save-by", shlex.quote(plan.save_by)]
    if push:
        words += ["--report", "push"]
    if top_k:
        # Unquoted on purpose: the value is a list of quoted `--name=value` words the shell splits.
        words.append(placeholder(CONFIG_PARAMETER))
    else:
        for name, param in plan.parameters.items():
            value = placeholder(name)
            words.append(f"--{name}='{value}'" if needs_quoting(param) else f"--{name}={value}")
    return " ".join(words)


def trial_job(
    plan: Plan,
    stage: StagePlan,
    *,
    image: str,
    seed: int,
    settings: KatibSettings,
    node_pool: NodePool | None,
    push: bool,
    labels: dict[str, str],
    top_k: bool = False,
) -> dict[str, Any]:
    """The Job manifest (a dict with camelCase keys, as Katib's trialSpec holds it)."""
    resources = plan.resources
    gpu_resource = node_pool.gpu_resource if node_pool else DEFAULT_GPU_RESOURCE
    requests = {"cpu": str(resources.cpu), "memory": resources.memory}
    limits = dict(requests)
    if resources.gpu:
        limits[gpu_resource] = str(resources.gpu)
    # KATIB_TRIAL_NAME is not set here: Katib's pod webhook adds it to the primary container itself.
    env = [
        k8s.V1EnvVar(name="HOME", value="/tmp"),
        k8s.V1EnvVar(name="PYTHONUNBUFFERED", value="1"),
    ]
    # The run is named after KATIB_TRIAL_NAME by the trainer; a tracking key comes only from settings.secret_env.
    env += [k8s.V1EnvVar(name=k, value=v) for k, v in tracking_env(plan, stage=stage.name, run_name=None).items()]
    env += [
        k8s.V1EnvVar(
            name=var,
            value_from=k8s.V1EnvVarSource(
                secret_key_ref=k8s.V1SecretKeySelector(name=ref.secret, key=ref.key, optional=ref.optional or None)
            ),
        )
        for var, ref in settings.secret_env.items()
    ]
    volumes, mounts = _volumes(settings)
    container = k8s.V1Container(
        name=CONTAINER,
        image=image,
        command=["sh", "-c"],
        args=[trainer_script(plan, stage, seed=seed, settings=settings, push=push, top_k=top_k)],
        env=env,
        resources=k8s.V1ResourceRequirements(requests=requests, limits=limits),
        volume_mounts=mounts,
        security_context=k8s.V1SecurityContext(
            run_as_non_root=True,
            allow_privilege_escalation=False,
            read_only_root_filesystem=settings.read_only_root_filesystem,
            capabilities=k8s.V1Capabilities(drop=["ALL"]),
        ),
    )
    pod = k8s.V1PodSpec(
        restart_policy="Never",
        containers=[container],
        volumes=volumes,
        automount_service_account_token=False,
        service_account_name=settings.service_account,
        image_pull_secrets=[k8s.V1LocalObjectReference(name=n) for n in settings.image_pull_secrets] or None,
        node_selector=dict(node_pool.node_selector) if node_pool and node_pool.node_selector else None,
        tolerations=[k8s.V1Toleration(**_snake(t.to_k8s())) for t in node_pool.tolerations]
        if node_pool and node_pool.tolerations
        else None,
        security_context=k8s.V1PodSecurityContext(
            run_as_non_root=True,
            run_as_user=settings.run_as_user,
            run_as_group=settings.run_as_group,
            fs_group=settings.run_as_group,
            seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"),
        ),
    )
    deadline = plan.limits.trial_timeout or stage.timeout
    job = k8s.V1Job(
        api_version="batch/v1",
        kind="Job",
        metadata=k8s.V1ObjectMeta(labels=dict(labels)),
        spec=k8s.V1JobSpec(
            backoff_limit=0,
            active_deadline_seconds=deadline,
            template=k8s.V1PodTemplateSpec(metadata=k8s.V1ObjectMeta(labels=dict(labels)), spec=pod),
        ),
    )
    return _API.sanitize_for_serialization(job)


def _volumes(settings: KatibSettings) -> tuple[list[k8s.V1Volume], list[k8s.V1VolumeMount]]:
    volumes = [k8s.V1Volume(name="tmp", empty_dir=k8s.V1EmptyDirVolumeSource())]
    mounts = [k8s.V1VolumeMount(name="tmp", mount_path="/tmp")]
    for name, claim, path, read_only in (
        ("data", settings.data_pvc, settings.data_mount, True),
        ("cache", settings.cache_pvc, settings.cache_mount, False),
        ("results", settings.results_pvc, settings.results_mount, False),
    ):
        if claim is None and name == "data":
            continue
        # `readOnly: false` is left out: Go's omitempty drops it, and Katib refuses a trialSpec its Job round
        # trip changes (validatePatchJob).
        if claim:
            claim_source = k8s.V1PersistentVolumeClaimVolumeSource(claim_name=claim, read_only=read_only or None)
            volumes.append(k8s.V1Volume(name=name, persistent_volume_claim=claim_source))
        else:
            volumes.append(k8s.V1Volume(name=name, empty_dir=k8s.V1EmptyDirVolumeSource()))
        mounts.append(k8s.V1VolumeMount(name=name, mount_path=path, read_only=read_only or None))
    return volumes, mounts


def _snake(data: dict[str, Any]) -> dict[str, Any]:
    return {"toleration_seconds" if k == "tolerationSeconds" else k: v for k, v in data.items()}
