"""The plan: a study spec resolved for one target (presets and overrides applied, stages chosen).

`build_plans` is a pure function; everything a backend needs to run a target is in the Plan.
"""

from __future__ import annotations

import fnmatch
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from hpoctl.catalog import LoadedStudy, load_study
from hpoctl.errors import SpecError, UnknownNameError, UsageError
from hpoctl.search import auto
from hpoctl.search.auto import AUTO
from hpoctl.spec.algorithms import Algorithm, EarlyStopping, default_population_size
from hpoctl.spec.loader import apply_presets, deep_merge, parse_set_overrides
from hpoctl.spec.objectives import Objective
from hpoctl.spec.study import Limits, Resources, SearchSpace, StudySpec, Trainer
from hpoctl.spec.tracking import Tracking

ALL_TARGETS = "all"


class _Local:
    """`trainer_args`' default data: the plan's own, as a path on this machine."""


LOCAL_DATA = _Local()


class StagePlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    index: int
    mode: Literal["continue", "top-k"]
    trials: int
    epochs: int
    top_k: int | None = None
    repeats: int = 1
    """Top-k stages: runs of each configuration, each with its own fresh seed (`confirmation_seed`)."""
    previous: str | None = None
    timeout: int | None = None


class Plan(BaseModel):
    """Everything a backend needs to run one target of a study."""

    model_config = ConfigDict(frozen=True)

    study: str
    target: str
    target_args: dict[str, Any]
    seed: int
    parameters: SearchSpace
    objectives: list[Objective]
    algorithm: Algorithm
    """The sampler every backend builds: `auto` already resolved (see `algorithm_choice`)."""
    algorithm_choice: str | None = None
    """For `algorithm: auto`, what it resolved to and why (`auto -> tpe (2 objectives, a continuous parameter)`)."""
    early_stopping: EarlyStopping
    stages: list[StagePlan]
    resources: Resources
    trainer: Trainer
    limits: Limits
    data: str | None = None
    """The trainer's --data as the user gave it (`--data`, else the spec's `data:`); None: synthetic data."""
    data_base: str | None = None
    """The folder a relative `data` is relative to here (the spec file's, or the working folder for --data)."""
    tracking: Tracking | None = None
    presets: list[str] = []
    overrides: dict[str, Any] = {}
    source: str = ""

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    @property
    def directions(self) -> list[str]:
        """Optuna's direction of each objective, in order."""
        return [objective.optimised_direction for objective in self.objectives]

    @property
    def total_trials(self) -> int:
        return sum(stage.trials for stage in self.stages)

    def stage(self, name: str) -> StagePlan:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise UnknownNameError("stage", name, [s.name for s in self.stages], where=f"study {self.study!r}")

    def trainer_command(self) -> list[str]:
        if self.trainer.module:
            return [sys.executable, "-m", self.trainer.module]
        return list(self.trainer.command or [])

    def local_data(self) -> str | None:
        """`data` as a path on this machine (and on a SLURM cluster's shared file system)."""
        if self.data is None:
            return None
        path = Path(self.data).expanduser()
        return str(path if path.is_absolute() else Path(self.data_base or ".").resolve() / path)

    def trainer_args(
        self, params: Mapping[str, Any], *, epochs: int, seed: int, data: str | _Local | None = LOCAL_DATA
    ) -> list[str]:
        """The trainer contract's arguments: target, epochs, seed, data (this machine's path unless a backend
        gives its own), fixed args, then `--name=value`."""
        args = ["--target", self.target, "--epochs", str(epochs), "--seed", str(seed)]
        data = self.local_data() if isinstance(data, _Local) else data
        if data is not None:
            args += ["--data", data]
        synthetic = self.trainer.synthetic_args if data is None else {}
        for name, value in {**self.target_args, **self.trainer.args, **synthetic}.items():
            args.append(f"--{name}={encode_value(value)}")
        for name, value in params.items():
            args.append(f"--{name}={encode_value(value)}")
        return args

    def saves_model(self, stage: StagePlan | None) -> bool:
        """Whether a trial of `stage` (None: train-best) saves its model, as `trainer.save_model` says."""
        saves = self.trainer.saves_models
        return saves == "all" or (saves == "confirmation" and (stage is None or stage.mode == "top-k"))

    @property
    def save_by(self) -> str:
        """`--save-by`: the epoch whose weights are kept is the one the first objective's strategy picks."""
        objective = self.objectives[0]
        return f"{objective.metric}:{objective.strategy}"

    def model_args(self, stage: StagePlan | None, folder: str) -> list[str]:
        """`--save-model FOLDER --save-by METRIC:STRATEGY` where the trial saves its model, else nothing."""
        return ["--save-model", folder, "--save-by", self.save_by] if self.saves_model(stage) else []

    def to_data(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


def confirmation_seed(seed: int, repeat: int) -> int:
    """The trainer's seed for repeat `repeat` (0, 1, ...) of a top-k stage: never the search's own `seed`, and the
    same for every configuration, so that they are compared on the same seeds."""
    return seed + 1 + repeat


def encode_value(value: Any) -> str:
    """How a value travels as a command-line argument (and a Katib assignment): lists and booleans as
    compact JSON, which the trainers decode, everything else as text."""
    if isinstance(value, (list, tuple, bool)) or value is None:
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, float):
        return repr(value)
    return str(value)


