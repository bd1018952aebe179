"""The Katib backend: one Experiment per target and stage, launched in protocol order, watched, pulled.

Launch is idempotent: it creates the first stage of a target whose Experiment is missing, once every
earlier stage has succeeded, and reports the Experiments that exist; it never creates one twice (a name
that exists is reported, a 409 from a concurrent launch too). `follow=True` polls each target until
its last stage is done, launching each next stage (a top-k stage with the configurations the finished
previous stage ranked best). Every Experiment is validated as Katib's webhook would before anything is
applied. `delete` pulls results first (Katib loses a deleted Experiment's metrics), `budget` patches a
running Experiment's trial counts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hpoctl import trial_record as rec
from hpoctl.backends._base import Backend, Launched, Options, Rendered, StageStatus
from hpoctl.catalog import load_study
from hpoctl.config import HpoctlConfig, load_config
from hpoctl.errors import BackendError, UsageError
from hpoctl.eta import StagePace, remaining_seconds
from hpoctl.katib import names
from hpoctl.katib.client import Connection, KatibApi, connect
from hpoctl.katib.manifest_io import dump_manifests, manifests_document
from hpoctl.katib.pull import build_study, experiments_of, katib_time, objective_values, pull_results, read_trials
from hpoctl.katib.render import (
    RenderedExperiment,
    RenderOptions,
    TopKConfigs,
    hpoctl_installation,
    render_experiment,
    render_experiments,
)
from hpoctl.katib.suggestion_settings import WarmStart, plan_warm_start
from hpoctl.katib.validate import check_experiments
from hpoctl.plan import Plan, StagePlan, build_plans

DONE, FAILED, RUNNING, QUEUED, MISSING = "done", "failed", "running", "queued", "not started"
_STATES = {"Succeeded": DONE, "Failed": FAILED, "Restarting": RUNNING, "Running": RUNNING, "Created": QUEUED}
RESTARTABLE = ("LongRunning", "FromVolume")
MAX_TRIALS_REACHED = "ExperimentMaxTrialsReached"  # the Succeeded reason Katib restarts from


def experiment_condition(experiment: dict[str, Any]) -> tuple[str, str]:
    """The Experiment's current condition (Failed, Succeeded, Restarting, Running or Created) and message."""
    conditions = (experiment.get("status") or {}).get("conditions") or []
    true = {c.get("type"): c for c in conditions if c.get("status") == "True"}
    for kind in ("Failed", "Succeeded", "Restarting", "Running", "Created"):
        if kind in true:
            return kind, str(true[kind].get("message") or true[kind].get("reason") or "")
    return "Created", ""


def _succeeded_reason(experiment: dict[str, Any]) -> str:
    conditions = (experiment.get("status") or {}).get("conditions") or []
    return next((str(c.get("reason") or "") for c in conditions if c.get("type") == "Succeeded"), "")


def experiment_state(experiment: dict[str, Any] | None) -> str:
    return MISSING if experiment is None else _STATES[experiment_condition(experiment)[0]]


@dataclass(frozen=True)
class KatibOptions(Options):
    """The Katib backend's own settings: which cluster and namespace, how trials are rendered (image, node
    pool, metrics collector, scalarising several objectives, the suggestion algorithm), what a pull keeps."""

    namespace: str | None = None
    context: str | None = None
    kubeconfig: Path | None = None
    image: str | None = None
    node_pool: str | None = None
    metrics_collector: Literal["stdout", "push"] | None = None
    scalarise: bool = False
    algorithm: str = "auto"
    running: bool = False
    no_pull: bool = False

    def __post_init__(self):
        if self.metrics_collector is not None and self.metrics_collector not in ("stdout", "push"):
            raise UsageError(f"--metrics-collector must be stdout or push, got {self.metrics_collector!r}")


def _render_options(options: KatibOptions, config: HpoctlConfig, namespace: str | None) -> RenderOptions:
    return RenderOptions(
        namespace=namespace,
        image=options.image,
        node_pool=options.node_pool,
        metrics_collector=options.metrics_collector,
        scalarise=options.scalarise,
        seed=options.seed,
        config=config,
        algorithm=options.algorithm,
    )


