"""`hpoctl studies list|show`: the built-in catalog."""

from __future__ import annotations

import typer

from hpoctl.catalog import builtin_names, load_study
from hpoctl.cli.options import OutputOpt, StudyArg
from hpoctl.cli.output import OutputFormat, emit

app = typer.Typer(help="The built-in studies.", no_args_is_help=True)


@app.command("list")
def list_studies(output: OutputOpt = OutputFormat.table) -> None:
    """List the built-in studies.

    Examples:
        hpoctl studies list
        hpoctl studies list -o json
    """
    rows = []
    for name in builtin_names():
        spec = load_study(name).spec
        rows.append(
            {
                "name": name,
                "targets": len(spec.targets),
                "parameters": sum(len(space) for space in spec.all_spaces().values()),
                "objectives": ", ".join(o.label() for o in spec.objectives),
                "algorithm": spec.algorithm.name,
                "stages": " -> ".join(f"{s.name}({s.trial_count}x{s.epochs})" for s in spec.protocol),
                "description": spec.description,
            }
        )
    emit(rows, output, columns=["name", "targets", "parameters", "objectives", "algorithm", "stages"])


@app.command("show")
def show_study(study: StudyArg, output: OutputOpt = OutputFormat.yaml) -> None:
    """Show a study's full spec: parameters, targets, objectives, algorithm, protocol, presets.

    Examples:
        hpoctl studies show everest
        hpoctl studies show everest -o json
        hpoctl studies show ./my-study.yaml
    """
    spec = load_study(study).spec
    data = spec.model_dump(mode="json", exclude_none=True)
    if output is OutputFormat.table:
        rows = []
        for space_name, space in spec.all_spaces().items():
            for name, param in space.items():
                p = param.model_dump(mode="json", exclude_none=True)
                rows.append(
                    {
                        "space": space_name,
                        "parameter": name,
                        "type": p["type"],
                        "range": p.get("choices") or [p["low"], p["high"]],
                        "log": p.get("log", False),
                        "default": p["default"],
                        "when": p.get("when"),
                    }
                )
        emit(data, output, rows=rows, title=f"{spec.name}: {spec.description}")
        return
    emit(data, output)
