"""`hpoctl data check`: a study's data read by the trainer's own loader, every problem reported at once."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from hpoctl.cli.options import DataOpt, OutputOpt, PresetOpt, SetOpt, StudyArg, TargetOpt
from hpoctl.cli.output import OutputFormat, emit
from hpoctl.data_check import DataProblems, check_plan_data
from hpoctl.errors import HpoctlError
from hpoctl.plan import select_plans
from hpoctl.trainer_contract import CHECK_DATA_FLAG

app = typer.Typer(help="Check a team's own data before tuning on it.", no_args_is_help=True)


@app.command("check")
def check(
    study: StudyArg,
    target: TargetOpt,
    path: Annotated[str | None, typer.Argument(help="The data to check (default: --data, else the spec's).")] = None,
    data: DataOpt = None,
    preset: PresetOpt = None,
    set_: SetOpt = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Read the data as the study's trainer would for each target and list every problem, one line each
    (missing columns, wrong shapes or types, NaN rows, a split without positives); exit 1 if there is one.

    Examples:
        hpoctl data check everest --target M_24h my_sharp.csv
        hpoctl data check everest --target all --data /datasets/sharp.npz
        hpoctl data check my-study.yaml --target default
    """
    plans = select_plans(study, target, preset=preset, set_=set_, data=path or data)
    reports = [(plan, check_plan_data(plan)) for plan in plans]
    if any(not report.supported for _, report in reports):
        raise HpoctlError(
            f"{plans[0].study}: the trainer does not check data ({CHECK_DATA_FLAG} is not in its command line); "
            "hpoctl's built-in trainers do"
        )
    rows = [
        {
            "target": plan.target,
            "data": report.path,
            "usable": not report.problems,
            "problems": report.problems,
            "summary": report.summary,
        }
        for plan, report in reports
    ]
    problems = [f"{plan.target}: {p}" for plan, report in reports for p in report.problems]
    if output is OutputFormat.table:
        for plan, report in reports:
            if not report.problems:
                sys.stdout.write(f"{plan.study}/{plan.target}: {report.path}: {report.summary}\n")
    else:
        emit(rows, output)
    if problems:
        raise DataProblems(reports[0][1].path, problems)
