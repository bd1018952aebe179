"""Search-space parameters: int, float (log scale, step), categorical, each with a default and an
optional condition (`when`) on another parameter's values."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)

ParamName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=63)]
Scalar = Union[StrictBool, StrictInt, StrictFloat, StrictStr, None]
Choice = Union[Scalar, list[StrictBool | StrictInt | StrictFloat | StrictStr]]
Number = Union[StrictInt, StrictFloat]


class _Parameter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    when: dict[ParamName, list[Choice]] | None = Field(
        default=None,
        description="Active only when each named parameter takes one of the listed values.",
    )

    @model_validator(mode="after")
    def _when_not_empty(self):
        if self.when is not None:
            if not self.when:
                raise ValueError("when must name at least one parameter")
            for name, values in self.when.items():
                if not values:
                    raise ValueError(f"when.{name} must list at least one value")
        return self


def _check_step_divides(low: float, high: float, step: float) -> None:
    """Optuna moves `high` down to the last step below it (with a warning) when the step does not divide the
    range, and a step wider than the range leaves one value: say so instead."""
    steps = (high - low) / step
    if steps < 1 - 1e-9:
        raise ValueError(f"step={step} is wider than the range [{low}, {high}]: every trial would get {low}")
    if abs(steps - round(steps)) > 1e-9 * max(1.0, steps):
        raise ValueError(
            f"step={step} does not divide the range [{low}, {high}]: (high - low) / step must be a whole number "
            f"(e.g. high={low + math.floor(steps + 1e-9) * step:g})"
        )


class IntParameter(_Parameter):
    type: Literal["int"]
    low: StrictInt
    high: StrictInt
    step: StrictInt = 1
    log: StrictBool = False
    default: StrictInt

    @model_validator(mode="after")
    def _check_range(self):
        _check_bounds(self.low, self.high, self.log)
        if self.step < 1:
            raise ValueError(f"step must be a positive integer, got step={self.step}")
        if self.log and self.step != 1:
            raise ValueError(f"a log-scale int parameter takes no step, got step={self.step}")
        _check_step_divides(self.low, self.high, self.step)
        _check_default_in_range(self.default, self.low, self.high)
        if (self.default - self.low) % self.step:
            raise ValueError(f"default {self.default} is not on the grid low={self.low} + k*step={self.step}")
        return self


class FloatParameter(_Parameter):
    type: Literal["float"]
    low: Number
    high: Number
    step: Number | None = None
    log: StrictBool = False
    default: Number

    @model_validator(mode="after")
    def _check_range(self):
        for name in ("low", "high", "default"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be a finite number, got {getattr(self, name)}")
        _check_bounds(self.low, self.high, self.log)
        if self.step is not None:
            if self.step <= 0:
                raise ValueError(f"step must be positive, got step={self.step}")
            if self.log:
                raise ValueError(f"a log-scale float parameter takes no step, got step={self.step}")
            _check_step_divides(self.low, self.high, self.step)
        _check_default_in_range(self.default, self.low, self.high)
        return self


class CategoricalParameter(_Parameter):
    type: Literal["categorical"]
    choices: list[Choice]
    default: Choice

    @model_validator(mode="after")
    def _check_choices(self):
        if not self.choices:
            raise ValueError("choices must not be empty")
        seen: list[Any] = []
        for choice in self.choices:
            if any(_same(choice, other) for other in seen):
                raise ValueError(f"choices lists {choice!r} twice")
            seen.append(choice)
        if not any(_same(self.default, c) for c in self.choices):
            raise ValueError(f"default {self.default!r} is not one of the choices {self.choices!r}")
        return self


Parameter = Annotated[IntParameter | FloatParameter | CategoricalParameter, Field(discriminator="type")]
PARAMETER_TYPES = ("int", "float", "categorical")


def _same(a: Any, b: Any) -> bool:
    """Equality that keeps True apart from 1 and 1 apart from 1.0, as a categorical choice should."""
    return type(a) is type(b) and a == b


def _check_bounds(low: float, high: float, log: bool) -> None:
    if low >= high:
        raise ValueError(f"low must be less than high, got low={low} high={high}")
    if log and low <= 0:
        raise ValueError(f"a log-scale range needs low > 0, got low={low}")


def _check_default_in_range(default: float, low: float, high: float) -> None:
    if not low <= default <= high:
        raise ValueError(f"default {default} is outside [{low}, {high}]")


def is_discrete(param: IntParameter | FloatParameter | CategoricalParameter) -> bool:
    """Whether the parameter has finitely many values (what grid search needs)."""
    return not isinstance(param, FloatParameter) or param.step is not None


def grid_values(param: IntParameter | FloatParameter | CategoricalParameter) -> list[Any]:
    if isinstance(param, CategoricalParameter):
        return list(param.choices)
    if isinstance(param, IntParameter):
        return list(range(param.low, param.high + 1, param.step))
    if param.step is None:
        raise ValueError("a continuous float parameter has no grid")
    count = math.floor((param.high - param.low) / param.step + 1e-9) + 1
    return [round(param.low + i * param.step, 12) for i in range(count)]
