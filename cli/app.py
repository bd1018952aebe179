"""The `hpoctl` (and `kubectl hpo`) application: registers the command groups and maps errors to
one line on stderr and an exit code."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from hpoctl import __version__
from hpoctl.cli import data as data_cmd
from hpoctl.cli import launch as launch_cmd
from hpoctl.cli import model as model_cmd
from hpoctl.cli import plan as plan_cmd
from hpoctl.cli import render as render_cmd
from hpoctl.cli import results, studies, validate
from hpoctl.cli import train_best as train_best_cmd
from hpoctl.cli import watch as watch_cmd
from hpoctl.cli.system_errors import database_error_line, is_database_error, system_error_line
from hpoctl.config import CONFIG_ENV, load_config
from hpoctl.errors import HpoctlError
from hpoctl.katib import cli as katib_cli  # the Katib backend's command group
from hpoctl.katib import suggestion_cli  # the Katib backend's suggestion service
from hpoctl.slurm import cli as slurm_cli  # the SLURM backend's commands

app = typer.Typer(
    name="hpoctl",
    help="Hyperparameter optimisation on your machine (Optuna), Kubernetes (Katib) or SLURM, from one study spec.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(studies.app, name="studies")
app.add_typer(results.app, name="results")
app.add_typer(data_cmd.app, name="data")
app.command("validate")(validate.validate)
app.command("plan")(plan_cmd.plan)
app.command("launch")(launch_cmd.launch)
app.command("status")(launch_cmd.status)
app.command("watch")(watch_cmd.watch)
app.command("cancel")(launch_cmd.cancel)
app.command("delete")(launch_cmd.delete)
app.command("train-best")(train_best_cmd.train_best)
app.add_typer(model_cmd.app, name="model")
app.command("render")(render_cmd.render)
app.add_typer(katib_cli.app, name="katib")
app.add_typer(suggestion_cli.app, name="suggestion")
app.command("worker")(slurm_cli.worker)
app.command("logs")(slurm_cli.logs)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hpoctl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Also say what is run: trainer commands, sbatch, Kubernetes calls."),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Tracebacks with errors, here and in trainers (HPOCTL_DEBUG=1).")
    ] = False,
) -> None:
    """hpoctl: one study spec, three backends (local, katib, slurm). --verbose and --debug may also follow the
    command."""
    if debug:
        os.environ["HPOCTL_DEBUG"] = "1"
    _say_what_runs(verbose or debug)
    if os.environ.get(CONFIG_ENV):
        load_config()  # a missing or malformed $HPOCTL_CONFIG is an error on every command


def _debug() -> bool:
    return os.environ.get("HPOCTL_DEBUG", "") not in ("", "0", "false")


def _say_what_runs(on: bool) -> None:
    """hpoctl's log lines (trainer commands, sbatch, Kubernetes calls) on stderr with --verbose, else none."""
    logger = logging.getLogger("hpoctl")
    for handler in [h for h in logger.handlers if h.get_name() == "hpoctl-cli"]:
        logger.removeHandler(handler)
    logger.setLevel(logging.INFO if on else logging.NOTSET)  # NOTSET: as the root logger says (`suggestion serve`)
    if on:
        handler = logging.StreamHandler(sys.stderr)
        handler.set_name("hpoctl-cli")
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)


GLOBAL_FLAGS = ("--verbose", "-v", "--debug")


def global_flags_first(argv: list[str]) -> list[str]:
    """`hpoctl launch everest -t M_24h --debug` as `hpoctl --debug launch ...`: the global flags work wherever they
    are given (before a `--`), except to `suggestion`, whose server has a -v of its own."""
    end = argv.index("--") if "--" in argv else len(argv)
    if argv[:1] == ["suggestion"]:
        return argv
    flags = [word for word in argv[:end] if word in GLOBAL_FLAGS]
    return [*flags, *(word for word in argv[:end] if word not in GLOBAL_FLAGS), *argv[end:]]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; every known failure is one line on stderr and exit 1 (usage: 2)."""
    prog = "kubectl hpo" if Path(sys.argv[0]).name == "kubectl-hpo" else "hpoctl"
    argv = global_flags_first(list(sys.argv[1:] if argv is None else argv))
    debug_before = os.environ.get("HPOCTL_DEBUG")
    try:
        return _run_app(argv, prog)
    finally:  # a command run in-process (tests, the Python API) leaves the environment as it found it
        if debug_before is None:
            os.environ.pop("HPOCTL_DEBUG", None)
        else:
            os.environ["HPOCTL_DEBUG"] = debug_before


def _run_app(argv: list[str], prog: str) -> int:
    try:
        code = app(args=argv, prog_name=prog, standalone_mode=False)
    except typer.Exit as e:
        return e.exit_code
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        return 130
    except typer.TyperException as e:  # Typer's usage errors: bad option, missing argument, ...
        ctx = getattr(e, "ctx", None)
        if type(e).__name__ == "NoArgsIsHelpError" and ctx is not None:
            text = ctx.get_help()  # Typer's rich help prints itself and returns ""
            if text:
                print(text)
            return 2
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        message = " ".join(e.format_message().split())
        print(f"error: {message}{hint}", file=sys.stderr)
        return e.exit_code
    except HpoctlError as e:
        if _debug():
            raise
        for line in e.lines():
            print(f"error: {line}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except (OSError, UnicodeDecodeError) as e:
        if _debug():
            raise
        print(f"error: {system_error_line(e)}", file=sys.stderr)
        return 1
    except Exception as e:
        if _debug():
            raise
        if is_database_error(e):
            print(f"error: {database_error_line(e)}", file=sys.stderr)
            return 1
        print(
            f"error: internal error: {type(e).__name__}: {e} (HPOCTL_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return 1
    return code if isinstance(code, int) else 0  # `raise typer.Exit(n)` in a command arrives as its return value


def run() -> None:
    sys.exit(main())
