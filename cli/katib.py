"""Katib-only commands (`hpoctl delete`, `hpoctl budget`, and `pull` for `hpoctl results pull`) and the
options and helpers the Katib commands share (`hpoctl render`, `hpoctl validate --katib`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from hpoctl.catalog import load_study
from hpoctl.cli.options import (
    ConfigOpt,
    ContextOpt,
    KubeconfigOpt,
    NamespaceOpt,
    PresetOpt,
    ResultsOpt,
    SetOpt,
    StageOpt,
    StudyArg,
    TargetOpt,
    kube_extra,
    launch_options,
)
from hpoctl.cli.output import note
from hpoctl.config import load_config
from hpoctl.errors import UsageError
from hpoctl.plan import build_plans
from hpoctl.spec.loader import parse_set_overrides
from hpoctl.yamlio import load_yaml_file

# hpoctl.katib (kubernetes client, Katib models) is imported inside the commands: `hpoctl --help` stays fast.


def check_collector(value: str | None) -> str | None:
    if value is not None and value not in ("stdout", "push"):
        raise UsageError(f"--metrics-collector must be stdout or push, got {value!r}")
    return value


def delete(
    study: StudyArg,
    target: TargetOpt,
    stage: StageOpt = None,
    preset: PresetOpt = None,
    no_pull: Annotated[
        bool, typer.Option("--no-pull", help="Delete without pulling the results first (their metrics are lost).")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    results: ResultsOpt = None,
    namespace: NamespaceOpt = None,
    context: ContextOpt = None,
    kubeconfig: KubeconfigOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Delete a study's Katib Experiments, pulling their results into the results folder first.

    Katib keeps no metrics of a deleted Experiment, so the trials are pulled (as `hpoctl results pull`
    does) before anything is deleted, unless --no-pull.

    Examples:
        hpoctl delete everest --target M_24h -n hpo
        hpoctl delete everest --target all --stage exploration --yes
        hpoctl delete mlp --target default --no-pull --yes
    """
    plans = build_plans(load_study(study), target, stage=stage, presets=preset or [])
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError("delete asks for confirmation: pass --yes when not at a terminal")
        count = sum(len(p.stages) for p in plans)
        typer.confirm(f"Delete up to {count} Experiments of {plans[0].study}?", abort=True, err=True)
    options = launch_options(stage=stage, results=results, extra=kube_extra(namespace, context, kubeconfig, config))
    from hpoctl.katib.backend import KatibBackend

    for line in KatibBackend().delete(plans, options, pull=not no_pull):
        note(line)


def budget(
    study: StudyArg,
    target: TargetOpt,
    max_trials: Annotated[int | None, typer.Option("--max-trials", min=1, help="New maxTrialCount.")] = None,
    parallel: Annotated[int | None, typer.Option("--parallel", min=1, help="New parallelTrialCount.")] = None,
    stage: StageOpt = None,
    preset: PresetOpt = None,
    namespace: NamespaceOpt = None,
    context: ContextOpt = None,
    kubeconfig: KubeconfigOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Change the trial budget of a running Katib Experiment (maxTrialCount, parallelTrialCount).

    Without --stage, the target's running stage is patched. A finished Experiment takes more trials
    when its resumePolicy is LongRunning (hpoctl's default) or FromVolume.

    Examples:
        hpoctl budget everest --target M_24h --max-trials 150
        hpoctl budget everest --target M_24h --parallel 8 -n hpo
        hpoctl budget everest --target M_24h --stage exploration --max-trials 200 --parallel 6
    """
    plans = build_plans(load_study(study), target, stage=stage, presets=preset or [])
    options = launch_options(stage=stage, extra=kube_extra(namespace, context, kubeconfig, config))
    from hpoctl.katib.backend import KatibBackend

    for line in KatibBackend().budget(plans, options, max_trials=max_trials, parallel=parallel):
        note(line)


def pull(
    study: StudyArg,
    target: TargetOpt,
    preset: PresetOpt = None,
    set_: SetOpt = None,
    running: Annotated[bool, typer.Option("--running", help="Also record running trials (as RUNNING).")] = False,
    results: ResultsOpt = None,
    namespace: NamespaceOpt = None,
    context: ContextOpt = None,
    kubeconfig: KubeconfigOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Pull a study's Katib trials into the results folder (an Optuna study plus the usual files).

    Examples:
        hpoctl results pull everest --target M_24h -n hpo
        hpoctl results pull everest --target all --results results/
    """
    plans = build_plans(load_study(study), target, presets=preset or [], overrides=parse_set_overrides(set_ or []))
    options = launch_options(results=results, extra=kube_extra(namespace, context, kubeconfig, config))
    from hpoctl.katib.backend import KatibBackend

    for line in KatibBackend().pull(plans, options, include_running=running):
        note(line)


def validate_katib(item: str, *, config: Path | None = None, katib_config: Path | None = None) -> str:
    """`hpoctl validate --katib ITEM`: a file of Katib Experiments is checked as Katib's webhook would; a
    study (name or spec file) is rendered, every target and stage, and checked the same way."""
    from hpoctl.katib.katib_config import from_katib_config
    from hpoctl.katib.manifest_io import load_manifests
    from hpoctl.katib.render import RenderOptions, hpoctl_installation, render_experiments
    from hpoctl.katib.validate import check_experiments

    settings = load_config(config)
    installation = (
        from_katib_config(load_yaml_file(katib_config), str(katib_config)).with_suggestions(settings.katib.suggestions)
        if katib_config
        else hpoctl_installation(settings.katib.suggestions)
    )
    path = Path(item)
    if path.suffix in (".yaml", ".yml", ".json") and path.is_file():
        manifests = load_manifests(path.read_text(encoding="utf-8"), item)
        experiments = [m for m in manifests if m.get("kind") == "Experiment"]
        if experiments:
            check_experiments(
                experiments, installation=installation, kubernetes_version=settings.katib.kubernetes_version
            )
            return f"{item}: {len(experiments)} Katib Experiments valid (as Katib's webhook checks them)"
    loaded = load_study(item)
    rendered = render_experiments(build_plans(loaded, "all"), RenderOptions(config=settings))
    check_experiments(
        [r.manifest for r in rendered if not r.pending],
        installation=installation,
        kubernetes_version=settings.katib.kubernetes_version,
    )
    return f"{item}: {len(rendered)} Katib Experiments render and are valid (as Katib's webhook checks them)"


__all__ = ["budget", "delete", "pull", "validate_katib"]
