"""Well-known synthetic test functions as hpoctl search spaces, for the families the tables lack: continuous and
mixed-type spaces, one and two objectives.

* One objective (minimised; regret = value - the continuous function's minimum): Branin (2 floats), Hartmann-6
  (6 floats), and a mixed Hartmann-6 (2 floats, 2 ints over 0..10 read as k/10, 2 categoricals over 0, 0.2, ...,
  1). The mixed problem's grid misses the continuous minimum, so its regret never reaches 0; trials to reach a
  regret are unaffected by that offset.
* Two objectives (both minimised; hypervolume with the reference point (2, 2)): ZDT1 and ZDT2 in 6 floats, DTLZ2
  with 2 objectives in 6 floats, and a mixed ZDT1 (x1 and x6 floats, x2 and x3 ints over 0..10 read as k/10, x4 and
  x5 categoricals over 0, 0.25, ..., 1). Every true front is reachable (each grid holds 0 and 0.5), so the front's
  hypervolume is that of the continuous problem.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from problems import hypervolume_2d

#: Hypervolume reference point of the two-objective problems: beyond every true front's nadir (1, 1), so a point
#: near the front counts, and close enough that random search in 6 dimensions scores well below the front.
REFERENCE = (2.0, 2.0)


@dataclass
class Synthetic:
    """One synthetic problem: hpoctl parameter specs, a function from a configuration to its objective values, and
    what it is measured against (the minimum for one objective, the true front's hypervolume for two)."""

    name: str
    parameters: dict[str, dict[str, Any]]
    function: Callable[[np.ndarray], tuple[float, ...]]
    minimum: float = 0.0
    front: Callable[[np.ndarray], np.ndarray] | None = None

    @property
    def metrics(self) -> list[str]:
        return ["f1", "f2"] if self.front is not None else ["f1"]

    @property
    def directions(self) -> list[str]:
        return ["minimize"] * len(self.metrics)

    def values(self, params: dict[str, Any]) -> tuple[float, ...]:
        return self.function(np.array([_number(params[name], spec) for name, spec in self.parameters.items()]))

    def best(self) -> float:
        return self.minimum

    def front_hypervolume(self) -> float:
        return hypervolume_2d(self.front(np.linspace(0.0, 1.0, 20001)), REFERENCE)

    def hypervolume(self, values: np.ndarray) -> float:
        return hypervolume_2d(np.asarray(values, dtype=float), REFERENCE)


def _number(value: Any, spec: dict[str, Any]) -> float:
    """A parameter's value as the function's coordinate: an int k over 0..10 is k/10, a float and a choice as is."""
    return value / 10 if spec["type"] == "int" else float(value)


def _floats(names, low=0.0, high=1.0) -> dict[str, dict[str, Any]]:
    return {n: {"type": "float", "low": low, "high": high, "default": (low + high) / 2} for n in names}


def _ints(names) -> dict[str, dict[str, Any]]:
    return {n: {"type": "int", "low": 0, "high": 10, "default": 5} for n in names}


def _choices(names, levels) -> dict[str, dict[str, Any]]:
    return {n: {"type": "categorical", "choices": list(levels), "default": levels[len(levels) // 2]} for n in names}


def branin(x: np.ndarray) -> tuple[float]:
    b, c, t = 5.1 / (4 * np.pi**2), 5 / np.pi, 1 / (8 * np.pi)
    return (float((x[1] - b * x[0] ** 2 + c * x[0] - 6) ** 2 + 10 * (1 - t) * np.cos(x[0]) + 10),)


_H6_A = np.array(
    [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
)
_H6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(x: np.ndarray) -> tuple[float]:
    return (float(-np.sum(_H6_ALPHA * np.exp(-np.sum(_H6_A * (x - _H6_P) ** 2, axis=1)))),)


def zdt1(x: np.ndarray) -> tuple[float, float]:
    g = 1 + 9 * np.mean(x[1:])
    return float(x[0]), float(g * (1 - np.sqrt(x[0] / g)))


def zdt2(x: np.ndarray) -> tuple[float, float]:
    g = 1 + 9 * np.mean(x[1:])
    return float(x[0]), float(g * (1 - (x[0] / g) ** 2))


def dtlz2(x: np.ndarray) -> tuple[float, float]:
    g = np.sum((x[1:] - 0.5) ** 2)
    angle = x[0] * np.pi / 2
    return float((1 + g) * np.cos(angle)), float((1 + g) * np.sin(angle))


def _front(function, fill: float):
    """The true front of a ZDT/DTLZ problem: x1 over [0, 1], the other coordinates at their optimum `fill`."""
    return lambda x1: np.array([function(np.array([v, *[fill] * 5])) for v in x1])


_X = [f"x{i}" for i in range(1, 7)]
SINGLE_OBJECTIVE = {
    "continuous/branin": lambda: Synthetic(
        "continuous/branin",
        {"x1": {"type": "float", "low": -5.0, "high": 10.0, "default": 2.5}, **_floats(["x2"], 0.0, 15.0)},
        branin,
        minimum=0.397887357729738,
    ),
    "continuous/hartmann6": lambda: Synthetic(
        "continuous/hartmann6", _floats(_X), hartmann6, minimum=-3.32236801141551
    ),
    "mixed/hartmann6": lambda: Synthetic(
        "mixed/hartmann6",
        {**_floats(_X[:2]), **_ints(_X[2:4]), **_choices(_X[4:], [0.0, 0.2, 0.4, 0.6, 0.8, 1.0])},
        hartmann6,
        minimum=-3.32236801141551,
    ),
}
TWO_OBJECTIVE = {
    "continuous/zdt1": lambda: Synthetic("continuous/zdt1", _floats(_X), zdt1, front=_front(zdt1, 0.0)),
    "continuous/zdt2": lambda: Synthetic("continuous/zdt2", _floats(_X), zdt2, front=_front(zdt2, 0.0)),
    "continuous/dtlz2": lambda: Synthetic("continuous/dtlz2", _floats(_X), dtlz2, front=_front(dtlz2, 0.5)),
    "mixed/zdt1": lambda: Synthetic(
        "mixed/zdt1",
        {
            **_floats(["x1"]),
            **_ints(_X[1:3]),
            **_choices(_X[3:5], [0.0, 0.25, 0.5, 0.75, 1.0]),
            **_floats(["x6"]),
        },
        zdt1,
        front=_front(zdt1, 0.0),
    ),
}
