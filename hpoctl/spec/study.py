"""The study spec: what to tune (parameters), on what (targets), for what (objectives), how
(algorithm, early stopping, protocol of stages) and where (resources, trainer, limits)."""

from __future__ import annotations

import itertools
import math
import re
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)

from hpoctl.spec.algorithms import MULTI_OBJECTIVE_ALGORITHMS, ONLY_MULTI_OBJECTIVE, Algorithm, EarlyStopping
from hpoctl.spec.durations import Duration
from hpoctl.spec.objectives import MetricName, Objective
from hpoctl.spec.parameters import CategoricalParameter, Parameter, ParamName, _same, is_discrete
from hpoctl.spec.tracking import Tracking

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
StudyName = Annotated[str, Field(pattern=DNS_LABEL, max_length=40)]
StageName = Annotated[str, Field(pattern=DNS_LABEL, max_length=20)]
TargetName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$", max_length=63)]
ArgName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]*$", max_length=63)]
ArgValue = Union[StrictBool, StrictInt, StrictFloat, StrictStr]
Quantity = Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")]
SearchSpace = dict[ParamName, Parameter]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_range(value: list[float]) -> list[float]:
    if len(value) != 2:
        raise ValueError(f"an expected range is [low, high], got {value!r}")
    low, high = value
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"an expected range needs finite bounds, got {value!r}")
    if low > high:
        raise ValueError(f"an expected range is [low, high] with low <= high, got {value!r}")
    return value


ExpectedRange = Annotated[list[StrictFloat | StrictInt], AfterValidator(_check_range)]


class Target(_Strict):
    """A named set of fixed trainer arguments, e.g. M_24h -> --flare-class M --window 24."""

    args: dict[ArgName, ArgValue] = Field(default_factory=dict)
    search_space: ParamName | None = Field(
        default=None, description="Name of an entry in search_spaces; the study's parameters otherwise."
    )
    expected: dict[MetricName, ExpectedRange] = Field(
        default_factory=dict,
        description="The range [low, high] an objective's metric is expected to reach on this target (a paper's "
        "figures), drawn beside the result in the cross-target view.",
    )
    description: str = ""


class TargetGrid(_Strict):
    """The two target args that lay the targets out as a table (rows x columns) in the cross-target view; left
    out, it is derived when exactly two args vary across the targets."""

    rows: ArgName
    columns: ArgName


#: Bounds that catch a typo (`trials: 10**30`) before it reaches a sampler, a Katib Experiment (int32 counts) or a
#: SLURM array: far above any study the seeds run (hundreds of trials, 120 epochs).
MAX_STAGE_TRIALS = 100_000
#: Trainers that keep the whole trainer contract, `--save-model` included.
BUILT_IN_TRAINERS = "hpoctl.trainers."
#: A top-k stage trains each configuration again this many times, with seeds other than the search's, and ranks
#: on the mean: one run with the search's seed reproduces its curve exactly and confirms nothing.
DEFAULT_REPEATS = 3
MAX_REPEATS = 100
MAX_EPOCHS = 1_000_000


