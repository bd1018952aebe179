"""`hpoctl katib ...`: tasks on a cluster's Katib installation (`hpoctl katib register`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from hpoctl.cli.output import note

app = typer.Typer(name="katib", help="Set up a cluster's Katib for hpoctl.", no_args_is_help=True)


@app.command("register")
def register(
    image: Annotated[
        str | None,
        typer.Option("--image", help="The suggestion image (default: ghcr.io/hpoctl/suggestion:<hpoctl's version>)."),
    ] = None,
    namespace: Annotated[
        str, typer.Option("--namespace", "-n", help="Katib's namespace (KATIB_CORE_NAMESPACE).")
    ] = "kubeflow",
    config_map: Annotated[str, typer.Option("--config-map", help="Katib's config map.")] = "katib-config",
    inject_security_context: Annotated[
        bool,
        typer.Option(
            "--inject-security-context/--no-inject-security-context",
            help="Set init.controller.injectSecurityContext, so Katib's metrics sidecar passes Pod Security "
            "restricted (the default, as the chart does).",
        ),
    ] = True,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the ConfigMap as it would be (YAML); change nothing.")
    ] = False,
    context: Annotated[str | None, typer.Option("--context", help="kubeconfig context.")] = None,
    kubeconfig: Annotated[Path | None, typer.Option("--kubeconfig", help="kubeconfig file.")] = None,
) -> None:
    """Add the hpoctl-optuna suggestion service to Katib's katib-config, or update its entry.

    It also sets init.controller.injectSecurityContext (Katib then gives its metrics sidecar the trainer's
    restricted securityContext; without it Pod Security restricted refuses every trial pod). Other
    algorithms and settings keep their values; run it again and nothing changes. Katib reads the
    config when its controller starts: restart it afterwards (the command prints how). The Helm chart
    does the same with katib.manageConfig=true.

    Examples:
        hpoctl katib register --dry-run
        hpoctl katib register --image registry.example.com/hpoctl/suggestion:0.1.0
        hpoctl katib register --namespace katib --context prod
    """
    from hpoctl.katib.client import connect
    from hpoctl.katib.register import RESTART_HINT
    from hpoctl.katib.register import register as do_register
    from hpoctl.yamlio import dump_yaml

    connection = connect(kubeconfig, context)
    result = do_register(
        connection.core,
        namespace=namespace,
        name=config_map,
        image=image,
        inject_security_context=inject_security_context,
        dry_run=dry_run,
        where=connection.where,
    )
    if dry_run:
        sys.stdout.write(dump_yaml(result.config_map))
        note(f"dry run: would have {result.line()}" if result.action != "unchanged" else result.line())
        return
    note(result.line())
    if result.action != "unchanged":
        note(f"Katib reads it at start-up: {RESTART_HINT.format(namespace=namespace)}")
