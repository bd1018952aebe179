"""Turning YAML into a validated StudySpec: presets and `--set` overrides merged in, and every
validation problem reported at once as `file: field.path: message (got value)`."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hpoctl.errors import SpecError, UnknownNameError, UsageError
from hpoctl.spec.parameters import PARAMETER_TYPES
from hpoctl.spec.study import StudySpec
from hpoctl.yamlio import load_yaml_file, load_yaml_text


class SetPath(dict):
    """A mapping built from `--set` key paths: over a list it addresses items by index or by `name`
    (`protocol.0.trials`, `protocol.explore.trials`), where a preset's mapping would replace the list."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; anything else (lists included) is replaced, except that `--set` paths reach
    into a list's items.

    A mapping that names a different `name` (another algorithm or early-stopping rule) replaces the
    old one whole, since the old one's settings mean nothing to the new one.
    """
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        old = merged.get(key)
        renamed = (
            isinstance(old, Mapping)
            and isinstance(value, Mapping)
            and value.get("name", old.get("name")) != old.get("name")
        )
        if isinstance(value, SetPath) and isinstance(old, list):
            merged[key] = _merge_items(old, value)
        elif isinstance(value, Mapping) and isinstance(old, Mapping) and not renamed:
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = _plain(value)
    return merged


def _plain(value: Any) -> Any:
    """A deep copy with `--set` paths turned into plain dicts (YAML's safe dumper writes only those)."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return copy.deepcopy(value)


def _merge_items(items: list[Any], override: SetPath) -> list[Any]:
    merged = copy.deepcopy(items)
    names = [item.get("name") if isinstance(item, Mapping) else None for item in items]
    for key, value in override.items():
        if key.isdigit() and int(key) < len(items):
            index = int(key)
        elif key in names:
            index = names.index(key)
        else:
            by_name = [str(n) for n in names if n is not None]
            named = f", or by name: {', '.join(by_name)}" if by_name else ""
            raise UsageError(
                f"--set {override.path}.{key}: {override.path} has {len(items)} items (0-{len(items) - 1}{named})"
                if items
                else f"--set {override.path}.{key}: {override.path} is an empty list"
            )
        old = merged[index]
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            merged[index] = deep_merge(old, value)
        else:
            merged[index] = _plain(value)
    return merged


def parse_set_overrides(items: Iterable[str]) -> dict[str, Any]:
    """`--set algorithm.name=random --set limits.parallelism=2` as a nested mapping (values are YAML); a list's
    items are named by index or by their `name` (`--set protocol.explore.trials=40`)."""
    result: dict[str, Any] = {}
    for item in items:
        path, sep, raw = item.partition("=")
        if not sep or not path or any(not part for part in path.split(".")):
            raise UsageError(f"--set expects KEY.PATH=VALUE, got {item!r}")
        try:
            value = load_yaml_text(raw, f"--set {path}") if raw else ""
        except SpecError as e:
            raise UsageError(f"--set {path}: {e.problems[0]}") from e
        node = result
        *parents, leaf = path.split(".")
        for depth, part in enumerate(parents, 1):
            node = node.setdefault(part, SetPath(".".join(parents[:depth])))
            if not isinstance(node, dict):
                raise UsageError(f"--set {item!r} conflicts with an earlier --set of {part!r}")
        node[leaf] = value
    return result


def validate_spec(raw: Any, source: str) -> StudySpec:
    """Validate a spec mapping (presets included: each must give a valid spec when applied)."""
    if not isinstance(raw, Mapping):
        raise SpecError(source, [f"a study spec is a mapping of fields, got {type(raw).__name__}"])
    try:
        spec = StudySpec.model_validate(raw)
    except ValidationError as e:
        raise SpecError(source, format_validation_errors(e)) from e
    problems: list[str] = []
    for preset in spec.presets:
        try:
            apply_presets(raw, [preset], source)
        except SpecError as e:
            problems += [f"presets.{preset}: {p}" for p in e.problems]
    if problems:
        raise SpecError(source, problems)
    return spec


def apply_presets(
    raw: Mapping[str, Any], presets: Iterable[str], source: str, overrides: Mapping[str, Any] | None = None
) -> StudySpec:
    """The spec with the named presets (in order) and then the overrides merged over it."""
    available = raw.get("presets") or {}
    merged = {k: v for k, v in raw.items() if k != "presets"}
    for name in presets:
        if name not in available:
            raise UnknownNameError("preset", name, sorted(available), where=source)
        if not isinstance(available[name], Mapping):
            raise SpecError(source, [f"presets.{name}: a preset is a mapping of spec fields"])
        merged = deep_merge(merged, available[name])
    if overrides and "presets" in overrides:
        raise SpecError(source, ["presets: --set cannot change the presets; name one with --preset, or edit the spec"])
    if overrides:
        merged = deep_merge(merged, overrides)
    merged["presets"] = available
    try:
        return StudySpec.model_validate(merged)
    except ValidationError as e:
        raise SpecError(source, format_validation_errors(e)) from e


def load_spec_file(path: Path) -> tuple[dict[str, Any], StudySpec]:
    raw = load_yaml_file(path)
    return raw, validate_spec(raw, str(path))


def load_spec_text(text: str, source: str) -> tuple[dict[str, Any], StudySpec]:
    raw = load_yaml_text(text, source)
    return raw, validate_spec(raw, source)


def format_validation_errors(error: ValidationError) -> list[str]:
    lines: list[str] = []
    for item in error.errors(include_url=False):
        path = _format_loc(item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        elif item["type"] == "missing":
            message = "required field is missing"
        elif item["type"] == "union_tag_invalid":
            message = f"type must be one of {', '.join(PARAMETER_TYPES)}"
        got = ""
        if item["type"] not in ("missing", "value_error", "assertion_error") and not isinstance(
            item.get("input"), (dict, list)
        ):
            got = f" (got {item.get('input')!r})"
        if item["type"] in ("int_type", "float_type") and item["loc"][-1:] in (("int",), ("float",)):
            message = "Input should be a number"  # one line for a number field (int or float), not one per member
        for line in message.split("\n"):
            text = f"{path}: {line}{got}" if path and not line.startswith(f"{path}:") else f"{line}{got}"
            if text not in lines:
                lines.append(text)
    return lines


def _format_loc(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for i, part in enumerate(loc):
        # Pydantic puts the union tag ("int", "float", ...) or a validator name in the path; readers want
        # the field path only.
        if isinstance(part, str) and ((part in PARAMETER_TYPES and i > 0) or "[" in part):
            continue
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(("." if parts else "") + str(part))
    return "".join(parts)
