"""`hpoctl katib ...`: the Katib backend's own commands: `register` (set up a cluster's Katib for hpoctl) and
`budget` (change a running Experiment's trial counts). The kubernetes client is imported inside them, so
`hpoctl --help` stays fast."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from hpoctl.cli.options import (
    ConfigOpt,
    ContextOpt,
    KubeconfigOpt,
    NamespaceOpt,
    PresetOpt,
    SetOpt,
    StageOpt,
    StudyArg,
    TargetOpt,
    backend_options,
)
from hpoctl.cli.output import note
from hpoctl.plan import select_plans

app = typer.Typer(
    name="katib",
    help="The Katib backend's own commands: set up a cluster's Katib, change a budget.",
    no_args_is_help=True,
)


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


@app.command("budget")
def budget(
    study: StudyArg,
    target: TargetOpt,
    max_trials: Annotated[int | None, typer.Option("--max-trials", min=1, help="New maxTrialCount.")] = None,
    parallel: Annotated[int | None, typer.Option("--parallel", min=1, help="New parallelTrialCount.")] = None,
    stage: StageOpt = None,
    preset: PresetOpt = None,
    set_: SetOpt = None,
    namespace: NamespaceOpt = None,
    context: ContextOpt = None,
    kubeconfig: KubeconfigOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Change the trial budget of a running Katib Experiment (maxTrialCount, parallelTrialCount).

    Without --stage, the target's running stage is patched. A finished Experiment takes more trials
    when its resumePolicy is LongRunning (hpoctl's default) or FromVolume.

    Examples:
        hpoctl katib budget everest --target M_24h --max-trials 150
        hpoctl katib budget everest --target M_24h --parallel 8 -n hpo
        hpoctl katib budget everest --target M_24h --stage exploration --max-trials 200 --parallel 6
    """
    from hpoctl.katib.backend import KatibBackend

    plans = select_plans(study, target, stage=stage, preset=preset, set_=set_)
    backend = KatibBackend()
    options = backend_options(
        backend, stage=stage, namespace=namespace, context=context, kubeconfig=kubeconfig, config=config
    )
    for line in backend.budget(plans, options, max_trials=max_trials, parallel=parallel):
        note(line)