def select_targets(spec: StudySpec, selection: str | Sequence[str]) -> list[str]:
    """The targets a selection names, in the spec's order: `all`, names, comma lists (`C_24h,X_72h`) and shell-style
    patterns (`M_*`, `?_24h`), given once or several times. A name or pattern that selects nothing is an error."""
    words = [w.strip() for part in ([selection] if isinstance(selection, str) else selection) for w in part.split(",")]
    if not any(words):
        raise UsageError(f"--target is empty; give a target of study {spec.name!r}, a pattern such as 'M_*', or all")
    chosen: set[str] = set()
    for word in filter(None, words):
        if word == ALL_TARGETS:
            chosen.update(spec.targets)
        elif any(c in word for c in "*?["):
            matched = fnmatch.filter(spec.targets, word)
            if not matched:
                raise UsageError(
                    f"--target {word!r} matches no target of study {spec.name!r}; targets: {', '.join(spec.targets)}"
                )
            chosen.update(matched)
        elif word in spec.targets:
            chosen.add(word)
        else:
            raise UnknownNameError("target", word, [*spec.targets, ALL_TARGETS], where=f"study {spec.name!r}")
    return [name for name in spec.targets if name in chosen]


def share_budget(planned: Sequence[int], units: Sequence[int], total: int | None) -> list[int]:
    """`total` trials shared out over stages planned for `planned` trials each, in multiples of each stage's unit
    (a top-k stage's repeats): one unit each, the rest in proportion to what each stage planned beyond that, what
    rounding leaves over to the first stages in protocol order; the planned counts when they fit."""
    if total is None or total >= sum(planned):
        return list(planned)
    if total <= sum(units):  # the spec's validation refuses fewer
        return list(units)
    shares = list(units)
    spare = [n - unit for n, unit in zip(planned, units, strict=True)]
    rest = total - sum(shares)
    for index, unit in enumerate(units):
        shares[index] += rest * spare[index] // max(1, sum(spare)) // unit * unit
    for index, unit in enumerate(units):
        room = min(planned[index] - shares[index], total - sum(shares))
        shares[index] += max(0, room // unit * unit)
    return shares


def stage_units(spec: StudySpec) -> list[int]:
    """Trials a stage runs at the least: one for a search stage, its repeats for a top-k stage."""
    return [s.repeat_count if s.mode == "top-k" else 1 for s in spec.protocol]


def resolve_stages(spec: StudySpec, stage: str | None) -> list[StagePlan]:
    plans = []
    budget = share_budget([s.trial_count for s in spec.protocol], stage_units(spec), spec.limits.max_trials)
    searched = 0
    for index, s in enumerate(spec.protocol):
        if s.mode == "top-k":  # at most the configurations searched before it
            top_k = max(1, min(budget[index] // s.repeat_count, searched or budget[index]))
            trials = top_k * s.repeat_count
        else:
            trials = budget[index]
            searched += trials
        plans.append(
            StagePlan(
                name=s.name,
                index=index,
                mode=s.mode,
                trials=trials,
                epochs=s.epochs,
                top_k=top_k if s.mode == "top-k" else None,
                repeats=s.repeat_count if s.mode == "top-k" else 1,
                previous=spec.protocol[index - 1].name if index else None,
                timeout=s.timeout,
            )
        )
    if stage is None:
        return plans
    chosen = [p for p in plans if p.name == stage]
    if not chosen:
        raise UnknownNameError("stage", stage, [p.name for p in plans], where=f"study {spec.name!r}")
    return chosen


def resolved_algorithm(spec: StudySpec, space: SearchSpace | None = None) -> tuple[Algorithm, str | None]:
    """The spec's algorithm with the settings hpoctl chooses when the spec leaves them out, and `auto` resolved
    for the target's `space` (with a line saying what it chose), here so that every backend (local, SLURM,
    hpoctl-optuna on Katib) runs the same sampler."""
    algorithm = spec.algorithm
    searched = sum(s.trials for s in resolve_stages(spec, None) if s.mode == "continue")
    if algorithm.name == AUTO:
        try:
            choice = auto.choose(
                space if space is not None else spec.parameters,
                objectives=len(spec.objectives),
                searched_trials=searched,
                parallelism=spec.limits.parallelism,
                settings=algorithm.settings,
            )
        except ValueError as e:
            raise SpecError(spec.name, [str(e)]) from e
        return choice.algorithm, choice.describe()
    if algorithm.name == "nsga2" and "population_size" not in algorithm.settings:
        settings = {**algorithm.settings, "population_size": default_population_size(searched)}
        return algorithm.model_copy(update={"settings": settings}), None
    return algorithm, None


def build_plans(
    study: LoadedStudy,
    target: str | Sequence[str],
    *,
    stage: str | None = None,
    presets: Iterable[str] = (),
    overrides: Mapping[str, Any] | None = None,
    data: str | None = None,
) -> list[Plan]:
    """One plan per selected target, with the presets (in order) and overrides applied; `data` (`--data`, relative
    to the working folder) replaces the spec's data for every target."""
    presets = list(presets)
    spec = apply_presets(study.raw, presets, study.source, overrides) if presets or overrides else study.spec
    stages = resolve_stages(spec, stage)
    spec_folder = str(Path(study.source).resolve().parent) if not study.source.startswith("catalog/") else None

    def data_of(target: str) -> tuple[str | None, str | None]:
        if data is not None:
            return data.removeprefix("file://"), str(Path.cwd())
        if spec.data is not None and spec.data.for_target(target) is not None:
            return spec.data.for_target(target), spec_folder or str(Path.cwd())
        legacy = spec.trainer.args.get("data")  # `--set trainer.args.data=PATH`, before `data:` existed
        return (str(legacy), str(Path.cwd())) if legacy is not None else (None, None)

    targets = select_targets(spec, target)
    algorithms = {name: resolved_algorithm(spec, spec.space_for(name)) for name in targets}
    trainer = spec.trainer
    if "data" in trainer.args:
        trainer = trainer.model_copy(update={"args": {k: v for k, v in trainer.args.items() if k != "data"}})
    return [
        Plan(
            study=spec.name,
            target=name,
            target_args=dict(spec.targets[name].args),
            seed=spec.seed,
            parameters=spec.space_for(name),
            objectives=spec.objectives,
            algorithm=algorithms[name][0],
            algorithm_choice=algorithms[name][1],
            early_stopping=spec.early_stopping,
            stages=stages,
            resources=spec.resources,
            trainer=trainer,
            limits=spec.limits,
            data=data_of(name)[0],
            data_base=data_of(name)[1],
            tracking=spec.tracking,
            presets=presets,
            overrides=dict(overrides or {}),
            source=study.source,
        )
        for name in targets
    ]


def select_plans(
    study: str,
    target: str | list[str],
    *,
    stage: str | None = None,
    preset: list[str] | None = None,
    set_: list[str] | None = None,
    max_trials: int | None = None,
    data: str | None = None,
) -> list[Plan]:
    """The plans a command (or `hpoctl.load`) acts on: every command that takes a study selects them the same way
    (target, stage, presets, --set overrides), so `status` after `launch --preset quick` judges the quick run by
    its own budget."""
    overrides = parse_set_overrides(set_ or [])
    if max_trials is not None:
        overrides = deep_merge(overrides, {"limits": {"max_trials": max_trials}})
    return build_plans(load_study(study), target, stage=stage, presets=preset or [], overrides=overrides, data=data)


def one_plan(
    command: str,
    study: str,
    target: str | list[str],
    *,
    hint: str = "",
    **selection: Any,
) -> Plan:
    """The one plan of a command that acts on a single target; a selection of several is a usage error."""
    plans = select_plans(study, target, **selection)
    if len(plans) != 1:
        names = ", ".join(p.target for p in plans)
        raise UsageError(f"{command} takes one target, and --target selects {len(plans)} ({names}){hint}")
    return plans[0]
