"""Option aliases shared by the command groups, so every command spells them the same way, and the one
builder of LaunchOptions from them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hpoctl.backends import LaunchOptions
from hpoctl.cli.output import OutputFormat
from hpoctl.results.layout import default_root

StudyArg = Annotated[str, typer.Argument(help="A built-in study (see `hpoctl studies list`) or a YAML file.")]
TargetOpt = Annotated[str, typer.Option("--target", "-t", help="A target of the study, or `all`.")]
StageOpt = Annotated[str | None, typer.Option("--stage", "-s", help="Run one stage of the protocol only.")]
PresetOpt = Annotated[
    list[str] | None,
    typer.Option("--preset", "-p", help="Apply a preset of the study (repeatable, in order)."),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a spec field, e.g. --set algorithm.name=random (value is YAML)."),
]
OutputOpt = Annotated[OutputFormat, typer.Option("--output", "-o", help="Output format.")]
BackendOpt = Annotated[
    str | None, typer.Option("--backend", "-b", help="local, katib or slurm (default: $HPOCTL_BACKEND, else local).")
]
ResultsOpt = Annotated[
    Path | None, typer.Option("--results", help="Results folder (default: $HPOCTL_RESULTS, else ./results).")
]
StudyNameOpt = Annotated[str | None, typer.Option("--study-name", help="Name of the Optuna study in the storage.")]
NamespaceOpt = Annotated[
    str | None,
    typer.Option("--namespace", "-n", help="katib: namespace (default: the config's, else the context's)."),
]
ContextOpt = Annotated[str | None, typer.Option("--context", help="katib: kubeconfig context.")]
KubeconfigOpt = Annotated[
    Path | None, typer.Option("--kubeconfig", help="katib: kubeconfig file (default: $KUBECONFIG).")
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="hpoctl configuration (default: $HPOCTL_CONFIG, ./hpoctl.yaml, ~/.config/hpoctl)."),
]
ImageOpt = Annotated[str | None, typer.Option("--image", help="Trainer image (default: the study's trainer.image).")]
NodePoolOpt = Annotated[
    str | None, typer.Option("--node-pool", help="katib: node pool from the configuration or a built-in (gke-t4, ...).")
]
CollectorOpt = Annotated[
    str | None,
    typer.Option("--metrics-collector", help="katib: stdout (Katib's StdOut collector) or push (the trainer pushes)."),
]
ScalariseOpt = Annotated[
    bool,
    typer.Option("--scalarise", help="katib: several objectives, optimise the first and record the others."),
]


def results_root(flag: Path | None) -> Path:
    return flag or default_root()


def launch_options(*, results: Path | None = None, extra: dict[str, Any] | None = None, **fields: Any) -> LaunchOptions:
    """LaunchOptions from command-line values: options left unset (None) are left out of `extra`."""
    return LaunchOptions(
        results_dir=results_root(results),
        **fields,
        extra={k: v for k, v in (extra or {}).items() if v is not None},
    )


def kube_extra(
    namespace: str | None = None, context: str | None = None, kubeconfig: Path | None = None, config: Path | None = None
) -> dict[str, Any]:
    """The LaunchOptions.extra keys that say which cluster and namespace (katib)."""
    return {"namespace": namespace, "context": context, "kubeconfig": kubeconfig, "config": config}