class Stage(_Strict):
    """One step of the protocol. `continue` adds trials to the study at this stage's epochs;
    `top-k` re-runs the previous stage's best k configurations at this stage's epochs."""

    name: StageName
    mode: Literal["continue", "top-k"] = "continue"
    trials: StrictInt | None = None
    top_k: StrictInt | None = None
    repeats: StrictInt | None = None
    epochs: StrictInt
    timeout: Duration | None = None
    description: str = ""

    @model_validator(mode="after")
    def _check(self):
        if self.epochs < 1:
            raise ValueError(f"stage {self.name!r}: epochs must be at least 1, got {self.epochs}")
        if self.mode == "top-k":
            if self.top_k is None:
                raise ValueError(f"stage {self.name!r} has mode top-k but no top_k")
            if self.top_k < 1:
                raise ValueError(f"stage {self.name!r}: top_k must be at least 1, got {self.top_k}")
            if not 1 <= self.repeat_count <= MAX_REPEATS:
                raise ValueError(f"stage {self.name!r}: repeats must be 1 to {MAX_REPEATS}, got {self.repeats}")
            if self.trials is not None and self.trials != self.top_k * self.repeat_count:
                raise ValueError(
                    f"stage {self.name!r}: a top-k stage runs top_k x repeats trials; drop trials "
                    f"(got trials={self.trials}, top_k={self.top_k}, repeats={self.repeat_count})"
                )
        else:
            if self.top_k is not None:
                raise ValueError(f"stage {self.name!r}: top_k needs mode: top-k")
            if self.repeats is not None:
                raise ValueError(f"stage {self.name!r}: repeats needs mode: top-k")
            if self.trials is None:
                raise ValueError(f"stage {self.name!r} needs trials")
            if self.trials < 1:
                raise ValueError(f"stage {self.name!r}: trials must be at least 1, got {self.trials}")
        if self.trial_count > MAX_STAGE_TRIALS:
            raise ValueError(
                f"stage {self.name!r}: {self.trial_count} trials is more than the {MAX_STAGE_TRIALS:,} a stage may run"
            )
        if self.epochs > MAX_EPOCHS:
            raise ValueError(f"stage {self.name!r}: {self.epochs} epochs is more than the {MAX_EPOCHS:,} allowed")
        return self

    @property
    def repeat_count(self) -> int:
        """Fresh-seed runs of each configuration in a top-k stage."""
        return DEFAULT_REPEATS if self.repeats is None else self.repeats

    @property
    def trial_count(self) -> int:
        return self.top_k * self.repeat_count if self.mode == "top-k" else self.trials  # type: ignore[operator,return-value]


class Resources(_Strict):
    """What one trial requests."""

    cpu: Quantity | StrictInt | StrictFloat = "1"
    memory: Quantity = "2Gi"
    gpu: StrictInt = Field(default=0, ge=0)
    trials_per_gpu: Literal["auto"] | Annotated[StrictInt, Field(ge=1, le=64)] = Field(
        default="auto",
        description="Trials side by side on one GPU (gpu: 1): a number, or auto: as many as the first trial's peak "
        "memory allows, at most 8 (hpoctl.gpu_share).",
    )
    node_pool: Annotated[str, Field(pattern=DNS_LABEL, max_length=63)] | None = None


class Trainer(_Strict):
    """What runs one trial: a Python module (`python -m MODULE`) or any command keeping the trainer
    contract, its container image, and fixed extra arguments."""

    module: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")] | None = None
    command: list[StrictStr] | None = None
    image: str = "ghcr.io/hpoctl/trainer:0.1.0"
    args: dict[ArgName, ArgValue] = Field(default_factory=dict)
    synthetic_args: dict[ArgName, ArgValue] = Field(
        default_factory=dict,
        description="Fixed arguments given only when the study has no data (sizes of the generated data).",
    )
    warm: bool = True
    """A `module` trainer's trials are forked from one warm process per slot (torch and the trainer imported once);
    false: a fresh interpreter per trial. A `command` always starts fresh."""
    save_model: Literal["confirmation", "all", "none"] | None = None
    """Which trials save their model (`--save-model`): top-k stages and train-best (`confirmation`), every trial
    (`all`) or none. Default: `confirmation` for a built-in trainer, `none` for another (it may not take the flag)."""

    @property
    def saves_models(self) -> Literal["confirmation", "all", "none"]:
        if self.save_model is not None:
            return self.save_model
        return "confirmation" if (self.module or "").startswith(BUILT_IN_TRAINERS) else "none"

    @model_validator(mode="after")
    def _check(self):
        if (self.module is None) == (self.command is None):
            raise ValueError("trainer needs exactly one of module or command")
        if self.command is not None and not self.command:
            raise ValueError("trainer.command must not be empty")
        return self


