"""The built-in studies, shipped as YAML package data, and lookup of a study by name or file."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from hpoctl.errors import UnknownNameError
from hpoctl.spec.loader import load_spec_file, load_spec_text
from hpoctl.spec.study import StudySpec

__all__ = ["LoadedStudy", "builtin_names", "load_study"]


@dataclass(frozen=True)
class LoadedStudy:
    raw: dict[str, Any]
    spec: StudySpec
    source: str


def builtin_names() -> list[str]:
    return sorted(
        entry.name.removesuffix(".yaml")
        for entry in resources.files(__name__).iterdir()
        if entry.name.endswith(".yaml")
    )


def load_study(name_or_path: str) -> LoadedStudy:
    """A built-in study by name, or a user's YAML file by path (anything with a suffix or a slash)."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or "/" in name_or_path or path.exists():
        raw, spec = load_spec_file(path)
        return LoadedStudy(raw, spec, str(path))
    if name_or_path not in builtin_names():
        raise UnknownNameError("study", name_or_path, [*builtin_names(), "or a path to a YAML file"])
    source = f"{name_or_path}.yaml"
    text = resources.files(__name__).joinpath(source).read_text(encoding="utf-8")
    raw, spec = load_spec_text(text, f"catalog/{source}")
    return LoadedStudy(raw, spec, f"catalog/{source}")
