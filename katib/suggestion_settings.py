"""The algorithm settings of hpoctl-optuna, both ways: what `hpoctl render` writes into an Experiment's
`spec.algorithm.algorithmSettings`, and what the suggestion service reads back from it.

Katib passes settings as name/value text pairs, so every value here is text:

* `sampler`: tpe, multivariate-tpe, motpe, nsga2, cmaes, qmc or random (default tpe); its options are
  settings of their own, named and checked as in a study spec (`seed`, `n_startup_trials`, ...), values
  as JSON scalars (`20`, `true`, `0.5`) or plain words (`ipop`).
* `objectives`: the ordered objectives, `metric:direction,...` (`mae:minimize,picp_error:minimize`), each a
  metric the Experiment collects; a target objective (PICP closest to 0.80) is the `<metric>_error` the
  trainer reports. Default: the Experiment's objective metric and type.
* `conditions`: the spec's `when` conditions as compact JSON, values as Katib's text
  (`{"momentum":{"optimizer":["sgd"]}}`).
* `warm_start`: earlier trials (a continued stage's previous stages) as base64 of gzip of compact JSON,
  at most `WARM_START_LIMIT` characters so the Experiment stays far below Kubernetes' object size limit.

This module stays light (no grpc, no Optuna): `hpoctl render` imports it.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import math
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hpoctl.errors import HpoctlError
from hpoctl.spec.algorithms import ALGORITHM_SETTINGS, MULTI_OBJECTIVE_ALGORITHMS

if TYPE_CHECKING:
    from hpoctl.katib.pull import PulledTrial
    from hpoctl.plan import Plan

SAMPLER = "sampler"
OBJECTIVES = "objectives"
CONDITIONS = "conditions"
WARM_START = "warm_start"
OWN_SETTINGS = (SAMPLER, OBJECTIVES, CONDITIONS, WARM_START)
#: The samplers the service runs (Katib's own grid runs grids: Optuna's GridSampler keeps its visited points in
#: trial attributes that a trial rebuilt from Katib's request cannot carry).
SAMPLERS = ("tpe", "multivariate-tpe", "motpe", "nsga2", "cmaes", "qmc", "random")
DEFAULT_SAMPLER = "tpe"
DIRECTIONS = ("minimize", "maximize")
#: Characters of the encoded warm start at most: Kubernetes keeps an object under ~1.5 MiB, the Experiment and
#: Katib's Suggestion both carry the settings, and `kubectl apply` copies the spec into a 256 KiB annotation.
WARM_START_LIMIT = 128 * 1024
#: Decompressed bytes of a warm start at most (a gzip bomb in a spec must not exhaust the service's memory).
WARM_START_MAX_JSON = 32 * 1024 * 1024
WARM_START_VERSION = 1
_METRIC = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
#: numpy's generators, which Optuna's samplers use, take seeds 0 ... 2**32 - 1.
_SEED = (lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**32, "an integer in [0, 4294967295]")


class SettingsError(HpoctlError):
    """Algorithm settings hpoctl-optuna cannot run; every problem, each naming its setting."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))

    def lines(self) -> list[str]:
        return list(self.problems)


@dataclass(frozen=True)
class Objective:
    metric: str
    direction: str

    def text(self) -> str:
        return f"{self.metric}:{self.direction}"


@dataclass(frozen=True)
class WarmTrial:
    """One earlier trial: its assignments as Katib text (None: inactive) and its objective values."""

    assignments: dict[str, str]
    values: tuple[float, ...]


@dataclass(frozen=True)
class WarmStart:
    """An encoded warm start and how many of the offered trials it holds (the best, when cut to size)."""

    text: str
    kept: int
    offered: int


@dataclass(frozen=True)
class SuggestionSettings:
    sampler: str
    options: dict[str, Any]
    objectives: tuple[Objective, ...] | None
    conditions: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    warm_start: tuple[WarmTrial, ...] = ()

    @property
    def seed(self) -> int | None:
        return self.options.get("seed")


