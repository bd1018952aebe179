"""Talking to the Kubernetes API about Katib objects, with every failure as one actionable line.

`KatibApi` wraps the two kubernetes-client APIs hpoctl needs (CustomObjectsApi for Experiments and
Trials, CoreV1Api for the PersistentVolumeClaims the trials mount). Both are constructor arguments, so
tests pass an in-process fake; otherwise they come from the kubeconfig (`--kubeconfig`, `$KUBECONFIG`,
`~/.kube/config`, `--context`) or, inside a pod, from the service account.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from hpoctl.errors import BackendError
from hpoctl.katib import names

log = logging.getLogger("hpoctl.katib")

T = TypeVar("T")
REQUEST_TIMEOUT = 30
IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


class CustomObjects(Protocol):
    """The CustomObjectsApi methods hpoctl calls (the real one, or a test double)."""

    def create_namespaced_custom_object(self, group, version, namespace, plural, body, **kwargs): ...
    def get_namespaced_custom_object(self, group, version, namespace, plural, name, **kwargs): ...
    def list_namespaced_custom_object(self, group, version, namespace, plural, **kwargs): ...
    def patch_namespaced_custom_object(self, group, version, namespace, plural, name, body, **kwargs): ...
    def delete_namespaced_custom_object(self, group, version, namespace, plural, name, **kwargs): ...


class CoreObjects(Protocol):
    def read_namespaced_persistent_volume_claim(self, name, namespace, **kwargs): ...


@dataclass(frozen=True)
class Connection:
    """The cluster a KatibApi talks to: its API objects, the default namespace and a label for messages."""

    custom: Any
    core: Any
    namespace: str = "default"
    where: str = "the cluster"


def connect(kubeconfig: str | Path | None = None, context: str | None = None) -> Connection:
    """API objects from the kubeconfig (or the pod's service account when there is none)."""
    # $KUBECONFIG is read now: the kubernetes package reads it once, when it is imported.
    config_file = str(kubeconfig) if kubeconfig else os.environ.get("KUBECONFIG") or None
    try:
        api_client = k8s_config.new_client_from_config(config_file=config_file, context=context)
    except ConfigException as e:
        if not kubeconfig and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            configuration = k8s.Configuration()
            k8s_config.load_incluster_config(client_configuration=configuration)
            api_client = k8s.ApiClient(configuration)
            namespace = IN_CLUSTER_NAMESPACE.read_text().strip() if IN_CLUSTER_NAMESPACE.exists() else "default"
            return Connection(k8s.CustomObjectsApi(api_client), k8s.CoreV1Api(api_client), namespace, "in-cluster")
        where = f"kubeconfig {config_file}" if config_file else "the kubeconfig ~/.kube/config ($KUBECONFIG is not set)"
        detail = str(e).strip().rstrip(".")
        raise BackendError(
            f"cannot load {where}{f' context {context!r}' if context else ''}: {detail}; pass --kubeconfig PATH "
            "and --context NAME, or run inside the cluster"
        ) from e
    except OSError as e:
        raise BackendError(f"cannot read kubeconfig {config_file}: {e.strerror}") from e
    namespace, label = "default", "the cluster"
    try:
        contexts, active = k8s_config.list_kube_config_contexts(config_file=config_file)
        chosen = next((c for c in contexts if c.get("name") == context), active) if context else active
        namespace = (chosen or {}).get("context", {}).get("namespace") or "default"
        label = f"context {(chosen or {}).get('name')!r}"
    except (ConfigException, OSError):
        pass
    return Connection(k8s.CustomObjectsApi(api_client), k8s.CoreV1Api(api_client), namespace, label)


class KatibApi:
    """Experiments and Trials in one namespace-aware client; errors become BackendError lines naming
    the kind, namespace and name."""

    def __init__(self, custom: CustomObjects, core: CoreObjects | None = None, *, where: str = "the cluster"):
        self.custom = custom
        self.core = core
        self.where = where

    def _call(self, verb: str, kind: str, namespace: str, name: str | None, call: Callable[[], T]) -> T:
        what = f"{kind} {namespace}/{name}" if name else f"{kind}s in namespace {namespace}"
        log.info("kubernetes: %s %s", verb, what)
        try:
            return call()
        except ApiException as e:
            raise api_error(e, verb, kind, namespace, name, self.where) from e
        except (urllib3.exceptions.HTTPError, OSError) as e:
            reason = getattr(e, "reason", None) or e
            raise BackendError(
                f"cannot reach the Kubernetes API server of {self.where} to {verb} {what}: {reason}; "
                "check the cluster is up (kubectl cluster-info) and --context"
            ) from e

    def get_experiment(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self._call(
                "get",
                "Experiment",
                namespace,
                name,
                lambda: self.custom.get_namespaced_custom_object(
                    names.GROUP, names.VERSION, namespace, names.EXPERIMENTS, name, _request_timeout=REQUEST_TIMEOUT
                ),
            )
        except NotFound:
            return None

    def list_experiments(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        result = self._call(
            "list",
            "Experiment",
            namespace,
            None,
            lambda: self.custom.list_namespaced_custom_object(
                names.GROUP,
                names.VERSION,
                namespace,
                names.EXPERIMENTS,
                label_selector=selector,
                _request_timeout=REQUEST_TIMEOUT,
            ),
        )
        return list(result.get("items") or [])

    def create_experiment(self, manifest: dict[str, Any]) -> dict[str, Any]:
        meta = manifest["metadata"]
        return self._call(
            "create",
            "Experiment",
            meta["namespace"],
            meta["name"],
            lambda: self.custom.create_namespaced_custom_object(
                names.GROUP,
                names.VERSION,
                meta["namespace"],
                names.EXPERIMENTS,
                manifest,
                _request_timeout=REQUEST_TIMEOUT,
            ),
        )

    def patch_experiment(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return self._call(
            "patch",
            "Experiment",
            namespace,
            name,
            lambda: self.custom.patch_namespaced_custom_object(
                names.GROUP, names.VERSION, namespace, names.EXPERIMENTS, name, patch, _request_timeout=REQUEST_TIMEOUT
            ),
        )

    def delete_experiment(self, namespace: str, name: str) -> bool:
        """Delete; False if it was already gone."""
        try:
            self._call(
                "delete",
                "Experiment",
                namespace,
                name,
                lambda: self.custom.delete_namespaced_custom_object(
                    names.GROUP, names.VERSION, namespace, names.EXPERIMENTS, name, _request_timeout=REQUEST_TIMEOUT
                ),
            )
        except NotFound:
            return False
        return True

    def list_trials(self, namespace: str, experiment: str) -> list[dict[str, Any]]:
        result = self._call(
            "list",
            "Trial",
            namespace,
            None,
            lambda: self.custom.list_namespaced_custom_object(
                names.GROUP,
                names.VERSION,
                namespace,
                names.TRIALS,
                label_selector=f"{names.KATIB_EXPERIMENT_LABEL}={experiment}",
                _request_timeout=REQUEST_TIMEOUT,
            ),
        )
        return list(result.get("items") or [])

    def claim_exists(self, namespace: str, name: str) -> bool | None:
        """Whether a PersistentVolumeClaim exists; None when that cannot be told (no CoreV1 API, forbidden)."""
        if self.core is None:
            return None
        try:
            self._call(
                "get",
                "PersistentVolumeClaim",
                namespace,
                name,
                lambda: self.core.read_namespaced_persistent_volume_claim(
                    name, namespace, _request_timeout=REQUEST_TIMEOUT
                ),
            )
        except NotFound:
            return False
        except Forbidden:
            return None
        return True


class NotFound(BackendError):
    """A 404 for one object (not the API): the caller usually treats it as 'does not exist'."""


class Forbidden(BackendError):
    """RBAC denied the request (403)."""


class KatibMissing(BackendError):
    """The cluster has no kubeflow.org/v1beta1 Katib API (Katib's CRDs are not installed)."""


def api_error(e: ApiException, verb: str, kind: str, namespace: str, name: str | None, where: str) -> BackendError:
    what = f"{kind} {namespace}/{name}" if name else f"{kind}s in namespace {namespace}"
    message = _message(e)
    plural = f"{kind.lower()}s"
    if e.status == 404:
        # A 404 on a collection, or the API server's "could not find the requested resource", means the
        # resource type itself is missing; a 404 on one object means only that object is.
        if message.startswith("namespaces ") and "not found" in message:
            return BackendError(
                f"namespace {namespace} not found in {where} to {verb} {what}; create it: "
                f"kubectl create namespace {namespace}, then label it: kubectl label namespace "
                f"{namespace} katib.kubeflow.org/metrics-collector-injection=enabled"
            )
        if verb in ("create", "list") or "could not find the requested resource" in message:
            return KatibMissing(
                f"{where} has no Katib API ({plural}.{names.GROUP}/{names.VERSION} not found) to {verb} {what}; "
                "install Katib (kubectl apply -k 'github.com/kubeflow/katib.git/manifests/v1beta1/installs/"
                "katib-standalone?ref=v0.19.0') or pick the right --context"
            )
        return NotFound(f"{what} not found in {where}")
    if e.status == 403:
        group = names.GROUP if kind in ("Experiment", "Trial") else ""
        resource = f"{plural}.{group}" if group else plural
        return Forbidden(
            f"forbidden to {verb} {what} ({message or 'RBAC'}); ask for the right to {verb} {resource} "
            f"(kubectl auth can-i {verb} {resource} -n {namespace})"
        )
    if e.status == 401:
        return BackendError(
            f"unauthorised to {verb} {what} in {where}: the credentials were refused or expired; "
            "log in to the cluster again"
        )
    if e.status == 409:
        return BackendError(
            f"conflict: {what} {'already exists' if verb == 'create' else 'was changed meanwhile'} "
            f"({message or 'HTTP 409'}); run the command again to see its state"
        )
    if e.status in (400, 422):
        hint = ""
        if "metrics-collector-injection" in message:
            hint = (
                f"; label the namespace: kubectl label namespace {namespace} "
                "katib.kubeflow.org/metrics-collector-injection=enabled"
            )
        webhook = _WEBHOOK_DENIAL.match(message)
        if webhook:
            return BackendError(f"Katib's admission webhook refused to {verb} {what}: {webhook.group(2)}{hint}")
        return BackendError(f"{where} rejected {verb} {what}: {message or e.reason}{hint}")
    return BackendError(
        f"the Kubernetes API server of {where} failed to {verb} {what} (HTTP {e.status} {e.reason or ''}"
        f"{': ' + message if message else ''}); try again"
    )


_WEBHOOK_DENIAL = re.compile(r'admission webhook "([^"]+\.katib\.kubeflow\.org)" denied the request: (.*)')


def _message(e: ApiException) -> str:
    body = e.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str) and body.strip():
        try:
            data = json.loads(body)
        except ValueError:
            return " ".join(body.split())[:300]
        if isinstance(data, dict) and data.get("message"):
            return " ".join(str(data["message"]).split())
    return ""
