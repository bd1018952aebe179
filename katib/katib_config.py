"""What a Katib installation offers: algorithm, early-stopping and metrics-collector names.

Katib's webhook accepts an algorithm only if the cluster's `katib-config` names it. Offline we use the
names of Katib v0.19.0's standalone katib-config, plus the names the user registered (hpoctl's own
suggestion service, `katib.suggestions` in hpoctl's configuration); `from_katib_config` reads a real
katib-config so `hpoctl validate --katib` can check against a cluster's own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

KATIB_VERSION = "v0.19.0"

#: algorithm -> the suggestion service that implements it in Katib v0.19.0 (which decides the settings).
SUGGESTION_SERVICES: dict[str, str] = {
    "random": "hyperopt",
    "tpe": "hyperopt",
    "grid": "optuna",
    "hyperband": "hyperband",
    "bayesianoptimization": "skopt",
    "cmaes": "goptuna",
    "sobol": "goptuna",
    "multivariate-tpe": "optuna",
    "enas": "enas",
    "darts": "darts",
    "pbt": "pbt",
}
EARLY_STOPPING_ALGORITHMS = ("medianstop",)
#: Collectors Katib injects as a sidecar; the webhook wants each of these configured in katib-config.
AUTO_INJECT_COLLECTORS = ("StdOut", "File", "TensorFlowEvent", "PrometheusMetric")
CONFIGURED_COLLECTORS = ("StdOut", "File", "TensorFlowEvent")
#: Every collector kind the webhook knows.
COLLECTOR_KINDS = ("StdOut", "File", "TensorFlowEvent", "PrometheusMetric", "Custom", "Push")
#: Collectors whose logs Katib's early stopping reads (Katib documents early stopping for these only).
EARLY_STOPPING_COLLECTORS = ("StdOut", "File")
#: hpoctl's suggestion service (a later issue), registered in katib-config by the helm chart.
HPOCTL_OPTUNA = "hpoctl-optuna"

#: Longest algorithm name a Katib Experiment of hpoctl may use: the names of the Deployment and Service
#: Katib derives (`<experiment>-<algorithm>`) must fit 63 characters whatever the algorithm.
LONGEST_ALGORITHM = max(len(name) for name in (*SUGGESTION_SERVICES, HPOCTL_OPTUNA))


@dataclass(frozen=True)
class KatibInstallation:
    """The names a cluster's katib-config registers."""

    suggestions: frozenset[str] = frozenset(SUGGESTION_SERVICES)
    early_stoppings: frozenset[str] = frozenset(EARLY_STOPPING_ALGORITHMS)
    metrics_collectors: frozenset[str] = frozenset(CONFIGURED_COLLECTORS)
    source: str = f"Katib {KATIB_VERSION} standalone katib-config"
    services: Mapping[str, str] = field(default_factory=lambda: dict(SUGGESTION_SERVICES))

    def with_suggestions(self, names: Iterable[str]) -> KatibInstallation:
        names = set(names)
        if not names - self.suggestions:
            return self
        return KatibInstallation(
            suggestions=self.suggestions | names,
            early_stoppings=self.early_stoppings,
            metrics_collectors=self.metrics_collectors,
            source=f"{self.source} + {', '.join(sorted(names - self.suggestions))}",
            services=self.services,
        )


DEFAULT_INSTALLATION = KatibInstallation()


def from_katib_config(data: Mapping[str, Any], source: str = "katib-config") -> KatibInstallation:
    """A KatibInstallation from a `config.kubeflow.org/v1beta1` KatibConfig (the file, or the ConfigMap
    whose `katib-config.yaml` key holds it)."""
    if data.get("kind") == "ConfigMap":
        import yaml

        data = yaml.safe_load((data.get("data") or {}).get("katib-config.yaml") or "{}") or {}
    runtime = data.get("runtime") or {}
    images = {s.get("algorithmName"): s.get("image", "") for s in runtime.get("suggestions") or []}
    services = {
        name: SUGGESTION_SERVICES.get(name) or image.rsplit("/", 1)[-1].split(":")[0].removeprefix("suggestion-")
        for name, image in images.items()
        if name
    }
    return KatibInstallation(
        suggestions=frozenset(services),
        early_stoppings=frozenset(e.get("algorithmName") for e in runtime.get("earlyStoppings") or []),
        metrics_collectors=frozenset(m.get("kind") for m in runtime.get("metricsCollectors") or []),
        source=source,
        services=services,
    )