@dataclass
class _Context:
    api: KatibApi
    namespace: str
    config: HpoctlConfig
    render: RenderOptions
    where: str
    checked_claims: set[str] = field(default_factory=set)


class KatibBackend(Backend):
    """Runs plans as Katib Experiments. `custom_api`/`core_api` replace the kubeconfig's API objects (tests
    pass an in-process fake); `config` replaces hpoctl's configuration file."""

    data_visible_here = False  # the data is on the cluster's data volume

    name = "katib"
    options_type = KatibOptions

    def __init__(
        self,
        custom_api: Any = None,
        core_api: Any = None,
        *,
        config: HpoctlConfig | None = None,
        namespace: str = "default",
        echo: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        poll_seconds: float = 15.0,
    ):
        self._custom, self._core = custom_api, core_api
        self._config = config
        self._default_namespace = namespace
        self._echo = echo if echo is not None else (lambda line: print(line, file=sys.stderr, flush=True))
        self._sleep = sleep
        self._clock = clock
        self.poll_seconds = poll_seconds

    def _context(self, options: Options) -> _Context:
        options = self.own_options(options)
        config = self._config or load_config(options.config)
        if self._custom is not None:
            connection = Connection(self._custom, self._core, self._default_namespace, "the cluster")
        else:
            connection = connect(options.kubeconfig, options.context)
        namespace = options.namespace or config.katib.namespace or connection.namespace
        render = _render_options(options, config, namespace)
        api = KatibApi(connection.custom, connection.core, where=connection.where)
        return _Context(api, namespace, config, render, connection.where)

    def _validate(self, rendered: Iterable[RenderedExperiment], context: _Context) -> None:
        _check(rendered, context.config)

    def render(self, plans: list[Plan], options: Options) -> Rendered:
        """Each target's Experiments, one per stage, validated as Katib's webhook would; no cluster is needed
        (a top-k stage's configurations are filled in only by `launch`, once the previous stage has finished)."""
        options = self.own_options(options)
        config = self._config or load_config(options.config)
        rendered = render_experiments(plans, _render_options(options, config, options.namespace))
        _check(rendered, config)
        manifests = [r.manifest for r in rendered]
        notes = [f"note: {n}" for n in dict.fromkeys(n for r in rendered for n in r.notes)]
        return Rendered(dump_manifests(manifests), manifests, notes, manifests_document(manifests))

    def validate(self, item: str, options: Options) -> str:
        """A file of Katib Experiments checked as Katib's webhook would, or a study rendered (every target and
        stage) and checked the same way."""
        from hpoctl.katib.manifest_io import load_manifests

        config = self._config or load_config(options.config)
        path = Path(item)
        if path.suffix in (".yaml", ".yml", ".json") and path.is_file():
            manifests = load_manifests(path.read_text(encoding="utf-8"), item)
            experiments = [m for m in manifests if m.get("kind") == "Experiment"]
            if experiments:
                _check_manifests(experiments, config)
                return f"{item}: {len(experiments)} Katib Experiments valid (as Katib's webhook checks them)"
        rendered = self.render(build_plans(load_study(item), "all"), options)
        count = len(rendered.documents)
        return f"{item}: {count} Katib Experiments render and are valid (as Katib's webhook checks them)"

    def launch(self, plans: list[Plan], options: Options) -> Launched:
        """Create each target's next due stage (never one that exists); with `follow`, poll until every
        target's last stage has finished (or `options.timeout` seconds have passed), launching each next
        stage as its previous one succeeds. `n_jobs` sets the Experiments' parallelTrialCount."""
        context = self._context(options)
        if options.n_jobs:
            plans = [_with_parallelism(plan, options.n_jobs) for plan in plans]
        launched = Launched(self.name)
        rendered = {plan.target: [render_experiment(plan, s, context.render) for s in plan.stages] for plan in plans}
        self._validate([r for rs in rendered.values() for r in rs], context)
        for note in dict.fromkeys(n for rs in rendered.values() for r in rs if not r.pending for n in r.notes):
            self._echo(f"note: {note}")
        pending = {plan.target: plan for plan in plans}
        last: dict[str, _Step] = {}
        deadline = None if options.timeout is None else self._clock() + options.timeout
        while True:
            for target, plan in list(pending.items()):
                step = self._advance(plan, rendered[target], context, options.resume)
                if options.follow and (target not in last or last[target].line != step.line):
                    self._echo(step.line)
                last[target] = step
                if step.finished or not options.follow:
                    launched.add(plan.study, target, step.stage, step.action, step.line)
                    del pending[target]
            if not pending:
                break
            if deadline is not None and self._clock() >= deadline:
                for target, plan in pending.items():
                    step = last[target]
                    message = f"{step.line}; stopped following after --timeout (the Experiments go on)"
                    launched.add(plan.study, target, step.stage, step.action, message)
                break
            self._sleep(self.poll_seconds)
        return launched

    def _advance(self, plan: Plan, rendered: list[RenderedExperiment], context: _Context, resume: bool = True) -> _Step:
        """Create the target's next due stage; returns where it stands, and whether there is nothing left to
        wait for (every stage done, or one failed)."""
        prefix = f"{plan.study}/{plan.target}"
        done: list[str] = []
        for item in rendered:
            stage = item.stage
            existing = context.api.get_experiment(context.namespace, item.name)
            if existing is not None:
                self._check_owner(existing, plan, item)
                if not resume:
                    raise BackendError(
                        f"Experiment {context.namespace}/{item.name} exists and --no-resume was given; delete it "
                        f"first (hpoctl delete {plan.study} --target {plan.target})"
                    )
                state = experiment_state(existing)
                if state == DONE:
                    done.append(stage.name)
                    continue
                if state == FAILED:
                    message = experiment_condition(existing)[1]
                    return _Step(
                        stage.name,
                        "failed",
                        f"{prefix}: {stage.name} failed ({message or 'see kubectl describe experiment'}): "
                        f"{context.namespace}/{item.name}; delete it (hpoctl delete --backend katib) to run it again",
                        True,
                    )
                line = f"{prefix}: {stage.name} {state}: {_progress(existing)} ({context.namespace}/{item.name})"
                return _Step(stage.name, "running", line, False)
            if stage.mode == "top-k":
                filled = self._fill_top_k(plan, stage, context)
                if filled is None:
                    return _Step(
                        stage.name, "waiting", f"{prefix}: {stage.name} waits for {stage.previous!r} to finish"
                    )
                item = render_experiment(plan, stage, dataclasses.replace(context.render, top_k={stage.name: filled}))
                self._validate([item], context)
            elif item.wants_warm_start:
                warm = self._warm_start(plan, stage, context)
                item = render_experiment(
                    plan, stage, dataclasses.replace(context.render, warm_start={stage.name: warm})
                )
                self._validate([item], context)
                self._echo(
                    f"note: {prefix}: {stage.name} is warm-started with {warm.kept} trials of the earlier stages"
                )
            self._check_claims(context)
            try:
                context.api.create_experiment(item.manifest)
            except BackendError as e:
                if "already exists" not in str(e):
                    raise
                line = f"{prefix}: {stage.name} exists ({context.namespace}/{item.name}, created meanwhile)"
                return _Step(stage.name, "running", line)
            trials = item.manifest["spec"]["maxTrialCount"]
            return _Step(
                stage.name,
                "created",
                f"{prefix}: created {stage.name} ({context.namespace}/{item.name}, {trials} trials x "
                f"{stage.epochs} epochs)",
            )
        return _Step(None, "done", f"{prefix}: done ({', '.join(done)})", True)

    def _check_owner(self, existing: dict[str, Any], plan: Plan, item: RenderedExperiment) -> None:
        annotations = (existing.get("metadata") or {}).get("annotations") or {}
        owner = annotations.get(names.ANNOTATION_TARGET)
        if owner is not None and owner != plan.target:
            raise BackendError(
                f"Experiment {item.namespace}/{item.name} belongs to target {owner!r}, not {plan.target!r} "
                "(their names map to the same DNS label); rename one target"
            )

    def _check_claims(self, context: _Context) -> None:
        settings = context.config.katib
        for key, claim in (
            ("data_pvc", settings.data_pvc),
            ("cache_pvc", settings.cache_pvc),
            ("results_pvc", settings.results_pvc),
        ):
            if claim is None or claim in context.checked_claims:
                continue
            if context.api.claim_exists(context.namespace, claim) is False:
                raise BackendError(
                    f"PersistentVolumeClaim {context.namespace}/{claim} not found (katib.{key}): the trials would "
                    f"stay Pending; create it, or set katib.{key}: null in hpoctl's configuration"
                )
            context.checked_claims.add(claim)

    def _fill_top_k(self, plan: Plan, stage: StagePlan, context: _Context) -> TopKConfigs | None:
        """The best configurations for a top-k stage, ranked as a local run ranks them (the previous stage's
        complete trials first, then the stages it continued); None while the previous stage runs."""
        from hpoctl.runner import top_configurations

        previous_name = names.experiment_name(plan.study, plan.target, stage.previous or "")
        previous = context.api.get_experiment(context.namespace, previous_name)
        if previous is None or experiment_state(previous) != DONE:
            return None
        pulled = []
        for experiment in experiments_of(context.api, context.namespace, plan):
            annotations = experiment["metadata"].get("annotations") or {}
            if int(annotations.get(names.ANNOTATION_STAGE_INDEX, stage.index)) < stage.index:
                trials = context.api.list_trials(context.namespace, experiment["metadata"]["name"])
                pulled += read_trials(plan, experiment, trials)
        by_name = {t.name: t for t in pulled}
        k = stage.top_k or stage.trials
        best = top_configurations(build_study(plan, pulled), plan, stage.name, k, previous=stage.previous)
        if not best:
            raise BackendError(
                f"{plan.study}/{plan.target}: {stage.name} re-runs the best {k} of {stage.previous!r}, which has "
                f"no complete trial ({context.namespace}/{previous_name})"
            )
        sources = [t.user_attrs[rec.KATIB_TRIAL] for t in best]
        return TopKConfigs(configs=[by_name[s].params for s in sources], sources=sources)

    def _warm_start(self, plan: Plan, stage: StagePlan, context: _Context) -> WarmStart:
        """A continued stage's warm start for hpoctl-optuna: the succeeded trials of the target's earlier stages
        (every one of which has finished before the stage is created)."""
        pulled = []
        for experiment in experiments_of(context.api, context.namespace, plan):
            annotations = experiment["metadata"].get("annotations") or {}
            if int(annotations.get(names.ANNOTATION_STAGE_INDEX, stage.index)) < stage.index:
                trials = context.api.list_trials(context.namespace, experiment["metadata"]["name"])
                pulled += read_trials(plan, experiment, trials)
        return plan_warm_start(plan, pulled, scalarise=context.render.scalarise)

    def status(self, plans: list[Plan], options: Options) -> list[StageStatus]:
        context = self._context(options)
        rows = []
        for plan in plans:
            found = {
                e["metadata"]["name"]: e
                for e in context.api.list_experiments(context.namespace, names.selector(plan.study, plan.target))
            }
            for stage in plan.stages:
                name = names.experiment_name(plan.study, plan.target, stage.name)
                experiment = found.get(name)
                rows.append(self._status_row(plan, stage, experiment, context.namespace, name))
        return rows

    def _status_row(
        self, plan: Plan, stage: StagePlan, experiment: dict[str, Any] | None, namespace: str, name: str
    ) -> StageStatus:
        if experiment is None:
            return StageStatus(plan.study, plan.target, stage.name, MISSING, 0, stage.trials, detail=name)
        status = experiment.get("status") or {}
        spec = experiment.get("spec") or {}
        condition, message = experiment_condition(experiment)
        observed = {
            m.get("name"): m
            for m in ((status.get("currentOptimalTrial") or {}).get("observation") or {}).get("metrics") or []
        }
        values = objective_values(plan, observed) if observed else []
        best: float | list[float] | None = None
        if values and all(v is not None for v in values):
            best = values[0] if len(values) == 1 else values  # type: ignore[assignment]
        failed = sum(int(status.get(k) or 0) for k in ("trialsFailed", "trialsKilled", "trialMetricsUnavailable"))
        done = int(status.get("trialsSucceeded") or 0) + failed + int(status.get("trialsEarlyStopped") or 0)
        budget = int(spec.get("maxTrialCount") or stage.trials)
        state = _STATES[condition]
        return StageStatus(
            plan.study,
            plan.target,
            stage.name,
            state,
            done,
            budget,
            running=int(status.get("trialsRunning") or 0) + int(status.get("trialsPending") or 0),
            failed=failed,
            pruned=int(status.get("trialsEarlyStopped") or 0),
            best=best,
            detail=f"{namespace}/{name}" + (f": {message}" if condition in ("Failed",) and message else ""),
            eta_s=_experiment_eta(status, stage, done, budget) if state == RUNNING else None,
        )

    def results(self, plans: list[Plan], options: Options) -> list[str]:
        """`hpoctl results pull`: every target's trials into its results folder (with `running`, the running
        trials too, as RUNNING)."""
        context = self._context(options)
        include_running = self.own_options(options).running
        return [
            pull_results(
                plan,
                options.results_dir,
                api=context.api,
                namespace=context.namespace,
                include_running=include_running,
                provenance_extra={"where": context.where},
            ).line()
            for plan in plans
        ]

    def cancel(self, plans: list[Plan], options: Options) -> list[str]:
        """Katib cannot pause an Experiment: cancel pulls the target's results (keeping every finished
        trial), then deletes its unfinished Experiments, which stops their trials."""
        context = self._context(options)
        lines = []
        for plan in plans:
            running = []
            for stage in plan.stages:
                name = names.experiment_name(plan.study, plan.target, stage.name)
                experiment = context.api.get_experiment(context.namespace, name)
                if experiment is not None and experiment_state(experiment) in (RUNNING, QUEUED):
                    running.append(name)
            if not running:
                lines.append(f"{plan.study}/{plan.target}: nothing running")
                continue
            summary = pull_results(plan, options.results_dir, api=context.api, namespace=context.namespace)
            lines.append(summary.line())
            for name in running:
                context.api.delete_experiment(context.namespace, name)
                lines.append(f"{plan.study}/{plan.target}: cancelled {context.namespace}/{name}")
        return lines

    def delete(self, plans: list[Plan], options: Options) -> list[str]:
        """Delete the plans' Experiments (their stages), pulling each target's results first unless
        `no_pull`: Katib keeps no metrics of a deleted Experiment."""
        context = self._context(options)
        pull = not self.own_options(options).no_pull
        lines = []
        for plan in plans:
            wanted = [names.experiment_name(plan.study, plan.target, s.name) for s in plan.stages]
            existing = [n for n in wanted if context.api.get_experiment(context.namespace, n) is not None]
            if not existing:
                lines.append(f"{plan.study}/{plan.target}: no Experiments to delete in {context.namespace}")
                continue
            if pull:
                lines.append(
                    pull_results(plan, options.results_dir, api=context.api, namespace=context.namespace).line()
                )
            for name in existing:
                gone = context.api.delete_experiment(context.namespace, name)
                lines.append(
                    f"{plan.study}/{plan.target}: {'deleted' if gone else 'already gone'} {context.namespace}/{name}"
                )
        return lines

    def budget(
        self,
        plans: list[Plan],
        options: Options,
        *,
        max_trials: int | None = None,
        parallel: int | None = None,
    ) -> list[str]:
        """Change a target's Experiment's maxTrialCount and/or parallelTrialCount (the only fields Katib
        lets one edit): the running stage's, or the one `--stage` names. A finished Experiment can be given
        more trials when its resumePolicy is LongRunning or FromVolume."""
        if max_trials is None and parallel is None:
            raise UsageError("budget needs --max-trials and/or --parallel")
        context = self._context(options)
        lines = []
        for plan in plans:
            name, experiment = self._budget_target(plan, options, context)
            spec = experiment.get("spec") or {}
            status = experiment.get("status") or {}
            new_max = max_trials if max_trials is not None else int(spec.get("maxTrialCount") or 0)
            new_parallel = parallel if parallel is not None else int(spec.get("parallelTrialCount") or 1)
            where = f"Experiment {context.namespace}/{name}"
            state = experiment_state(experiment)
            if state == FAILED:
                raise BackendError(f"{where} has failed; Katib restarts only Experiments that succeeded")
            if state == DONE and spec.get("resumePolicy") not in RESTARTABLE:
                raise BackendError(
                    f"{where} has finished and its resumePolicy is {spec.get('resumePolicy') or 'Never'}; Katib "
                    "restarts only LongRunning or FromVolume Experiments"
                )
            reason = _succeeded_reason(experiment)
            if state == DONE and reason != MAX_TRIALS_REACHED:
                # Katib's webhook: IsCompletedExperimentRestartable
                raise BackendError(
                    f"{where} succeeded for another reason than reaching maxTrialCount "
                    f"({reason or 'none given'}, e.g. its goal was met); Katib restarts only "
                    "an Experiment that stopped at maxTrialCount"
                )
            if max_trials is not None and max_trials != spec.get("maxTrialCount"):
                trials = int(status.get("trials") or 0)
                if max_trials <= trials:
                    raise UsageError(
                        f"{where}: --max-trials must be greater than its {trials} trials, got {max_trials}"
                    )
            if new_parallel > new_max:
                raise UsageError(f"{where}: --parallel {new_parallel} must not exceed maxTrialCount {new_max}")
            patch: dict[str, Any] = {}
            if max_trials is not None:
                patch["maxTrialCount"] = max_trials
                if int(spec.get("maxFailedTrialCount") or 0) > max_trials:
                    patch["maxFailedTrialCount"] = max_trials
            if parallel is not None:
                patch["parallelTrialCount"] = parallel
            context.api.patch_experiment(context.namespace, name, {"spec": patch})
            changes = ", ".join(f"{k} {spec.get(k)} -> {v}" for k, v in patch.items())
            lines.append(f"{plan.study}/{plan.target}: {where}: {changes}")
        return lines

    def _budget_target(self, plan: Plan, options: Options, context: _Context) -> tuple[str, dict[str, Any]]:
        candidates = []
        for stage in plan.stages:
            name = names.experiment_name(plan.study, plan.target, stage.name)
            experiment = context.api.get_experiment(context.namespace, name)
            if experiment is not None:
                candidates.append((name, experiment))
        if options.stage is not None:
            if not candidates:
                raise BackendError(
                    f"{plan.study}/{plan.target}: stage {options.stage} has no Experiment in {context.namespace}"
                )
            return candidates[0]
        running = [(n, e) for n, e in candidates if experiment_state(e) in (RUNNING, QUEUED)]
        if not running:
            raise BackendError(
                f"{plan.study}/{plan.target}: no running Experiment in {context.namespace}; name one with --stage"
            )
        return running[0]