def parse_settings(settings: Iterable[tuple[str, str]]) -> SuggestionSettings:
    """Settings from Katib's name/value pairs; raises SettingsError listing every bad one."""
    problems: list[str] = []
    given: dict[str, str] = {}
    for name, value in settings:
        if name in given:
            problems.append(f"setting {name!r} is given twice")
        given[name] = value
    sampler = given.get(SAMPLER, DEFAULT_SAMPLER)
    if sampler not in SAMPLERS:
        problems.append(
            f"setting {SAMPLER}={sampler!r} is not a sampler hpoctl-optuna runs; valid: {', '.join(SAMPLERS)}"
        )
        raise SettingsError(problems)
    table = ALGORITHM_SETTINGS[sampler]
    options: dict[str, Any] = {}
    for name, text in given.items():
        if name in OWN_SETTINGS:
            continue
        if name not in table:
            valid = ", ".join([*OWN_SETTINGS, *sorted(table)])
            problems.append(f"setting {name!r} is unknown to hpoctl-optuna with sampler {sampler!r}; valid: {valid}")
            continue
        value = parse_option(text)
        check, allowed = table[name]
        if name == "seed":
            check, allowed = _SEED
        if not check(value):
            problems.append(f"setting {name}={text!r} must be {allowed}")
            continue
        options[name] = value
    objectives = None
    if OBJECTIVES in given:
        try:
            objectives = parse_objectives(given[OBJECTIVES])
        except ValueError as e:
            problems.append(f"setting {OBJECTIVES}={given[OBJECTIVES]!r}: {e}")
        else:
            if len(objectives) > 1 and sampler not in MULTI_OBJECTIVE_ALGORITHMS:
                valid = ", ".join(s for s in SAMPLERS if s in MULTI_OBJECTIVE_ALGORITHMS)
                problems.append(
                    f"setting {SAMPLER}={sampler!r} optimises one objective, but {OBJECTIVES} lists "
                    f"{len(objectives)}; for several use one of: {valid}"
                )
    conditions: dict[str, dict[str, list[str]]] = {}
    if CONDITIONS in given:
        try:
            conditions = parse_conditions(given[CONDITIONS])
        except ValueError as e:
            problems.append(f"setting {CONDITIONS}: {e}")
    warm: tuple[WarmTrial, ...] = ()
    if WARM_START in given:
        try:
            warm = decode_warm_start(given[WARM_START], objectives)
        except ValueError as e:
            problems.append(f"setting {WARM_START}: {e}")
    if problems:
        raise SettingsError(problems)
    return SuggestionSettings(sampler, options, objectives, conditions, warm)


