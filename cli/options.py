"""Option aliases shared by the command groups, so every command spells them the same way; the one way a
command selects its plans; and the one builder of a backend's options from them."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from hpoctl.backends import Backend, Options
from hpoctl.backends.registry import backend_name, get_backend
from hpoctl.cli.output import OutputFormat
from hpoctl.config import load_config
from hpoctl.results.layout import default_root

StudyArg = Annotated[str, typer.Argument(help="A built-in study (see `hpoctl studies list`) or a YAML file.")]
_TARGET_HELP = "Targets: a name, a comma list (C_24h,X_72h), a shell pattern ('M_*') or all; repeatable."
TargetOpt = Annotated[list[str], typer.Option("--target", "-t", help=_TARGET_HELP)]
TargetAllOpt = Annotated[list[str], typer.Option("--target", "-t", help=f"{_TARGET_HELP} Default: all.")]
OneTargetOpt = Annotated[str, typer.Option("--target", "-t", help="One target of the study.")]
StageOpt = Annotated[str | None, typer.Option("--stage", "-s", help="Run one stage of the protocol only.")]
PresetOpt = Annotated[
    list[str] | None,
    typer.Option("--preset", "-p", help="Apply a preset of the study (repeatable, in order)."),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a spec field, e.g. --set algorithm.name=random (value is YAML)."),
]
DataOpt = Annotated[
    str | None,
    typer.Option(
        "--data",
        help="The trainer's data for every selected target, replacing the spec's `data:` (a path here; on Katib, in "
        "the data volume). See `hpoctl data check` and each trainer's --help for its format.",
    ),
]
MaxTrialsOpt = Annotated[
    int | None,
    typer.Option(
        "--max-trials",
        min=1,
        help="Trials per target in all (limits.max_trials), shared out over the search stages; `plan` shows the split.",
    ),
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


def _checked_config(path: Path | None) -> Path | None:
    """--config is read at once, so that a missing or malformed file is an error on every command, not only on
    the backends that use it."""
    if path is not None:
        load_config(path)
    return path


ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        callback=_checked_config,
        help="hpoctl configuration (default: $HPOCTL_CONFIG, ./hpoctl.yaml, ~/.config/hpoctl).",
    ),
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


class AlgorithmChoice(str, Enum):
    auto = "auto"
    hpoctl_optuna = "hpoctl-optuna"
    katib = "katib"


AlgorithmOpt = Annotated[
    AlgorithmChoice | None,
    typer.Option(
        "--algorithm",
        help="katib: auto (hpoctl-optuna for several objectives, NSGA-II/MOTPE and continued stages, else Katib's "
        "own; the default), hpoctl-optuna (every search stage), or katib (Katib's own only).",
    ),
]


def results_root(flag: Path | None) -> Path:
    return flag or default_root()


def chosen_backend(flag: str | None) -> Backend:
    return get_backend(backend_name(flag))


def backend_options(backend: Backend, *, results: Path | None = None, **values: Any) -> Options:
    """The backend's typed options from command-line values (results folder: --results, else the default)."""
    if isinstance(values.get("algorithm"), Enum):
        values["algorithm"] = values["algorithm"].value
    return backend.options(results_dir=results_root(results), **values)
