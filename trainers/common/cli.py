"""``python -m hpoctl.trainers.<name>``: parse and validate the command line, then hand over to the trainer.

Parsing needs only pydantic, so ``--help`` and usage errors answer in a fraction of a second; torch and
Lightning are imported after the arguments are known to be good.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from hpoctl.trainers.common import signals
from hpoctl.trainers.common.args import ParsedArgs, RunArgs, build_parser, parse_args
from hpoctl.trainers.common.errors import UsageError
from hpoctl.trainers.common.exit_codes import ExitCode
from hpoctl.trainers.common.model_store import SavePolicy
from hpoctl.trainers.common.spec import TrainerSpec

EPILOG = """\
Every epoch prints one line such as `epoch=3 tss=0.612 val_loss=0.418` on stdout (Katib's StdOut collector
format); everything else goes to stderr. Exit codes: 0 done, 1 error, 2 usage, 3 NaN/inf loss, 4 data,
5 out of memory, 143 SIGTERM (metrics.json keeps the partial history).
"""


def parse_command_line(spec: TrainerSpec, argv: Sequence[str]) -> ParsedArgs:
    """Validate ``argv`` against the trainer's argument groups and resolve its target."""
    data = (
        f"Data (--data; without it, deterministic synthetic data):\n{spec.data_format}\n\n" if spec.data_format else ""
    )
    parser = build_parser(spec.prog, f"{spec.description}\n\n{data}{EPILOG}", spec.groups())
    run, data, hparams = parse_args(parser, spec.groups(), argv)
    assert isinstance(run, RunArgs)
    if run.target is not None and not spec.accepts_target(run.target):
        raise UsageError(f"--target={run.target!r} is not a target of {spec.name}; allowed: {', '.join(spec.targets)}")
    target, data = spec.resolve_target(run, data)
    SavePolicy.from_args(spec, run)
    return ParsedArgs(run=run.model_copy(update={"target": target}), data=data, hparams=hparams)


def main(spec: TrainerSpec, argv: Sequence[str] | None = None) -> int:
    """Run a trainer from its command line and return its exit code."""
    signals.install()
    try:
        parsed = parse_command_line(spec, sys.argv[1:] if argv is None else argv)
    except UsageError as e:
        print(f"{spec.prog}: error: {e}", file=sys.stderr, flush=True)
        return ExitCode.USAGE
    if parsed.run.check_data:
        from hpoctl.trainers.common.data_check import check_data

        return check_data(spec, parsed.run, parsed.data)
    module_name, _, function = spec.entry_point.partition(":")
    try:
        setup = getattr(importlib.import_module(module_name), function)
    except ImportError as e:
        print(f"{spec.prog}: error: {e} (the trainers need: pip install 'hpoctl[train]')", file=sys.stderr)
        return ExitCode.ERROR
    return int(setup(parsed.run, parsed.hparams, parsed.data))


__all__ = ["EPILOG", "main", "parse_command_line"]
