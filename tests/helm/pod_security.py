"""Pod Security Standard checks on plain Kubernetes manifests (dicts), independent of hpoctl.

:func:`restricted_violations` follows the Pod Security Standards "restricted" profile, version latest
(https://kubernetes.io/docs/concepts/security/pod-security-standards/), which includes "baseline";
:func:`hardening_violations` adds what this project asks of every pod it creates on top: a read-only root
filesystem with an emptyDir at /tmp, requests and limits for CPU and memory, and no API token.
Each returns a list of human-readable problems, empty when the pod passes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

# Where the pod spec sits in each pod-bearing kind.
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "PodTemplate": ("template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
}

RESTRICTED_VOLUME_TYPES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
)
BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
SECCOMP_ALLOWED = frozenset({"RuntimeDefault", "Localhost"})
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
APPARMOR_ALLOWED = frozenset({"RuntimeDefault", "Localhost"})
NAMESPACE_LEVELS = ("enforce", "audit", "warn")


def pod_spec(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The pod spec of a pod-bearing object, or None for any other kind."""
    path = POD_SPEC_PATHS.get(obj.get("kind", ""))
    if path is None:
        return None
    node: Any = obj
    for key in path:
        node = (node or {}).get(key)
    return node or {}


def _containers(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(field) or []:
            yield f"{field}[{c.get('name', '?')}]", c


def restricted_violations(spec: Mapping[str, Any]) -> list[str]:
    """Problems of a pod spec under Pod Security Standard "restricted" (latest), baseline checks included."""
    problems: list[str] = []
    psc = spec.get("securityContext") or {}

    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            problems.append(f"{field} must be unset or false")
    if (psc.get("windowsOptions") or {}).get("hostProcess"):
        problems.append("securityContext.windowsOptions.hostProcess must not be true")
    for v in spec.get("volumes") or []:
        kinds = [k for k in v if k != "name"]
        if "hostPath" in kinds:
            problems.append(f"volume {v.get('name')!r} uses hostPath")
        if not set(kinds) <= RESTRICTED_VOLUME_TYPES:
            problems.append(f"volume {v.get('name')!r} has a type outside {sorted(RESTRICTED_VOLUME_TYPES)}: {kinds}")
    for s in psc.get("sysctls") or []:
        if s.get("name") not in SAFE_SYSCTLS:
            problems.append(f"sysctl {s.get('name')!r} is not in the safe set")
    if psc.get("runAsUser") == 0:
        problems.append("securityContext.runAsUser must not be 0")
    problems += _selinux(psc.get("seLinuxOptions"), "securityContext")
    problems += _apparmor(psc.get("appArmorProfile"), "securityContext")
    pod_seccomp = (psc.get("seccompProfile") or {}).get("type")
    if pod_seccomp is not None and pod_seccomp not in SECCOMP_ALLOWED:
        problems.append(f"securityContext.seccompProfile.type {pod_seccomp!r} is not RuntimeDefault or Localhost")

    containers = list(_containers(spec))
    if not containers:
        problems.append("the pod has no containers")
    for where, c in containers:
        sc = c.get("securityContext") or {}
        if sc.get("privileged"):
            problems.append(f"{where}: privileged must be unset or false")
        if (sc.get("windowsOptions") or {}).get("hostProcess"):
            problems.append(f"{where}: windowsOptions.hostProcess must not be true")
        for p in c.get("ports") or []:
            if p.get("hostPort"):
                problems.append(f"{where}: hostPort {p['hostPort']} is not allowed")
        if sc.get("procMount", "Default") != "Default":
            problems.append(f"{where}: procMount must be Default")
        problems += _selinux(sc.get("seLinuxOptions"), where)
        problems += _apparmor(sc.get("appArmorProfile"), where)
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: allowPrivilegeEscalation must be false")
        run_as_non_root = sc.get("runAsNonRoot", psc.get("runAsNonRoot"))
        if run_as_non_root is not True:
            problems.append(f"{where}: runAsNonRoot must be true (on the pod or the container)")
        if sc.get("runAsUser") == 0:
            problems.append(f"{where}: runAsUser must not be 0")
        seccomp = (sc.get("seccompProfile") or {}).get("type", pod_seccomp)
        if seccomp not in SECCOMP_ALLOWED:
            problems.append(f"{where}: seccompProfile.type must be RuntimeDefault or Localhost, got {seccomp!r}")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            problems.append(f"{where}: capabilities.drop must contain ALL")
        added = set(caps.get("add") or [])
        if added - {"NET_BIND_SERVICE"}:
            problems.append(f"{where}: capabilities.add may only hold NET_BIND_SERVICE, got {sorted(added)}")
    return problems


def _selinux(options: Mapping[str, Any] | None, where: str) -> list[str]:
    options = options or {}
    problems = []
    if options.get("type", "") not in SELINUX_TYPES:
        problems.append(f"{where}: seLinuxOptions.type {options['type']!r} is not allowed")
    for field in ("user", "role"):
        if options.get(field):
            problems.append(f"{where}: seLinuxOptions.{field} must be unset")
    return problems


def _apparmor(profile: Mapping[str, Any] | None, where: str) -> list[str]:
    if profile and profile.get("type") not in APPARMOR_ALLOWED:
        return [f"{where}: appArmorProfile.type {profile.get('type')!r} is not allowed"]
    return []


def hardening_violations(spec: Mapping[str, Any]) -> list[str]:
    """Problems against the project's rules on top of "restricted"."""
    problems: list[str] = []
    if spec.get("automountServiceAccountToken") is not False:
        problems.append("automountServiceAccountToken must be false")
    volumes = {v.get("name"): v for v in spec.get("volumes") or []}
    for where, c in _containers(spec):
        sc = c.get("securityContext") or {}
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{where}: readOnlyRootFilesystem must be true")
        tmp = [m for m in c.get("volumeMounts") or [] if m.get("mountPath") == "/tmp"]
        if not tmp or "emptyDir" not in volumes.get(tmp[0].get("name"), {}):
            problems.append(f"{where}: /tmp must be an emptyDir (the root filesystem is read-only)")
        resources = c.get("resources") or {}
        for kind in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in (resources.get(kind) or {}):
                    problems.append(f"{where}: resources.{kind}.{resource} must be set")
    return problems


def namespace_violations(namespace: Mapping[str, Any], level: str = "restricted") -> list[str]:
    """Problems of a Namespace whose Pod Security Admission labels should enforce, audit and warn at `level`."""
    labels = (namespace.get("metadata") or {}).get("labels") or {}
    problems = []
    for mode in NAMESPACE_LEVELS:
        got = labels.get(f"pod-security.kubernetes.io/{mode}")
        if got != level:
            problems.append(f"label pod-security.kubernetes.io/{mode} is {got!r}, expected {level!r}")
    return problems


__all__ = [
    "POD_SPEC_PATHS",
    "hardening_violations",
    "namespace_violations",
    "pod_spec",
    "restricted_violations",
]