def parse_option(text: str) -> Any:
    """A sampler option's value: a JSON scalar (`20`, `true`, `0.5`), else the text itself (`ipop`)."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, (bool, int, float, str)) else text


def format_option(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def parse_objectives(text: str) -> tuple[Objective, ...]:
    found: list[Objective] = []
    for part in text.split(","):
        metric, sep, direction = part.strip().rpartition(":")
        if not sep or not metric:
            raise ValueError(f"{part.strip()!r} is not metric:direction (e.g. tss:maximize)")
        if not _METRIC.match(metric):
            raise ValueError(f"{metric!r} is not a metric name")
        if direction not in DIRECTIONS:
            raise ValueError(f"direction {direction!r} of {metric!r} must be minimize or maximize")
        if any(o.metric == metric for o in found):
            raise ValueError(f"metric {metric!r} is listed twice")
        found.append(Objective(metric, direction))
    return tuple(found)


def format_objectives(objectives: Iterable[Objective]) -> str:
    return ",".join(o.text() for o in objectives)


def parse_conditions(text: str) -> dict[str, dict[str, list[str]]]:
    try:
        data = json.loads(text)
    except ValueError as e:
        raise ValueError(f"not JSON ({e})") from None
    shape = 'a JSON object {"param": {"other_param": ["value", ...]}} with values as Katib text'
    if not isinstance(data, dict):
        raise ValueError(f"must be {shape}")
    for name, when in data.items():
        if not isinstance(when, dict) or not when:
            raise ValueError(f"{name!r} must map to {shape}")
        for other, values in when.items():
            if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
                raise ValueError(f"{name}.{other} must be a non-empty list of strings (values as Katib text)")
    return data


def encode_conditions(conditions: Mapping[str, Mapping[str, Sequence[str]]]) -> str:
    return json.dumps(conditions, separators=(",", ":"))


def encode_warm_start(
    objectives: Sequence[Objective],
    parameters: Sequence[str],
    trials: Sequence[WarmTrial],
    *,
    limit: int = WARM_START_LIMIT,
) -> WarmStart:
    """The trials as a warm start no longer than `limit` characters, keeping the best when cut (one objective:
    the best values; several: the non-dominated fronts in order)."""
    directions = [o.direction for o in objectives]
    for trial in trials:
        if len(trial.values) != len(objectives) or not all(math.isfinite(v) for v in trial.values):
            raise ValueError(f"a warm-start trial needs {len(objectives)} finite values, got {trial.values}")
    ranked = _rank(trials, directions)

    def encode(count: int) -> str:
        payload = {
            "v": WARM_START_VERSION,
            "objectives": [o.text() for o in objectives],
            "parameters": list(parameters),
            "trials": [[[t.assignments.get(p) for p in parameters], list(t.values)] for t in ranked[:count]],
        }
        raw = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
        return base64.b64encode(gzip.compress(raw, compresslevel=9, mtime=0)).decode("ascii")

    text = encode(len(ranked))
    if len(text) <= limit:
        return WarmStart(text, len(ranked), len(trials))
    low, high = 0, len(ranked)  # the most trials that fit: encode(low) fits, encode(high) does not
    while high - low > 1:
        middle = (low + high) // 2
        if len(encode(middle)) <= limit:
            low = middle
        else:
            high = middle
    return WarmStart(encode(low), low, len(trials))


def decode_warm_start(text: str, objectives: Sequence[Objective] | None) -> tuple[WarmTrial, ...]:
    """The warm start's trials; its objectives must be the settings' (the Experiment's when not given)."""
    try:
        packed = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, binascii.Error, UnicodeEncodeError):
        raise ValueError("not base64 (expected base64 of gzip of JSON, as hpoctl render writes it)") from None
    try:
        reader = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        raw = reader.decompress(packed, WARM_START_MAX_JSON)
        if reader.unconsumed_tail:
            raise ValueError(f"decompresses to more than {WARM_START_MAX_JSON} bytes")
        data = json.loads(raw)
    except zlib.error:
        raise ValueError("not gzip data (expected base64 of gzip of JSON, as hpoctl render writes it)") from None
    except UnicodeDecodeError:
        raise ValueError("its JSON is not UTF-8") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"not JSON inside ({e})") from None
    if not isinstance(data, dict) or data.get("v") != WARM_START_VERSION:
        raise ValueError(f"not a version-{WARM_START_VERSION} warm start (a JSON object with v={WARM_START_VERSION})")
    names, parameters, trials = data.get("objectives"), data.get("parameters"), data.get("trials")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError("objectives must be a list of metric:direction")
    if not isinstance(parameters, list) or not all(isinstance(p, str) for p in parameters):
        raise ValueError("parameters must be a list of names")
    if not isinstance(trials, list):
        raise ValueError("trials must be a list of [assignments, values]")
    if objectives is not None and names != [o.text() for o in objectives]:
        raise ValueError(f"its objectives {names} differ from the setting objectives {[o.text() for o in objectives]}")
    found = []
    for i, entry in enumerate(trials):
        ok = (
            isinstance(entry, list)
            and len(entry) == 2
            and isinstance(entry[0], list)
            and len(entry[0]) == len(parameters)
            and all(v is None or isinstance(v, str) for v in entry[0])
            and isinstance(entry[1], list)
            and len(entry[1]) == len(names)
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in entry[1])
        )
        if not ok:
            raise ValueError(f"trials[{i}] must be [[{len(parameters)} texts or null], [{len(names)} finite numbers]]")
        assignments = {p: v for p, v in zip(parameters, entry[0], strict=True) if v is not None}
        found.append(WarmTrial(assignments, tuple(float(v) for v in entry[1])))
    return tuple(found)


