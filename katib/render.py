"""Plans as Katib Experiments: one `kubeflow.org/v1beta1` Experiment per target and stage, built from
`kubeflow_katib_api` models and serialised with their `to_dict()` (camelCase keys).

A `continue` stage is its own Experiment at its own epochs. Katib cannot carry a suggestion's history
from one Experiment to the next (no warm start, kubeflow/katib#1067), so a continued stage runs on hpoctl's
suggestion service, hpoctl-optuna, whose settings carry the earlier stages' trials (filled in at launch,
once those stages have finished; rendered earlier, without them). Several objectives, NSGA-II and MOTPE run
on hpoctl-optuna too; `RenderOptions.algorithm` forces it for every search stage, or Katib's own for none.

A `top-k` stage re-runs the previous stage's best k configurations. Katib cannot enqueue given
configurations, so the stage is a `grid` Experiment over one categorical parameter, `config`, whose k
values are the configurations themselves (quoted `--name=value` words the trial's shell splits); grid
runs each value exactly once. The configurations exist only once the previous stage has finished:
`hpoctl launch` (with `--follow`, or run again later) fills them in from the previous Experiment's trials.
Rendered before that, the values are placeholders (`top-1` ...) and the Experiment carries the
annotation `hpoctl.io/top-k-pending: "true"`, which launch refuses to apply.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from kubeflow_katib_api.models import (
    IoK8sApimachineryPkgApisMetaV1ObjectMeta,
    V1beta1CollectorSpec,
    V1beta1Experiment,
    V1beta1ExperimentSpec,
    V1beta1FeasibleSpace,
    V1beta1MetricsCollectorSpec,
    V1beta1ParameterSpec,
    V1beta1TrialParameterSpec,
    V1beta1TrialTemplate,
)

from hpoctl.config import HpoctlConfig, NodePool
from hpoctl.katib import names
from hpoctl.katib.algorithms import (
    grid_algorithm,
    hpoctl_optuna_algorithm,
    katib_algorithm,
    katib_early_stopping,
    uses_hpoctl_optuna,
)
from hpoctl.katib.errors import KatibUnsupported
from hpoctl.katib.katib_config import DEFAULT_INSTALLATION, HPOCTL_OPTUNA, KatibInstallation
from hpoctl.katib.objectives import katib_objective
from hpoctl.katib.parameters import (
    CONFIG_PARAMETER,
    conditional_parameters,
    encode_config,
    katib_parameters,
    repeat_value,
)
from hpoctl.katib.suggestion_settings import WarmStart
from hpoctl.katib.trial_job import CONTAINER, TRIAL_NAME_PARAMETER, trial_job
from hpoctl.plan import Plan, StagePlan, confirmation_seed
from hpoctl.spec.parameters import grid_values

JOB_SUCCESS = 'status.conditions.#(type=="Complete")#|#(status=="True")#'
JOB_FAILURE = 'status.conditions.#(type=="Failed")#|#(status=="True")#'
COLLECTORS = {"stdout": "StdOut", "push": "Push"}
DEFAULT_NAMESPACE = "default"
ALGORITHM_CHOICES = ("auto", HPOCTL_OPTUNA, "katib")


def hpoctl_installation(suggestions: Iterable[str] = ()) -> KatibInstallation:
    """What hpoctl's Experiments are checked against offline: Katib v0.19.0's katib-config with hpoctl-optuna
    registered (the chart or `hpoctl katib register` does it) and the configuration's `katib.suggestions`."""
    return DEFAULT_INSTALLATION.with_suggestions([HPOCTL_OPTUNA, *suggestions])


@dataclass(frozen=True)
class TopKConfigs:
    """The configurations a top-k stage re-runs, and the Katib trials they come from."""

    configs: list[dict[str, Any]]
    sources: list[str]


@dataclass(frozen=True)
class RenderOptions:
    """What `hpoctl render` and the Katib backend take besides the plan (None: the configuration's)."""

    namespace: str | None = None
    image: str | None = None
    node_pool: str | None = None
    metrics_collector: Literal["stdout", "push"] | None = None
    scalarise: bool = False
    seed: int | None = None
    config: HpoctlConfig = field(default_factory=HpoctlConfig)
    top_k: Mapping[str, TopKConfigs] = field(default_factory=dict)
    #: auto, hpoctl-optuna or katib (`hpoctl.katib.algorithms.uses_hpoctl_optuna`).
    algorithm: str = "auto"
    #: stage -> the warm start of a continued stage on hpoctl-optuna (launch pulls the earlier stages' trials).
    warm_start: Mapping[str, WarmStart] = field(default_factory=dict)

    @property
    def collector(self) -> str:
        return COLLECTORS[self.metrics_collector or self.config.katib.metrics_collector]


