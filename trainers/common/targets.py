"""The usage checks every trainer's ``resolve_target`` shares: synthetic-only flags against ``--data``, and a
target name that stands for fixed data arguments (EVEREST's ``M_24h``, forecast's ``TFT_Q@heat``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

from hpoctl.trainers.common.args import RunArgs
from hpoctl.trainers.common.errors import UsageError

DataArgs = TypeVar("DataArgs", bound=BaseModel)


def flag(field: str) -> str:
    """``flare_class`` -> ``--flare-class``: the data-argument field's command-line flag."""
    return "--" + field.replace("_", "-")


@dataclass(frozen=True)
class TargetFields:
    """Data arguments a target name fixes, and how the name and their values map onto each other."""

    names: tuple[str, ...]
    """The fields, in the order ``compose`` takes and ``parse`` returns their values (``flare_class``, ``window``)."""
    default: str
    """The target when neither ``--target`` nor any of the fields is given."""
    compose: Callable[..., str]
    """Field values -> target name (``"M", 24`` -> ``M_24h``)."""
    parse: Callable[[str], Sequence[Any]]
    """Target name -> field values, typed as the fields are (``M_24h`` -> ``("M", 24)``)."""


def resolve_target(
    run: RunArgs, data: DataArgs, *, synthetic_only: Sequence[str], fields: TargetFields | None = None
) -> tuple[str, DataArgs]:
    """The target and the data arguments with its fixed values filled in (``data`` itself without ``fields``).

    A field of ``synthetic_only`` given together with ``--data`` is a usage error. Without ``--target``, all of
    ``fields`` given name the target, none gives ``fields.default``, some is an error; a given field that
    disagrees with the target is an error. Trainer-specific checks follow in the trainer's own resolver.
    """
    if run.data is not None and (given := [f for f in synthetic_only if f in data.model_fields_set]):
        flags = ", ".join(flag(f) for f in given)
        raise UsageError(f"{flags}: for synthetic data only; drop it or drop --data")
    if fields is None:
        return run.target or "default", data
    values = [getattr(data, name) for name in fields.names]
    target = run.target
    if target is None:
        if all(value is None for value in values):
            target = fields.default
        elif any(value is None for value in values):
            every = "both" if len(fields.names) == 2 else "all of"
            raise UsageError(f"give --target, or {every} {' and '.join(flag(name) for name in fields.names)}")
        else:
            target = fields.compose(*values)
    implied = dict(zip(fields.names, fields.parse(target), strict=True))
    meaning = " ".join(f"{flag(name)} {value}" for name, value in implied.items())
    for name, given_value in zip(fields.names, values, strict=True):
        if given_value is not None and given_value != implied[name]:
            raise UsageError(f"{flag(name)}={given_value} contradicts --target={target} (which means {meaning})")
    return target, data.model_copy(update=implied)


__all__ = ["TargetFields", "flag", "resolve_target"]
