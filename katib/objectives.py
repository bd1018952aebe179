"""The study's objectives as Katib's one objective (Katib optimises a single metric, kubeflow/katib#1549).

A direction objective is its metric; a target objective (PICP closest to 0.80) is minimised through
the metric the trainer reports as `<metric>_error` (|picp - 0.80|); a composite `expression` objective
is reported by the trainer under the objective's own metric name. With several objectives Katib needs
hpoctl's suggestion service, unless the user scalarises: the first objective is optimised and the
others are collected as additional metrics, so a pull still records every objective.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubeflow_katib_api.models import V1beta1MetricStrategy, V1beta1ObjectiveSpec

from hpoctl.katib.errors import KatibUnsupported
from hpoctl.katib.katib_config import HPOCTL_OPTUNA
from hpoctl.plan import Plan
from hpoctl.spec.expression import expression_metrics
from hpoctl.spec.objectives import Objective

ERROR_SUFFIX = "_error"


def optimised_metric(objective: Objective) -> str:
    """The metric Katib reads for an objective: `<metric>_error` for a target objective."""
    return f"{objective.metric}{ERROR_SUFFIX}" if objective.target is not None else objective.metric


@dataclass(frozen=True)
class MetricPlan:
    """Which metrics an Experiment collects, and with which strategy."""

    objective: str
    additional: list[str]
    strategies: dict[str, str]


def metric_plan(plan: Plan, *, scalarise: bool = False) -> MetricPlan:
    if plan.multi_objective and not scalarise:
        metrics = ", ".join(o.metric for o in plan.objectives)
        raise KatibUnsupported(
            f"{plan.study}/{plan.target}: {len(plan.objectives)} objectives ({metrics}) but Katib optimises one "
            f"(kubeflow/katib#1549); multi-objective studies need the {HPOCTL_OPTUNA} suggestion service "
            f"(--algorithm hpoctl-optuna, the default), or pass --scalarise to optimise "
            f"{plan.objectives[0].metric} and record the others"
        )
    first = plan.objectives[0]
    strategies: dict[str, str] = {optimised_metric(first): first.strategy}
    additional: list[str] = []

    def add(name: str, strategy: str) -> None:
        if name not in strategies:
            strategies[name] = strategy
            additional.append(name)

    for objective in plan.objectives[1:]:
        add(optimised_metric(objective), objective.strategy)
    # What the objectives are made of, recorded at the trial's last epoch (as the local backend does).
    for objective in plan.objectives:
        if objective.target is not None:
            add(objective.metric, "latest")
        if objective.expression is not None:
            for name in expression_metrics(objective.expression):
                add(name, "latest")
    return MetricPlan(objective=optimised_metric(first), additional=additional, strategies=strategies)


def katib_objective(plan: Plan, *, scalarise: bool = False) -> V1beta1ObjectiveSpec:
    metrics = metric_plan(plan, scalarise=scalarise)
    first = plan.objectives[0]
    return V1beta1ObjectiveSpec(
        type=first.optimised_direction,
        objective_metric_name=metrics.objective,
        goal=first.goal,
        additional_metric_names=metrics.additional or None,
        metric_strategies=[V1beta1MetricStrategy(name=n, value=s) for n, s in metrics.strategies.items()],
    )
