"""`hpoctl watch` (and `kubectl hpo watch`): a live view of every target and stage of a study, on any backend."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from hpoctl.backends import StageStatus
from hpoctl.cli.launch import status_poll
from hpoctl.cli.options import (
    BackendOpt,
    ConfigOpt,
    ContextOpt,
    KubeconfigOpt,
    NamespaceOpt,
    OutputOpt,
    PresetOpt,
    ResultsOpt,
    SetOpt,
    StageOpt,
    StudyArg,
    StudyNameOpt,
    TargetAllOpt,
)
from hpoctl.cli.output import OutputFormat, emit, format_cell, note
from hpoctl.eta import format_eta
from hpoctl.watching import ENDED_BADLY, Snapshot, refreshed

STATE_STYLES = {"running": "bold cyan", "queued": "yellow", "done": "green", **{s: "bold red" for s in ENDED_BADLY}}


def watch(
    study: StudyArg,
    target: TargetAllOpt = ["all"],  # noqa: B006 - Typer reads the default, nothing mutates it
    backend: BackendOpt = None,
    stage: StageOpt = None,
    preset: PresetOpt = None,
    set_: SetOpt = None,
    results: ResultsOpt = None,
    study_name: StudyNameOpt = None,
    namespace: NamespaceOpt = None,
    context: ContextOpt = None,
    kubeconfig: KubeconfigOpt = None,
    config: ConfigOpt = None,
    interval: Annotated[float, typer.Option("--interval", "-n", min=0.2, help="Seconds between refreshes.")] = 5.0,
    once: Annotated[bool, typer.Option("--once", help="Print one snapshot and exit (-o json: for scripts).")] = False,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Watch a study live until every target is done (or Ctrl-C): trials done of the budget, running, pruned,
    failed, best so far and the time left at the pace so far, per target and stage.

    Exits 0 when every target is done, 1 when one failed. Select the run as `launch` did (--preset, --set).

    Examples:
        hpoctl watch everest
        hpoctl watch everest --backend katib -n hpo
        hpoctl watch everest --target 'M_*' --once -o json
    """
    backend_name, poll = status_poll(study, target, backend, stage=stage, preset=preset, set_=set_,
                                     results=results, study_name=study_name, namespace=namespace, context=context,
                                     kubeconfig=kubeconfig, config=config)  # fmt: skip
    first = poll()  # a first failure is the command's error
    snapshot = Snapshot(first[0].study if first else study, backend_name, first)
    if once:
        _print_once(snapshot, output, interval)
        return
    if output is not OutputFormat.table:
        raise typer.BadParameter("-o json and -o yaml go with --once; the live view is a table", param_hint="-o")
    try:
        if sys.stdout.isatty():
            snapshot = _watch_live(snapshot, poll, interval)
        else:
            snapshot = _watch_plain(snapshot, poll, interval)
    except KeyboardInterrupt:
        note("stopped watching; the study goes on")
        return
    _finish(snapshot)


def _print_once(snapshot: Snapshot, output: OutputFormat, interval: float) -> None:
    if output is OutputFormat.table:
        Console(soft_wrap=False, width=max(100, Console().width)).print(view(snapshot, interval, live=False))
    else:
        emit(snapshot.to_data(), output)


def _watch_live(snapshot: Snapshot, poll: Callable[[], list[StageStatus]], interval: float) -> Snapshot:
    console = Console()
    with Live(view(snapshot, interval), console=console, auto_refresh=False, transient=False) as live:
        while not snapshot.finished:
            time.sleep(interval)
            snapshot = refreshed(snapshot, poll)
            live.update(view(snapshot, interval), refresh=True)
        live.update(view(snapshot, interval, live=False), refresh=True)
    return snapshot


def _watch_plain(snapshot: Snapshot, poll: Callable[[], list[StageStatus]], interval: float) -> Snapshot:
    """Not a terminal (a log, a pipe): the table again whenever a row changes, with its time."""
    console = Console(soft_wrap=False, width=max(100, Console().width))
    shown = None
    while True:
        key = [_changes(r) for r in snapshot.rows], snapshot.error
        if key != shown:
            console.print(view(snapshot, interval, live=False))
            shown = key
        if snapshot.finished:
            return snapshot
        time.sleep(interval)
        snapshot = refreshed(snapshot, poll)


def _changes(row: StageStatus) -> tuple:
    return row.stage, row.state, row.trials_done, row.running, row.pruned, row.failed, str(row.best)


def _finish(snapshot: Snapshot) -> None:
    failed = snapshot.ended_badly()
    unstarted = snapshot.never_started()
    left = f"; not started: {', '.join(unstarted)}" if unstarted else ""
    if failed:
        note(f"{snapshot.study}: ended without finishing: {', '.join(failed)} (hpoctl status says why){left}")
        raise typer.Exit(1)
    note(f"{snapshot.study}: done; `hpoctl results show {snapshot.study}` has the results{left}")


def view(snapshot: Snapshot, interval: float, *, live: bool = True) -> Group:
    """The snapshot as a heading, one table row per target and stage, and a line saying what happens next."""
    done, budget = snapshot.trials()
    heading = Text.assemble(
        (f"{snapshot.study}", "bold"),
        f" on {snapshot.backend} at {snapshot.taken_at.astimezone():%H:%M:%S}: {done}/{budget} trials",
    )
    table = Table(show_edge=False, header_style="bold", pad_edge=False)
    for column in ("target", "stage", "state", "trials", "", "running", "pruned", "failed", "best", "left"):
        table.add_column(column, justify="right" if column in ("running", "pruned", "failed", "left") else "left")
    for row in snapshot.rows:
        table.add_row(
            row.target,
            row.stage or "-",
            Text(row.state, style=STATE_STYLES.get(row.state, "dim")),
            f"{row.trials_done}/{row.trials_budget}",
            ProgressBar(total=max(row.trials_budget, 1), completed=min(row.trials_done, row.trials_budget), width=16),
            str(row.running),
            str(row.pruned),
            str(row.failed),
            format_cell(row.best),
            format_eta(row.eta_s),
        )
    return Group(heading, table, _footer(snapshot, interval, live))


def _footer(snapshot: Snapshot, interval: float, live: bool) -> Text:
    if snapshot.error:
        return Text(f"last refresh failed: {snapshot.error}; trying again every {interval:g}s", style="yellow")
    if snapshot.finished:
        return Text("finished", style="green")
    if not live:
        return Text("")
    waiting = "" if snapshot.active else "nothing is running: waiting for a launch; "
    return Text(f"{waiting}refreshing every {interval:g}s; Ctrl-C to leave (the study goes on)", style="dim")
