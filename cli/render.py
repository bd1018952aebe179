"""`hpoctl render`: the manifests a backend would apply, printed, validated, never applied."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated

import typer

from hpoctl.catalog import load_study
from hpoctl.cli.katib import check_collector
from hpoctl.cli.options import (
    CollectorOpt,
    ConfigOpt,
    ImageOpt,
    NamespaceOpt,
    NodePoolOpt,
    PresetOpt,
    ScalariseOpt,
    SetOpt,
    StageOpt,
    StudyArg,
    TargetOpt,
)
from hpoctl.cli.output import note
from hpoctl.cli.suggestion import AlgorithmChoice, AlgorithmOpt
from hpoctl.config import load_config
from hpoctl.errors import UnknownNameError
from hpoctl.plan import build_plans
from hpoctl.spec.loader import parse_set_overrides

RENDERERS = ("katib", "slurm")


class ManifestFormat(str, Enum):
    yaml = "yaml"
    json = "json"


def render(
    study: StudyArg,
    target: TargetOpt,
    stage: StageOpt = None,
    preset: PresetOpt = None,
    set_: SetOpt = None,
    namespace: NamespaceOpt = None,
    image: ImageOpt = None,
    node_pool: NodePoolOpt = None,
    metrics_collector: CollectorOpt = None,
    scalarise: ScalariseOpt = False,
    algorithm: AlgorithmOpt = AlgorithmChoice.auto,
    seed: Annotated[int | None, typer.Option("--seed", help="The trainers' seed (default: the study's).")] = None,
    config: ConfigOpt = None,
    backend: Annotated[str, typer.Option("--backend", "-b", help="katib or slurm (sbatch scripts).")] = "katib",
    output: Annotated[ManifestFormat, typer.Option("--output", "-o", help="yaml (multi-document) or json.")] = (
        ManifestFormat.yaml
    ),
) -> None:
    """Print the Katib Experiments of a study, one per target and stage, validated as Katib's webhook would.

    Nothing is applied; `kubectl apply -f -` could (a top-k stage's configurations, though, are filled in
    only by `hpoctl launch`, once the previous stage has finished). Notes go to stderr.

    Examples:
        hpoctl render everest --target M_24h
        hpoctl render everest --target all --stage exploration -o json
        hpoctl render everest --target M_24h --node-pool gke-a100 --image ghcr.io/me/trainer:1.2 -n hpo
        hpoctl render forecast --target NHITS_Q@heat --scalarise --set algorithm.name=tpe
        hpoctl render mlp --target default --algorithm hpoctl-optuna
        hpoctl render everest --target all --backend slurm --stage exploration
    """
    if backend not in RENDERERS:
        raise UnknownNameError("renderer", backend, list(RENDERERS), where="--backend")
    if backend == "slurm":
        _render_slurm(study, target, stage, preset, set_, image, seed, config)
        return
    from hpoctl.katib.manifest_io import dump_manifests
    from hpoctl.katib.render import RenderOptions, hpoctl_installation, render_experiments
    from hpoctl.katib.validate import check_experiments

    settings = load_config(config)
    plans = build_plans(
        load_study(study), target, stage=stage, presets=preset or [], overrides=parse_set_overrides(set_ or [])
    )
    rendered = render_experiments(
        plans,
        RenderOptions(
            namespace=namespace,
            image=image,
            node_pool=node_pool,
            metrics_collector=check_collector(metrics_collector),  # type: ignore[arg-type]
            scalarise=scalarise,
            seed=seed,
            config=settings,
            algorithm=algorithm.value,
        ),
    )
    check_experiments(
        [r.manifest for r in rendered if not r.pending],
        installation=hpoctl_installation(settings.katib.suggestions),
        kubernetes_version=settings.katib.kubernetes_version,
    )
    for line in dict.fromkeys(n for r in rendered for n in r.notes):
        note(f"note: {line}")
    sys.stdout.write(dump_manifests([r.manifest for r in rendered], output.value))


def _render_slurm(study, target, stage, preset, set_, image, seed, config) -> None:
    """The sbatch scripts `hpoctl launch --backend slurm` would submit (results in $HPOCTL_RESULTS or ./results)."""
    from hpoctl.backends import LaunchOptions
    from hpoctl.results.layout import default_root
    from hpoctl.slurm.backend import render_command

    plans = build_plans(
        load_study(study), target, stage=stage, presets=preset or [], overrides=parse_set_overrides(set_ or [])
    )
    extra = {k: v for k, v in {"image": image, "config": config}.items() if v is not None}
    text, notes = render_command(plans, LaunchOptions(results_dir=default_root(), seed=seed, extra=extra))
    for line in notes:
        note(f"note: {line}")
    sys.stdout.write(text)
