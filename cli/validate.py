"""`hpoctl validate FILE...`: check study specs and report every problem at once."""

from __future__ import annotations

from typing import Annotated

import typer

from hpoctl.backends.registry import get_backend
from hpoctl.catalog import load_study
from hpoctl.cli.options import ConfigOpt
from hpoctl.cli.output import note
from hpoctl.errors import HpoctlError, ManyErrors, SpecError
from hpoctl.search import auto
from hpoctl.spec.study import semantic_warnings


def validate(
    files: Annotated[list[str], typer.Argument(help="Study spec files (YAML) or built-in study names.")],
    katib: Annotated[
        bool,
        typer.Option("--katib", help="Also check as Katib's webhook would: studies rendered, or Experiment files."),
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Validate study specs: one line per problem, naming the file, the field, the value and what is allowed.

    Examples:
        hpoctl validate my-study.yaml
        hpoctl validate everest forecast studies/*.yaml
        hpoctl validate --katib everest experiments.yaml
    """
    failed: list[HpoctlError] = []
    for item in files:
        try:
            if katib:
                backend = get_backend("katib")
                note(backend.validate(item, backend.options(config=config)))
                continue
            spec = load_study(item).spec
        except HpoctlError as e:
            failed.append(e)
            continue
        if problems := auto.spec_problems(spec):
            failed.append(SpecError(item, problems))
            continue
        note(f"{item}: valid ({spec.name}: {len(spec.targets)} targets, {len(spec.protocol)} stages)")
        for warning in [*semantic_warnings(spec), *auto.explicit_choice_warnings(spec)]:
            note(f"{item}: warning: {warning}")
    if failed:
        raise ManyErrors(failed)
