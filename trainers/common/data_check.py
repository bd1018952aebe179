"""`--check-data`: read a trainer's ``--data`` as training would and report every problem at once, without
importing torch. A trainer with a ``check`` module (``check(run, data) -> (problems, summary)``) finds them all;
any other reports the first problem its own loader meets."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from hpoctl.trainer_contract import DATA_OK, DATA_PROBLEM
from hpoctl.trainers.common.args import RunArgs
from hpoctl.trainers.common.cache import Arrays
from hpoctl.trainers.common.errors import DataError
from hpoctl.trainers.common.exit_codes import ExitCode
from hpoctl.trainers.common.spec import TrainerSpec


class _Uncached:
    """What a trainer's ``load_prepared`` needs of a Trial, preparing afresh (a check writes no cache)."""

    def prepare_data(self, source: Any, params: dict[str, Any], prepare: Callable[[], Arrays]) -> Arrays:
        return prepare()


def _by_loader(spec: TrainerSpec, run: RunArgs, data: BaseModel) -> tuple[list[str], str]:
    loader = importlib.import_module(f"hpoctl.trainers.{spec.name}.data")
    try:
        arrays = loader.load_prepared(_Uncached(), run.data, data)
    except DataError as e:
        return [str(e).removeprefix("--data: ")], ""
    shapes = ", ".join(f"{name} {list(value.shape)}" for name, value in arrays.items() if getattr(value, "ndim", 0))
    return [], f"prepared arrays: {shapes}"


def check_data(spec: TrainerSpec, run: RunArgs, data: BaseModel) -> int:
    """Print each problem on stderr or one summary on stdout, as the trainer contract spells them."""
    if run.data is None:
        print(f"{spec.prog}: error: --check-data needs --data", file=sys.stderr)
        return ExitCode.USAGE
    try:
        checker = importlib.import_module(f"hpoctl.trainers.{spec.name}.check").check
    except ModuleNotFoundError:
        problems, summary = _by_loader(spec, run, data)
    else:
        problems, summary = checker(run, data)
    for problem in problems:
        print(f"{DATA_PROBLEM}{problem}", file=sys.stderr)
    if problems:
        return ExitCode.DATA
    print(f"{DATA_OK}{summary}", flush=True)
    return ExitCode.OK


__all__ = ["check_data"]