@dataclass(frozen=True)
class RenderedExperiment:
    plan: Plan
    stage: StagePlan
    manifest: dict[str, Any]
    notes: list[str]
    pending: bool = False
    #: a continued stage on hpoctl-optuna rendered without its warm start (launch fills it in)
    wants_warm_start: bool = False

    @property
    def name(self) -> str:
        return self.manifest["metadata"]["name"]

    @property
    def namespace(self) -> str:
        return self.manifest["metadata"]["namespace"]


def render_experiments(plans: Iterable[Plan], options: RenderOptions | None = None) -> list[RenderedExperiment]:
    """Every plan's stages as Experiments, in order (target, then stage)."""
    options = options or RenderOptions()
    return [render_experiment(plan, stage, options) for plan in plans for stage in plan.stages]


def render_experiment(plan: Plan, stage: StagePlan, options: RenderOptions | None = None) -> RenderedExperiment:
    options = options or RenderOptions()
    settings = options.config.katib
    where = f"{plan.study}/{plan.target}/{stage.name}"
    notes: list[str] = []
    if options.algorithm not in ALGORITHM_CHOICES:
        raise KatibUnsupported(f"algorithm {options.algorithm!r} is not one of {', '.join(ALGORITHM_CHOICES)}")
    optuna_reason = uses_hpoctl_optuna(plan, stage, algorithm=options.algorithm, scalarise=options.scalarise)
    # Katib's objective is the first one unless Katib's own algorithms must optimise several (an error): on
    # hpoctl-optuna the settings name them all, and a top-k stage only records them.
    objective = katib_objective(plan, scalarise=options.scalarise or options.algorithm != "katib")
    if plan.multi_objective and options.scalarise:
        notes.append(
            f"{plan.study}: Katib optimises {objective.objective_metric_name} only (--scalarise); "
            f"{', '.join(objective.additional_metric_names or [])} are recorded"
        )
    wants_warm_start = False
    if TRIAL_NAME_PARAMETER in plan.parameters:
        raise KatibUnsupported(f"{where}: a parameter may not be named {TRIAL_NAME_PARAMETER!r} (Katib uses it)")
    seed = plan.seed if options.seed is None else options.seed
    top_k = stage.mode == "top-k"
    pending = False
    trials = stage.trials
    annotations = {
        names.ANNOTATION_TARGET: plan.target,
        names.ANNOTATION_STAGE_INDEX: str(stage.index),
        names.ANNOTATION_EPOCHS: str(stage.epochs),
        names.ANNOTATION_SEED: str(seed),
    }
    if top_k:
        filled = options.top_k.get(stage.name)
        if filled is None:
            pending = True
            values = [f"top-{i}" for i in range(1, trials + 1)]
            annotations[names.ANNOTATION_TOP_K_PENDING] = "true"
            notes.append(
                f"{where}: the best {trials} configurations of {stage.previous!r} are filled in at launch, "
                "once that stage has finished (placeholders top-1 ... here)"
            )
        else:
            values = [
                repeat_value(encode_config(c, where), confirmation_seed(seed, r))
                for c in filled.configs
                for r in range(stage.repeats)
            ]
            trials = len(values)
            sources = [s for s in filled.sources for _ in range(stage.repeats)]
            annotations[names.ANNOTATION_TOP_K_SOURCES] = json.dumps(sources, separators=(",", ":"))
        annotations[names.ANNOTATION_TOP_K_OF] = stage.previous or ""
        parameters = [
            V1beta1ParameterSpec(
                name=CONFIG_PARAMETER, parameter_type="categorical", feasible_space=V1beta1FeasibleSpace(list=values)
            )
        ]
        algorithm = grid_algorithm()
    else:
        parameters = katib_parameters(plan.parameters, where)
        conditional = conditional_parameters(plan.parameters)
        if optuna_reason is not None:
            warm_start = options.warm_start.get(stage.name) if stage.previous is not None else None
            algorithm = hpoctl_optuna_algorithm(
                plan, seed=options.seed, scalarise=options.scalarise, warm_start=warm_start
            )
            notes.append(f"{plan.study}/{stage.name}: runs on {HPOCTL_OPTUNA} ({optuna_reason})")
            notes.append(f"{HPOCTL_OPTUNA} must be registered in the cluster's katib-config (hpoctl katib register)")
            if stage.previous is not None and warm_start is None:
                wants_warm_start = True
                notes.append(
                    f"{plan.study}/{stage.name}: its warm start (the trials of {stage.previous!r} and earlier stages) "
                    "is filled in by hpoctl launch once they have finished; without it the stage searches afresh"
                )
            elif warm_start is not None and warm_start.kept < warm_start.offered:
                notes.append(
                    f"{where}: the warm start holds the best {warm_start.kept} of {warm_start.offered} earlier trials "
                    "(the Experiment must stay small)"
                )
            if conditional:
                notes.append(
                    f"{plan.study}: {HPOCTL_OPTUNA} samples {', '.join(conditional)} only when their conditions hold; "
                    "Katib still passes a value in every trial, which the trainer ignores"
                )
        else:
            algorithm = katib_algorithm(plan, seed=options.seed)
            if conditional:
                notes.append(
                    f"{plan.study}: Katib has no conditional parameters; {', '.join(conditional)} are sampled in "
                    "every trial, the trainer ignores them when inactive and a pull leaves them out"
                )
        if algorithm.algorithm_name == "grid":
            size = math.prod(len(grid_values(p)) for p in plan.parameters.values())
            if size < trials:
                notes.append(f"{where}: the grid has {size} points; maxTrialCount is {size}, not {trials}")
                trials = size
    if plan.limits.timeout and stage is plan.stages[0]:
        notes.append(f"{plan.study}: limits.timeout has no Katib equivalent; use limits.trial_timeout per trial")
    collector = options.collector
    labels = names.labels(plan.study, plan.target, stage.name)
    node_pool = _node_pool(plan, options)
    job = trial_job(
        plan,
        stage,
        image=options.image or plan.trainer.image,
        seed=seed,
        settings=settings,
        node_pool=node_pool,
        push=collector == "Push",
        labels=labels,
        top_k=top_k,
    )
    trial_parameters = [
        V1beta1TrialParameterSpec(name=p.name, reference=p.name, description=_description(plan, p.name))
        for p in parameters
    ]
    trial_parameters.append(
        V1beta1TrialParameterSpec(
            name=TRIAL_NAME_PARAMETER, reference="${trialSpec.Name}", description="The trial's name (Katib's)"
        )
    )
    experiment = V1beta1Experiment(
        api_version=names.API_VERSION,
        kind="Experiment",
        metadata=IoK8sApimachineryPkgApisMetaV1ObjectMeta(
            name=names.experiment_name(plan.study, plan.target, stage.name),
            namespace=options.namespace or settings.namespace or DEFAULT_NAMESPACE,
            labels=labels,
            annotations=annotations,
        ),
        spec=V1beta1ExperimentSpec(
            objective=objective,
            algorithm=algorithm,
            early_stopping=katib_early_stopping(plan, stage, collector),
            parallel_trial_count=min(plan.limits.parallelism, trials),
            max_trial_count=trials,
            max_failed_trial_count=min(plan.limits.max_failed_trials, trials),
            resume_policy=settings.resume_policy,
            metrics_collector_spec=V1beta1MetricsCollectorSpec(collector=V1beta1CollectorSpec(kind=collector)),
            parameters=parameters,
            trial_template=V1beta1TrialTemplate(
                primary_container_name=CONTAINER,
                success_condition=JOB_SUCCESS,
                failure_condition=JOB_FAILURE,
                trial_parameters=trial_parameters,
                trial_spec=job,
            ),
        ),
    )
    return RenderedExperiment(
        plan=plan,
        stage=stage,
        manifest=experiment.to_dict(),
        notes=notes,
        pending=pending,
        wants_warm_start=wants_warm_start,
    )


def _node_pool(plan: Plan, options: RenderOptions) -> NodePool | None:
    name = options.node_pool or plan.resources.node_pool
    return options.config.node_pool(name) if name else None


def _description(plan: Plan, name: str) -> str:
    if name == CONFIG_PARAMETER and name not in plan.parameters:
        return "A configuration of the previous stage to re-run (--name=value words)"
    param = plan.parameters.get(name)
    return param.description if param and param.description else f"Hyperparameter {name}"