class Data(_Strict):
    """The trainer's `--data`: one path for every target, or one per target (a relative path is relative to the
    spec file's folder; on Katib, to the data volume's mount)."""

    path: StrictStr | None = None
    targets: dict[TargetName, StrictStr] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"path": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check(self):
        for where, path in [("path", self.path), *((f"targets.{t}", p) for t, p in self.targets.items())]:
            if path is None:
                continue
            if not path.strip():
                raise ValueError(f"data.{where}: an empty path")
            scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", path)
            if scheme and scheme.group(1) != "file":
                raise ValueError(
                    f"data.{where}: {path!r}: trainers read --data from a file system; mount the "
                    f"{scheme.group(1)}:// store and give its path (or a file:// URI)"
                )
        return self

    def for_target(self, target: str) -> str | None:
        path = self.targets.get(target, self.path)
        return path.removeprefix("file://") if path else None


#: `limits.parallelism` when a spec leaves it out: the same on every backend, so a study found to work locally
#: asks a cluster for the same concurrency (TPE's constant liar keeps 4 concurrent proposals apart).
DEFAULT_PARALLELISM = 4


class Limits(_Strict):
    max_trials: StrictInt | None = Field(
        default=None,
        ge=1,
        le=MAX_STAGE_TRIALS,
        description="Trials per target in all stages (seed 000's --max-trials), shared out over them in proportion "
        "to their planned trials (a top-k stage's in whole repeats), what rounding leaves to the first stages.",
    )
    timeout: Duration | None = Field(default=None, description="Wall time per target.")
    trial_timeout: Duration | None = None
    parallelism: StrictInt = Field(
        default=DEFAULT_PARALLELISM,
        ge=1,
        description="The most trials of one target that run at once, on every backend (local: capped by the "
        "machine's cores or GPUs; SLURM: workers, one array task each; Katib: parallelTrialCount).",
    )
    max_failed_trials: StrictInt = Field(default=3, ge=0)


