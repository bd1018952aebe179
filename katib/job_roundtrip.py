"""What Katib's `validatePatchJob` sees: a trial Job after Go's typed round trip.

Katib v0.19.0 converts a `batch/v1` Job trialSpec to the typed Job, marshals it back and diffs the two;
anything the round trip does not reproduce (an unknown field, a zero value Go's `omitempty` drops such
as `readOnly: false`, `nodeSelector: {}`, `args: []`, a null, a value of the wrong type) is a non-`remove`
patch operation and the Experiment is refused, except under `resources.limits` and `resources.requests`.
How Go marshals each field comes from the Kubernetes types Katib links: `data/job_fields.json` is the
output of `tools/katib-admission job-fields` (a test keeps the copy equal to it). Resource quantities are
taken as written (Go would canonicalise `1.5Gi` to `1536Mi` outside requests and limits).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

EXEMPT = ("resources.limits", "resources.requests")


@functools.cache
def field_table() -> dict[str, Any]:
    return json.loads(resources.files("hpoctl.katib").joinpath("data/job_fields.json").read_text())


def roundtrip_problems(job: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(path, what Go does to it) for every part of the Job the typed round trip would not reproduce."""
    table = field_table()
    problems: list[tuple[str, str]] = []
    _walk_struct(job, table["root"], "", table["types"], problems)
    return problems


def _walk_struct(value: Any, type_name: str, path: str, types: dict[str, Any], problems: list) -> None:
    if not isinstance(value, Mapping):
        problems.append((path or ".", f"must be an object ({type_name}), got {_show(value)}"))
        return
    fields = types[type_name]
    for key, item in value.items():
        where = f"{path}.{key}" if path else key
        info = fields.get(key)
        if info is None:
            problems.append((where, f"is not a field of {type_name}: Go drops it"))
            continue
        _walk_field(item, info, where, types, problems)


def _walk_field(value: Any, info: Mapping[str, Any], path: str, types: dict[str, Any], problems: list) -> None:
    if any(f".{exempt}" in f".{path}" for exempt in EXEMPT):
        return
    container = info.get("list") or info.get("map")
    if value is None:
        if (
            info.get("omitempty")
            or info.get("omitzero")
            or not (info.get("pointer") or container or info["type"] == "any")
        ):
            problems.append((path, "null: Go drops it or writes a zero value (omit the field)"))
        return
    if not info.get("pointer") and info.get("omitempty") and _empty(value, info):
        problems.append((path, f"{_show(value)} is a zero value Go's omitempty drops (omit the field)"))
        return
    if info.get("list"):
        if not isinstance(value, list):
            problems.append((path, f"must be a list, got {_show(value)}"))
            return
        for i, item in enumerate(value):
            _walk_value(item, info["type"], f"{path}[{i}]", types, problems)
    elif info.get("map"):
        if not isinstance(value, Mapping):
            problems.append((path, f"must be a map, got {_show(value)}"))
            return
        for key, item in value.items():
            _walk_value(item, info["type"], f"{path}.{key}", types, problems)
    else:
        _walk_value(value, info["type"], path, types, problems)


def _walk_value(value: Any, type_name: str, path: str, types: dict[str, Any], problems: list) -> None:
    if type_name in types:
        _walk_struct(value, type_name, path, types, problems)
        return
    ok = {
        "bool": isinstance(value, bool),
        "string": isinstance(value, str),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        "quantity": isinstance(value, (str, int, float)) and not isinstance(value, bool),
        "int-or-string": isinstance(value, (str, int)) and not isinstance(value, bool),
        "time": isinstance(value, str),
    }.get(type_name, True)
    if not ok:
        problems.append((path, f"must be {type_name.replace('-', ' ')}, got {_show(value)}"))


def _empty(value: Any, info: Mapping[str, Any]) -> bool:
    if info.get("list") or info.get("map"):
        return isinstance(value, (list, Mapping)) and len(value) == 0
    return value is False or value == "" or (type(value) in (int, float) and value == 0)


def _show(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)[:60]