def _rank(trials: Sequence[WarmTrial], directions: Sequence[str]) -> list[WarmTrial]:
    signs = [1.0 if d == "minimize" else -1.0 for d in directions]
    keyed = [(tuple(s * v for s, v in zip(signs, t.values, strict=True)), i) for i, t in enumerate(trials)]
    if len(directions) == 1:
        return [trials[i] for _, i in sorted(keyed)]
    ranked: list[WarmTrial] = []
    left = sorted(keyed)
    while left:
        front, rest = [], []
        for key, i in left:
            # Sorted lexicographically, a point can only be dominated by one before it in the front.
            if any(all(a <= b for a, b in zip(other, key, strict=True)) and other != key for other, _ in front):
                rest.append((key, i))
            else:
                front.append((key, i))
        ranked += [trials[i] for _, i in front]
        left = rest
    return ranked


def plan_objectives(plan: Plan, *, scalarise: bool = False) -> list[Objective]:
    """The plan's objectives as the metrics Katib collects for them (a target objective: `<metric>_error`);
    scalarised, the first only."""
    from hpoctl.katib.objectives import optimised_metric

    chosen = plan.objectives[:1] if scalarise else plan.objectives
    return [Objective(optimised_metric(o), o.optimised_direction) for o in chosen]


def plan_settings(
    plan: Plan, *, seed: int | None = None, scalarise: bool = False, warm_start: WarmStart | None = None
) -> dict[str, str]:
    """The settings of a plan's search stage on hpoctl-optuna: its algorithm and options (the study's seed
    unless the algorithm has one; `seed` overrides both), objectives, conditions and warm start."""
    from hpoctl.plan import encode_value

    sampler = plan.algorithm.name
    if sampler not in SAMPLERS:
        raise ValueError(f"algorithm {sampler!r} does not run on hpoctl-optuna; it runs: {', '.join(SAMPLERS)}")
    options = dict(plan.algorithm.settings)
    options.setdefault("seed", plan.seed)
    if seed is not None:
        options["seed"] = seed
    settings = {SAMPLER: sampler, **{name: format_option(value) for name, value in options.items()}}
    settings[OBJECTIVES] = format_objectives(plan_objectives(plan, scalarise=scalarise))
    conditions = {
        name: {other: [encode_value(v) for v in values] for other, values in param.when.items()}
        for name, param in plan.parameters.items()
        if param.when
    }
    if conditions:
        settings[CONDITIONS] = encode_conditions(conditions)
    if warm_start is not None and warm_start.kept:
        settings[WARM_START] = warm_start.text
    return settings


def plan_warm_start(
    plan: Plan, pulled: Iterable[PulledTrial], *, scalarise: bool = False, limit: int = WARM_START_LIMIT
) -> WarmStart:
    """A warm start from trials pulled from Katib (a continued stage's earlier stages): every succeeded trial
    with a value for each objective."""
    from hpoctl.katib.pull import objective_values
    from hpoctl.plan import encode_value

    objectives = plan_objectives(plan, scalarise=scalarise)
    trials = []
    for trial in pulled:
        if trial.condition != "Succeeded":
            continue
        values = objective_values(plan, trial.observed)[: len(objectives)]
        if any(v is None for v in values):
            continue
        assignments = {name: encode_value(value) for name, value in trial.params.items() if name in plan.parameters}
        trials.append(WarmTrial(assignments, tuple(float(v) for v in values)))  # type: ignore[arg-type]
    return encode_warm_start(objectives, list(plan.parameters), trials, limit=limit)