class StudySpec(_Strict):
    name: StudyName
    description: str = ""
    seed: StrictInt = 0
    parameters: SearchSpace = Field(default_factory=dict)
    search_spaces: dict[ParamName, SearchSpace] = Field(default_factory=dict)
    targets: dict[TargetName, Target]
    target_grid: TargetGrid | None = None
    objectives: list[Objective]
    algorithm: Algorithm = Field(default_factory=Algorithm, description="Default auto: hpoctl.search.auto's choice.")
    early_stopping: EarlyStopping = EarlyStopping()
    protocol: list[Stage]
    resources: Resources = Resources()
    trainer: Trainer
    data: Data | None = None
    limits: Limits = Limits()
    tracking: Tracking | None = None
    presets: dict[Annotated[str, Field(pattern=DNS_LABEL)], dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_semantics(self):
        problems = semantic_problems(self)
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def space_for(self, target: str) -> SearchSpace:
        name = self.targets[target].search_space
        return self.search_spaces[name] if name else self.parameters

    def all_spaces(self) -> dict[str, SearchSpace]:
        spaces = dict(self.search_spaces)
        if self.parameters:
            spaces["parameters"] = self.parameters
        return spaces

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1


def semantic_problems(spec: StudySpec) -> list[str]:
    """Rules that span fields; each problem is `path: message` so the CLI prints one line each."""
    problems: list[str] = []
    if not spec.parameters and not spec.search_spaces:
        problems.append("parameters: a study needs at least one parameter")
    if not spec.targets:
        problems.append("targets: a study needs at least one target")
    if "all" in spec.targets:
        problems.append("targets.all: 'all' is reserved for selecting every target")
    for name in spec.data.targets if spec.data else ():
        if name not in spec.targets:
            problems.append(f"data.targets.{name}: not a target of the study (valid: {', '.join(spec.targets)})")
    if spec.data and "data" in spec.trainer.args:
        problems.append("trainer.args.data: the study names its data in `data:`; drop trainer.args.data")
    for name, target in spec.targets.items():
        if target.search_space and target.search_space not in spec.search_spaces:
            valid = ", ".join(spec.search_spaces) or "none"
            problems.append(
                f"targets.{name}.search_space: {target.search_space!r} is not in search_spaces (valid: {valid})"
            )
        if not target.search_space and not spec.parameters and spec.search_spaces:
            problems.append(f"targets.{name}: name a search_space, since the study has no default parameters")
    for space_name, space in spec.all_spaces().items():
        prefix = "parameters" if space_name == "parameters" else f"search_spaces.{space_name}"
        problems += _condition_problems(prefix, space)
        if spec.algorithm.name == "grid":
            for pname, param in space.items():
                if not is_discrete(param):
                    problems.append(f"{prefix}.{pname}: grid search needs a step on float parameters")
    problems += _objective_problems(spec)
    resources = spec.resources
    if resources.gpu > 1 and resources.trials_per_gpu not in ("auto", 1):
        problems.append(
            f"resources.trials_per_gpu: {resources.trials_per_gpu} trials share a GPU only when each has one "
            f"(gpu: 1); a trial of {resources.gpu} GPUs has them to itself: leave trials_per_gpu out"
        )
    problems += _expected_problems(spec)
    problems += _target_grid_problems(spec)
    problems += _protocol_problems(spec.protocol)
    least = sum(s.repeat_count if s.mode == "top-k" else 1 for s in spec.protocol)
    if spec.limits.max_trials is not None and spec.limits.max_trials < least:
        problems.append(
            f"limits.max_trials: {spec.limits.max_trials} trials in all is fewer than the stages need, {least} (one "
            "per search stage, a top-k stage's repeats)"
        )
    return problems


#: Early-stopping rules that stall TPE: with them TPE ends far above its unpruned regret for the same epochs on
#: mf-prior-bench's MFHartmann-6 curves (bench/search, figures in bench/README.md), while median pruning with a
#: warm-up does not.
TPE_STALLS = ("successive-halving", "hyperband")
#: Algorithms that are TPE for a study that can be pruned (one objective): auto picks multivariate TPE there.
TPE_FAMILY = ("tpe", "multivariate-tpe", "auto")


def semantic_warnings(spec: StudySpec) -> list[str]:
    """Valid choices the benchmarks show to waste the budget; each `path: message`, one line. They never fail a
    spec: `hpoctl validate` prints them and exits 0."""
    warnings = []
    rule = spec.early_stopping
    if spec.algorithm.name in TPE_FAMILY and rule.name in TPE_STALLS:
        warnings.append(
            f"early_stopping.name: {spec.algorithm.name} with {rule.name} stalls: on bench/search's MFHartmann-6 "
            "curves TPE ends several times above its unpruned regret for the same epochs; use median (warm-up a "
            "fifth of the epochs) or none"
        )
    if spec.algorithm.name in TPE_FAMILY and rule.name == "median" and rule.settings.get("warmup_steps") == 0:
        warnings.append(
            f"early_stopping.settings.warmup_steps: {spec.algorithm.name} with median pruning from the first epoch "
            "stalls on bench/search's MFHartmann-6 curves; leave warmup_steps out (a fifth of the epochs) or raise it"
        )
    return warnings


def _condition_problems(prefix: str, space: SearchSpace) -> list[str]:
    problems = []
    for pname, param in space.items():
        for other, values in (param.when or {}).items():
            path = f"{prefix}.{pname}.when.{other}"
            if other == pname:
                problems.append(f"{path}: a parameter cannot depend on itself")
            elif other not in space:
                problems.append(f"{path}: condition on unknown parameter {other!r} (valid: {', '.join(space)})")
            elif not isinstance(space[other], CategoricalParameter):
                problems.append(f"{path}: conditions must name a categorical parameter, {other!r} is not")
            else:
                choices = space[other].choices
                for value in values:
                    if not any(_same(value, c) for c in choices):
                        problems.append(f"{path}: {value!r} is not one of {other!r}'s choices {choices!r}")
    problems += _cycle_problems(prefix, space)
    return problems


def _cycle_problems(prefix: str, space: SearchSpace) -> list[str]:
    def depends_on(name: str, seen: tuple[str, ...]) -> str | None:
        for other in (space[name].when or {}) if name in space else {}:
            if other in seen:
                return other
            found = depends_on(other, (*seen, other))
            if found:
                return found
        return None

    for pname in space:
        if depends_on(pname, (pname,)):
            return [f"{prefix}.{pname}.when: conditions form a cycle"]
    return []


def _objective_problems(spec: StudySpec) -> list[str]:
    problems = []
    if not spec.objectives:
        return ["objectives: a study needs at least one objective"]
    names = [o.metric for o in spec.objectives]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"objectives: metric {dup!r} appears twice")
    algo = spec.algorithm.name
    if spec.multi_objective and algo not in MULTI_OBJECTIVE_ALGORITHMS:
        problems.append(
            f"algorithm.name: {algo!r} optimises one objective but the study has {len(names)}; "
            f"use one of {', '.join(sorted(MULTI_OBJECTIVE_ALGORITHMS))}"
        )
    if not spec.multi_objective and algo in ONLY_MULTI_OBJECTIVE:
        problems.append(f"algorithm.name: {algo!r} is for several objectives; this study has one")
    if spec.multi_objective and spec.early_stopping.name != "none":
        problems.append("early_stopping.name: Optuna cannot prune multi-objective trials; set early_stopping to none")
    return problems


