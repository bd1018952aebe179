"""Option aliases shared by the command groups, so every command spells them the same way."""

from __future__ import annotations

from typing import Annotated

import typer

from hpoctl.cli.output import OutputFormat

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
