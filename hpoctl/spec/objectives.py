"""Objectives: a metric with a direction, a metric with a target value ("closest to 0.80"), or a
weighted composite of metrics."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, model_validator

from hpoctl.spec.expression import ExpressionError, expression_metrics

MetricName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$", max_length=63)]
Direction = Literal["minimize", "maximize"]


class Objective(BaseModel):
    """One objective. `direction` alone optimises the metric; `target` minimises |metric - target|;
    `expression` makes a composite named `metric` from the metrics the trainer reports."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: MetricName
    direction: Direction | None = None
    target: StrictFloat | StrictInt | None = None
    expression: str | None = None
    strategy: Literal["latest", "max", "min"] = Field(
        default="latest", description="Which epoch's value is the trial's result (Katib metricStrategies)."
    )
    goal: StrictFloat | StrictInt | None = Field(default=None, description="Stop the study once reached.")
    description: str = ""

    @model_validator(mode="after")
    def _check(self):
        if self.target is not None:
            if self.direction == "maximize":
                raise ValueError(
                    f"objective {self.metric!r} has a target ({self.target}): it is minimised as the distance "
                    "to the target; drop direction or set it to minimize"
                )
            if self.expression is not None:
                raise ValueError(f"objective {self.metric!r}: target and expression cannot be combined")
        elif self.direction is None:
            raise ValueError(f"objective {self.metric!r} needs direction (minimize or maximize) or a target")
        if self.expression is not None:
            try:
                names = expression_metrics(self.expression)
            except ExpressionError as e:
                raise ValueError(str(e)) from e
            if not names:
                raise ValueError(f"expression {self.expression!r} names no metric")
        return self

    @property
    def optimised_direction(self) -> Direction:
        return "minimize" if self.target is not None else self.direction  # type: ignore[return-value]

    @property
    def reported_metrics(self) -> list[str]:
        """The metrics the trainer must report for this objective."""
        return expression_metrics(self.expression) if self.expression else [self.metric]

    def label(self) -> str:
        if self.target is not None:
            return f"{self.metric} closest to {self.target}"
        if self.expression is not None:
            return f"{self.metric} = {self.expression} ({self.direction})"
        return f"{self.metric} ({self.direction})"