def _expected_problems(spec: StudySpec) -> list[str]:
    metrics = [o.metric for o in spec.objectives]
    return [
        f"targets.{name}.expected.{metric}: {metric!r} is not an objective of the study (valid: {', '.join(metrics)})"
        for name, target in spec.targets.items()
        for metric in target.expected
        if metric not in metrics
    ]


def _target_grid_problems(spec: StudySpec) -> list[str]:
    grid = spec.target_grid
    if grid is None:
        return []
    if grid.rows == grid.columns:
        return [f"target_grid.columns: {grid.columns!r} is also the rows; name two different target args"]
    problems = []
    for axis, arg in (("rows", grid.rows), ("columns", grid.columns)):
        lacking = [name for name, target in spec.targets.items() if arg not in target.args]
        if lacking:
            problems.append(f"target_grid.{axis}: {arg!r} is not an arg of target(s) {', '.join(lacking)}")
    if problems:
        return problems
    cells: dict[tuple[Any, Any], str] = {}
    for name, target in spec.targets.items():
        cell = (target.args[grid.rows], target.args[grid.columns])
        if cell in cells:
            problems.append(
                f"target_grid: targets {cells[cell]} and {name} share the cell {grid.rows}={cell[0]!r}, "
                f"{grid.columns}={cell[1]!r}"
            )
        cells.setdefault(cell, name)
    return problems


def _protocol_problems(stages: list[Stage]) -> list[str]:
    if not stages:
        return ["protocol: a study needs at least one stage"]
    problems = []
    names = [s.name for s in stages]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"protocol: stage name {dup!r} appears twice")
    if stages[0].mode == "top-k":
        problems.append(f"protocol[0]: the first stage {stages[0].name!r} cannot be top-k (there is no previous stage)")
    for i, (previous, stage) in enumerate(itertools.pairwise(stages), start=1):
        if stage.mode == "top-k" and stage.top_k > previous.trial_count:
            problems.append(
                f"protocol[{i}].top_k: {stage.top_k} is larger than the previous stage "
                f"{previous.name!r}'s {previous.trial_count} trials"
            )
    return problems


def dns_label(text: str, max_length: int = 63) -> str:
    """A DNS-1123 label made from any text (target names such as NHITS_Q@heat)."""
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return label[:max_length].rstrip("-") or "x"
