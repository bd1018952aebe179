"""Test doubles of the Kubernetes API for the Katib backend: an in-process store of custom objects with
the CustomObjectsApi methods hpoctl calls, failing like the real client (ApiException with a status,
urllib3's MaxRetryError when unreachable), and a few steps of Katib's controller to move Experiments
along. No network, no threads, no sleeping."""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes.client.exceptions import ApiException

GROUP, VERSION = "kubeflow.org", "v1beta1"


def api_exception(status: int, message: str = "", reason: str = "") -> ApiException:
    reasons = {403: "Forbidden", 404: "Not Found", 409: "Conflict", 500: "Internal Server Error", 400: "Bad Request"}
    body = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "code": status})
    return ApiException(status=status, reason=reason or reasons.get(status, "Error"), body=body)


@dataclass
class Failure:
    verb: str
    nth: int  # the nth call of this verb (1-based) fails
    status: int
    message: str = ""


class FakeKubeApi:
    """A test double of `kubernetes.client.CustomObjectsApi` (create/get/list/patch/delete of namespaced
    custom objects) backed by a dict; `fail`, `unreachable`, `forbidden` and `katib_installed` make it
    fail the way a real API server does."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.calls: list[tuple[str, str, str | None]] = []
        self.failures: list[Failure] = []
        self.unreachable = False
        self.forbidden: set[str] = set()
        self.katib_installed = True
        self._counts: dict[str, int] = {}
        self._uid = itertools.count(1)
        self._clock = itertools.count(0)

    def fail(self, verb: str, nth: int, status: int, message: str = "") -> None:
        self.failures.append(Failure(verb, nth, status, message))

    def _enter(self, verb: str, group: str, version: str, namespace: str, plural: str, name: str | None) -> None:
        assert (group, version) == (GROUP, VERSION), (group, version)
        self.calls.append((verb, plural, name))
        self._counts[verb] = self._counts.get(verb, 0) + 1
        if self.unreachable:
            raise urllib3.exceptions.MaxRetryError(
                None,
                f"/apis/{group}/{version}/namespaces/{namespace}/{plural}",
                reason=ConnectionRefusedError(111, "Connection refused"),
            )
        if verb in self.forbidden:
            raise api_exception(
                403,
                f'{plural}.{group} is forbidden: User "alice" cannot {verb} resource "{plural}" in API group '
                f'"{group}" in the namespace "{namespace}"',
            )
        if not self.katib_installed:
            raise api_exception(404, "the server could not find the requested resource")
        for failure in self.failures:
            if failure.verb == verb and failure.nth == self._counts[verb]:
                raise api_exception(failure.status, failure.message or "etcdserver: request timed out")

    def create_namespaced_custom_object(self, group, version, namespace, plural, body, **kwargs):
        name = body["metadata"]["name"]
        self._enter("create", group, version, namespace, plural, name)
        key = (plural, namespace, name)
        if key in self.objects:
            raise api_exception(409, f'{plural}.{group} "{name}" already exists')
        obj = copy.deepcopy(dict(body))
        obj["metadata"].update(
            namespace=namespace,
            uid=f"uid-{next(self._uid)}",
            resourceVersion="1",
            creationTimestamp=f"2025-01-01T00:{next(self._clock) % 60:02d}:00Z",
        )
        if plural == "experiments":
            obj.setdefault("status", {"conditions": [_condition("Created")]})
        self.objects[key] = obj
        return copy.deepcopy(obj)

    def get_namespaced_custom_object(self, group, version, namespace, plural, name, **kwargs):
        self._enter("get", group, version, namespace, plural, name)
        try:
            return copy.deepcopy(self.objects[(plural, namespace, name)])
        except KeyError:
            raise api_exception(404, f'{plural}.{group} "{name}" not found') from None

    def list_namespaced_custom_object(self, group, version, namespace, plural, label_selector=None, **kwargs):
        self._enter("list", group, version, namespace, plural, None)
        wanted = dict(part.split("=", 1) for part in label_selector.split(",")) if label_selector else {}
        items = [
            copy.deepcopy(obj)
            for (p, ns, _), obj in sorted(self.objects.items())
            if p == plural
            and ns == namespace
            and all((obj["metadata"].get("labels") or {}).get(k) == v for k, v in wanted.items())
        ]
        return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "List", "items": items}

    def patch_namespaced_custom_object(self, group, version, namespace, plural, name, body, **kwargs):
        self._enter("patch", group, version, namespace, plural, name)
        key = (plural, namespace, name)
        if key not in self.objects:
            raise api_exception(404, f'{plural}.{group} "{name}" not found')
        _merge(self.objects[key], body)
        return copy.deepcopy(self.objects[key])

    def delete_namespaced_custom_object(self, group, version, namespace, plural, name, **kwargs):
        self._enter("delete", group, version, namespace, plural, name)
        key = (plural, namespace, name)
        if key not in self.objects:
            raise api_exception(404, f'{plural}.{group} "{name}" not found')
        del self.objects[key]
        if plural == "experiments":  # Katib's Trials are owned by the Experiment: gone with it
            for other in [
                k
                for k, o in self.objects.items()
                if k[0] == "trials"
                and k[1] == namespace
                and (o["metadata"].get("labels") or {}).get("katib.kubeflow.org/experiment") == name
            ]:
                del self.objects[other]
        return {"kind": "Status", "status": "Success"}

    # What Katib's controllers would do, for tests.

    def experiments(self, namespace: str = "hpo") -> dict[str, dict[str, Any]]:
        return {k[2]: o for k, o in self.objects.items() if k[0] == "experiments" and k[1] == namespace}

    def set_state(self, namespace: str, name: str, condition: str, message: str = "") -> None:
        experiment = self.objects[("experiments", namespace, name)]
        experiment["status"] = {**experiment.get("status", {}), "conditions": [_condition(condition, message)]}

    def add_trials(self, namespace: str, experiment_name: str, trials: Iterable[Mapping[str, Any]]) -> None:
        """Trials of an Experiment, each {"name", "condition", "assignments": {...}, "metrics": {name: value |
        {"min", "max", "latest"}}, "message"}; the Experiment's counts follow."""
        experiment = self.objects[("experiments", namespace, experiment_name)]
        for spec in trials:
            name = spec["name"]
            metrics = []
            for metric, value in (spec.get("metrics") or {}).items():
                entry = value if isinstance(value, Mapping) else {"min": value, "max": value, "latest": value}
                metrics.append({"name": metric, **{k: str(v) for k, v in entry.items()}})
            conditions = [_condition("Created")]
            if spec["condition"] != "Created":
                conditions.append(_condition(spec["condition"], spec.get("message", "")))
            self.objects[("trials", namespace, name)] = {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "Trial",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "labels": {"katib.kubeflow.org/experiment": experiment_name},
                    "creationTimestamp": spec.get("created", f"2025-01-01T01:{next(self._clock) % 60:02d}:00Z"),
                },
                "spec": {
                    "parameterAssignments": [{"name": k, "value": str(v)} for k, v in spec["assignments"].items()],
                },
                "status": {
                    "conditions": conditions,
                    "startTime": "2025-01-01T02:00:00Z",
                    **({"completionTime": "2025-01-01T02:10:30Z"} if spec["condition"] != "Running" else {}),
                    "observation": {"metrics": metrics},
                },
            }
        counts = {"Succeeded": 0, "Failed": 0, "Killed": 0, "EarlyStopped": 0, "Running": 0, "MetricsUnavailable": 0}
        for (plural, ns, _), trial in self.objects.items():
            if (
                plural == "trials"
                and ns == namespace
                and (trial["metadata"]["labels"]["katib.kubeflow.org/experiment"] == experiment_name)
            ):
                last = trial["status"]["conditions"][-1]["type"]
                counts[last] = counts.get(last, 0) + 1
        status = experiment.setdefault("status", {})
        status.update(
            trials=sum(counts.values()),
            trialsSucceeded=counts["Succeeded"],
            trialsFailed=counts["Failed"],
            trialsKilled=counts["Killed"],
            trialsEarlyStopped=counts["EarlyStopped"],
            trialsRunning=counts["Running"],
            trialMetricsUnavailable=counts["MetricsUnavailable"],
        )


