"""`hpoctl render`: what a backend would run, printed and validated, never applied."""

from __future__ import annotations

import json
import sys
from enum import Enum
from typing import Annotated

import typer

from hpoctl.cli.options import (
    AlgorithmOpt,
    CollectorOpt,
    ConfigOpt,
    DataOpt,
    ImageOpt,
    NamespaceOpt,
    NodePoolOpt,
    PresetOpt,
    ScalariseOpt,
    SetOpt,
    StageOpt,
    StudyArg,
    TargetOpt,
    backend_options,
    chosen_backend,
)
from hpoctl.cli.output import note
from hpoctl.plan import select_plans


class ManifestFormat(str, Enum):
    yaml = "yaml"
    json = "json"


def render(
    study: StudyArg,
    target: TargetOpt,
    stage: StageOpt = None,
    preset: PresetOpt = None,
    set_: SetOpt = None,
    data: DataOpt = None,
    namespace: NamespaceOpt = None,
    image: ImageOpt = None,
    node_pool: NodePoolOpt = None,
    metrics_collector: CollectorOpt = None,
    scalarise: ScalariseOpt = False,
    algorithm: AlgorithmOpt = None,
    seed: Annotated[int | None, typer.Option("--seed", help="The trainers' seed (default: the study's).")] = None,
    config: ConfigOpt = None,
    backend: Annotated[
        str, typer.Option("--backend", "-b", help="katib (Experiments), slurm (sbatch scripts) or local (commands).")
    ] = "katib",
    output: Annotated[ManifestFormat, typer.Option("--output", "-o", help="yaml (multi-document) or json.")] = (
        ManifestFormat.yaml
    ),
) -> None:
    """Print what a backend would run for a study, validated as that system would: by default the Katib
    Experiments, one per target and stage, checked as Katib's webhook would.

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
    plans = select_plans(study, target, stage=stage, preset=preset, set_=set_, data=data)
    chosen = chosen_backend(backend)
    options = backend_options(
        chosen,
        stage=stage,
        seed=seed,
        config=config,
        namespace=namespace,
        image=image,
        node_pool=node_pool,
        metrics_collector=metrics_collector,
        scalarise=scalarise,
        algorithm=algorithm,
    )
    rendered = chosen.render(plans, options)
    for line in rendered.notes:
        note(line)
    if output is ManifestFormat.json:
        sys.stdout.write(json.dumps(rendered.json_data(), indent=2) + "\n")
    else:
        sys.stdout.write(rendered.text)
