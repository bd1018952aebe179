"""The trainer command line, generated from typed argument groups.

Three groups make a trainer's CLI: :class:`RunArgs` (common to every trainer, ``--epochs``, ``--cache-dir``),
the trainer's data and target arguments (``--flare-class``, ``--n-samples``), both spelled with dashes, and its
hyperparameters, spelled exactly as the study spec names them (``--embed_dim=128``). Each group is a pydantic
model with a docstring per field; the docstrings are the ``--help`` text.

Values arrive as strings. A value is JSON-decoded when it is valid JSON (``[64,64]``, ``3e-4``, ``512``) and
kept as the raw string otherwise (``M``, ``abc``); JSON ``true``/``false``/``null`` stay strings, so that
``--dropout=true`` is an error rather than 1.0. Pydantic then validates types and bounds. Every problem on
the command line becomes one :class:`UsageError` line naming the flag, the value and what is allowed.
"""

from __future__ import annotations

import argparse
import difflib
import json
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hpoctl.trainers.common.errors import UsageError

ARG_MODEL_CONFIG = ConfigDict(
    extra="forbid",
    allow_inf_nan=False,
    use_attribute_docstrings=True,
    coerce_numbers_to_str=True,
    frozen=True,
)
"""Model config every argument group uses: unknown fields, NaN and infinity are errors; docstrings are help."""


class RunArgs(BaseModel):
    """Arguments every trainer takes, whatever the study."""

    model_config = ARG_MODEL_CONFIG

    target: str | None = None
    """Target name as the study spec names it (e.g. M_24h); the trainer derives its fixed arguments from it."""
    epochs: int = Field(20, ge=1)
    """Number of epochs; one metric line is printed per epoch."""
    seed: int = Field(0, ge=0)
    """Seed for model initialisation, dropout and batch order (the data has its own --data-seed)."""
    data: Path | None = None
    """Data file or folder, in the format under "Data" above; without it, deterministic synthetic data."""
    output: Path | None = None
    """Folder for metrics.json and hyperparameters.yaml (default: $HPOCTL_OUTPUT_DIR, else ./trainer-output)."""
    cache_dir: Path | None = None
    """Prepared-data cache (default: $HPOCTL_CACHE_DIR, else ~/.cache/hpoctl/data)."""
    report: Literal["stdout", "push"] = "stdout"
    """stdout: metric lines for Katib's StdOut collector; push: also push to Katib's DB manager in a trial."""
    threads: int | None = Field(None, ge=1)
    """torch.set_num_threads(N) (default: torch's own choice)."""
    accelerator: Literal["auto", "cpu", "gpu"] = "auto"
    """auto: a GPU when there is one (bf16-mixed), else CPU (32-bit, deterministic)."""
    save_model: Path | None = None
    """Save the model into this folder: the weights of the epoch --save-by picks (model.ckpt, a Lightning
    checkpoint), a copy of hyperparameters.yaml, and model.json with that epoch's metrics."""
    save_by: str | None = None
    """METRIC:STRATEGY choosing the saved epoch with --save-model: max or min (its best epoch), latest (the last);
    default: the trainer's primary metric, best epoch."""
    evaluate_model: Path | None = None
    """A saved model's folder (or its model.ckpt): load its weights and run one validation pass on the data instead
    of training; prints one metric line for the checkpoint's epoch."""
    check_data: bool = False
    """Read --data as training would, print every problem for the target (one line each) and exit: 0 usable,
    4 not. Trains nothing."""


@dataclass(frozen=True)
class ArgGroup:
    """One argument group of the CLI: a pydantic model and how its flags are spelled."""

    title: str
    model: type[BaseModel]
    dashes: bool
    """True: ``--n-samples`` (run and data arguments); False: ``--embed_dim`` (hyperparameters, as in specs)."""

    def flag(self, field: str) -> str:
        return "--" + (field.replace("_", "-") if self.dashes else field)


@dataclass(frozen=True)
class ParsedArgs:
    """The validated command line: one model instance per group."""

    run: RunArgs
    data: BaseModel
    hparams: BaseModel