@dataclass(frozen=True)
class _Step:
    """Where a target stands after one look at its Experiments: the stage, the action, the line for the user."""

    stage: str | None
    action: str
    line: str
    finished: bool = False


def _check(rendered: Iterable[RenderedExperiment], config: HpoctlConfig) -> None:
    """The rendered Experiments that can be applied (not a top-k stage still waiting), checked."""
    _check_manifests([r.manifest for r in rendered if not r.pending], config)


def _check_manifests(experiments: list[dict[str, Any]], config: HpoctlConfig) -> None:
    """Experiments checked as Katib's webhook would, on the installation hpoctl's configuration describes."""
    check_experiments(
        experiments,
        installation=hpoctl_installation(config.katib.suggestions),
        kubernetes_version=config.katib.kubernetes_version,
    )


def _with_parallelism(plan: Plan, parallelism: int) -> Plan:
    return plan.model_copy(update={"limits": plan.limits.model_copy(update={"parallelism": parallelism})})


def _progress(experiment: dict[str, Any]) -> str:
    status = experiment.get("status") or {}
    spec = experiment.get("spec") or {}
    done = sum(
        int(status.get(k) or 0)
        for k in ("trialsSucceeded", "trialsFailed", "trialsKilled", "trialsEarlyStopped", "trialMetricsUnavailable")
    )
    running = int(status.get("trialsRunning") or 0) + int(status.get("trialsPending") or 0)
    return f"{done}/{spec.get('maxTrialCount')} trials, {running} running"


def _experiment_eta(status: dict[str, Any], stage: StagePlan, done: int, budget: int) -> float | None:
    """Seconds left for a running Experiment, at its pace since Katib started it."""
    started = katib_time(status.get("startTime"))
    elapsed = (dt.datetime.now() - started).total_seconds() if started is not None else None
    return remaining_seconds([StagePace(stage.epochs, budget, done, elapsed)])
