"""Checking a plan's data with the trainer's own loader before any trial starts: the trainer command runs once
with `--check-data` (the trainer contract's optional switch), which reads `--data` as training would and prints
every problem on its own line, without importing torch."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field

from hpoctl.errors import HpoctlError, ProblemsError
from hpoctl.plan import Plan
from hpoctl.trainer_contract import CHECK_DATA_FLAG, DATA_OK, DATA_PROBLEM, ExitCode

CHECK_TIMEOUT_S = 900


class DataProblems(ProblemsError):
    """The data cannot train the target; every problem the trainer found, one line each."""


@dataclass
class DataReport:
    path: str
    problems: list[str] = field(default_factory=list)
    summary: str = ""
    supported: bool = True


def check_plan_data(plan: Plan, data: str | None = None) -> DataReport:
    """Run the plan's trainer with `--check-data` on `data` (default: the plan's, as a path here)."""
    path = data if data is not None else plan.local_data()
    if path is None:
        raise HpoctlError(f"{plan.study}/{plan.target}: no data to check: give PATH or --data, or `data:` in the spec")
    argv = [*plan.trainer_command(), *plan.trainer_args({}, epochs=1, seed=plan.seed, data=path), CHECK_DATA_FLAG]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=CHECK_TIMEOUT_S)
    except FileNotFoundError as e:
        raise HpoctlError(f"cannot run the trainer command {argv[0]!r}: {e.strerror}") from e
    except subprocess.TimeoutExpired as e:
        raise HpoctlError(f"{plan.study}/{plan.target}: checking {path} took over {CHECK_TIMEOUT_S} s") from e
    report = DataReport(path)
    report.problems = [line[len(DATA_PROBLEM) :] for line in done.stderr.splitlines() if line.startswith(DATA_PROBLEM)]
    summaries = [line[len(DATA_OK) :] for line in done.stdout.splitlines() if line.startswith(DATA_OK)]
    if done.returncode == 0 and summaries:
        report.summary = summaries[-1]
        return report
    if not report.problems:
        last = next((line for line in reversed(done.stderr.splitlines()) if line.strip()), "")
        if done.returncode == ExitCode.USAGE and CHECK_DATA_FLAG in done.stderr:
            report.supported = False  # the trainer's parser refused the switch: its contract has no data check
            return report
        report.problems = [f"the trainer's check exited {done.returncode}: {last or 'no message'}"]
    return report


def require_usable_data(plans: list[Plan]) -> None:
    """Before a launch: every plan with data must pass its trainer's check; all problems of all targets at once."""
    lines: list[str] = []
    for plan in plans:
        if plan.data is None:
            continue
        report = check_plan_data(plan)
        lines += [f"{plan.target}: {problem}" for problem in report.problems]
    if lines:
        raise DataProblems(f"--data {plans[0].local_data()}" if len(plans) == 1 else "--data", lines)


__all__ = ["DataProblems", "DataReport", "check_plan_data", "require_usable_data"]