class _Parser(argparse.ArgumentParser):
    """argparse that raises :class:`UsageError` instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see --help)")


def _is_textual(annotation: Any) -> bool:
    """True for str and Path fields (optional or not): their values are never JSON-decoded."""
    args = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) else ()
    return annotation in (str, Path) or any(a in (str, Path) for a in args)


def decode_value(raw: str, annotation: Any = None) -> Any:
    """JSON-decode a command-line value, keeping the raw string when it is not a JSON number, list or object.

    Values of str and Path fields stay raw, so ``--data 2024`` is a folder named 2024.
    """
    if _is_textual(annotation):
        return raw
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    if value is None or isinstance(value, bool):
        return raw
    return value


def _describe_type(annotation: Any) -> str | None:
    if typing.get_origin(annotation) is Literal:
        return "one of " + ", ".join(str(a) for a in typing.get_args(annotation))
    return None


def build_parser(prog: str, description: str, groups: Sequence[ArgGroup]) -> argparse.ArgumentParser:
    """An argparse parser with one string option per field of every group, help from the field docstrings."""
    parser = _Parser(
        prog=prog,
        description=description,
        allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for group in groups:
        section = parser.add_argument_group(group.title)
        for name, field in group.model.model_fields.items():
            default = field.get_default(call_default_factory=True)
            if isinstance(default, list | tuple):
                default = json.dumps(default, separators=(",", ":"))
            choices = _describe_type(field.annotation)
            help_text = " ".join(filter(None, [field.description, f"({choices})" if choices else None]))
            if field.annotation is bool and default is False:  # a switch: `--check-data`, no value
                section.add_argument(
                    group.flag(name),
                    dest=f"{group.title}\0{name}",
                    action="store_const",
                    const="true",
                    default=argparse.SUPPRESS,
                    help=help_text.replace("%", "%%"),
                )
                continue
            if default is not None:
                help_text += f" [default: {default}]"
            section.add_argument(
                group.flag(name),
                dest=f"{group.title}\0{name}",
                metavar=name.upper(),
                default=argparse.SUPPRESS,
                help=help_text.replace("%", "%%"),
            )
    return parser


def _unknown_arguments_error(parser: argparse.ArgumentParser, extras: list[str]) -> UsageError:
    known = [opt for action in parser._actions for opt in action.option_strings]
    parts = []
    for extra in extras:
        flag = extra.split("=", 1)[0]
        hint = ""
        if flag.startswith("-"):
            spellings = {flag, flag.replace("-", "_").replace("__", "--", 1), flag.replace("_", "-")}
            close = [m for s in spellings for m in difflib.get_close_matches(s, known, n=1, cutoff=0.75)]
            hint = f" (did you mean {close[0]}?)" if close else ""
        parts.append(f"{extra}{hint}")
    return UsageError(f"unrecognized arguments: {' '.join(parts)} (see --help)")


def _validation_error(group: ArgGroup, error: ValidationError, raw: dict[str, str]) -> str:
    problems = []
    for item in error.errors(include_url=False):
        field = str(item["loc"][0]) if item["loc"] else ""
        shown = f"={raw[field]!r}" if field in raw else ""
        where = group.flag(field) if field else group.title
        message = str(item["msg"]).removeprefix("Value error, ")
        problems.append(f"{where}{shown}: {message}")
    return "; ".join(problems)


def validate_group(group: ArgGroup, raw: dict[str, str]) -> BaseModel:
    """Decode and validate one group's raw string values; raise one :class:`UsageError` naming every problem."""
    try:
        fields = group.model.model_fields
        values = {
            name: decode_value(value, fields[name].annotation if name in fields else None)
            for name, value in raw.items()
        }
        return group.model.model_validate(values)
    except ValidationError as e:
        raise UsageError(_validation_error(group, e, raw)) from None


def parse_args(parser: argparse.ArgumentParser, groups: Sequence[ArgGroup], argv: Sequence[str]) -> list[BaseModel]:
    """Parse ``argv`` into one validated model per group (in the groups' order)."""
    namespace, extras = parser.parse_known_args(list(argv))
    if extras:
        raise _unknown_arguments_error(parser, extras)
    raw: dict[str, dict[str, str]] = {group.title: {} for group in groups}
    for dest, value in vars(namespace).items():
        title, name = dest.split("\0", 1)
        raw[title][name] = value
    problems, models = [], []
    for group in groups:
        try:
            models.append(validate_group(group, raw[group.title]))
        except UsageError as e:
            problems.append(str(e))
    if problems:
        raise UsageError("; ".join(problems))
    return models


__all__ = [
    "ARG_MODEL_CONFIG",
    "ArgGroup",
    "ParsedArgs",
    "RunArgs",
    "build_parser",
    "decode_value",
    "parse_args",
    "validate_group",
]