class FakeCoreApi:
    """A test double of `kubernetes.client.CoreV1Api` for the PersistentVolumeClaims the trials mount."""

    def __init__(self, claims: Iterable[tuple[str, str]] = ()) -> None:
        self.claims = set(claims)

    def read_namespaced_persistent_volume_claim(self, name, namespace, **kwargs):
        if (namespace, name) not in self.claims:
            raise api_exception(404, f'persistentvolumeclaims "{name}" not found')
        return {"metadata": {"name": name, "namespace": namespace}}

    # ConfigMaps (`hpoctl katib register`), returned as the real client does: V1ConfigMap objects.

    @property
    def config_maps(self) -> dict[tuple[str, str], dict[str, Any]]:
        """(namespace, name) -> {"data": {...}, "resourceVersion": "n"}; `config_map_calls` logs the verbs."""
        return self.__dict__.setdefault("_config_maps", {})

    @property
    def config_map_calls(self) -> list[tuple[str, str]]:
        return self.__dict__.setdefault("_config_map_calls", [])

    def add_config_map(self, namespace: str, name: str, data: Mapping[str, str]) -> None:
        self.config_maps[(namespace, name)] = {"data": dict(data), "resourceVersion": "1"}

    def read_namespaced_config_map(self, name, namespace, **kwargs):
        self.config_map_calls.append(("get", name))
        return self._config_map(namespace, name)

    def _config_map(self, namespace: str, name: str):
        from kubernetes.client import V1ConfigMap, V1ObjectMeta

        found = self.config_maps.get((namespace, name))
        if found is None:
            raise api_exception(404, f'configmaps "{name}" not found')
        meta = V1ObjectMeta(name=name, namespace=namespace, resource_version=found["resourceVersion"])
        return V1ConfigMap(metadata=meta, data=dict(found["data"]))

    def patch_namespaced_config_map(self, name, namespace, body, **kwargs):
        """A merge patch; a resourceVersion in the patch that is not the current one is a 409, as on a real server."""
        self.config_map_calls.append(("patch", name))
        found = self.config_maps.get((namespace, name))
        if found is None:
            raise api_exception(404, f'configmaps "{name}" not found')
        version = (body.get("metadata") or {}).get("resourceVersion")
        if version is not None and version != found["resourceVersion"]:
            raise api_exception(
                409, f'Operation cannot be fulfilled on configmaps "{name}": the object has been modified'
            )
        found["data"].update(body.get("data") or {})
        found["resourceVersion"] = str(int(found["resourceVersion"]) + 1)
        return self._config_map(namespace, name)


def _condition(kind: str, message: str = "") -> dict[str, str]:
    return {
        "type": kind,
        "status": "True",
        "reason": "ExperimentMaxTrialsReached" if kind == "Succeeded" else f"Experiment{kind}",  # Katib's reasons
        "message": message,
        "lastTransitionTime": "2025-01-01T00:00:00Z",
    }


def _merge(target: dict[str, Any], patch: Mapping[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        elif value is None:
            target.pop(key, None)
        else:
            target[key] = copy.deepcopy(value)
