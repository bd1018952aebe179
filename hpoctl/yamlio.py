"""Safe YAML in and out: no arbitrary objects, and a duplicate key is an error, not a silent overwrite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from hpoctl.errors import SpecError


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping names the same key twice (e.g. a parameter defined twice)."""


class _UniqueKeySafeLoader(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise DuplicateKeyError(
                    None,
                    None,
                    f"duplicate key {key!r} (line {key_node.start_mark.line + 1})",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml_text(text: str, source: str) -> Any:
    """Parse YAML safely; a syntax error or duplicate key becomes a SpecError naming the source."""
    try:
        return yaml.load(text, Loader=_UniqueKeySafeLoader)
    except DuplicateKeyError as e:
        raise SpecError(source, [e.problem]) from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise SpecError(source, [f"not valid YAML: {problem}{where}"]) from e


def load_yaml_file(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise SpecError(str(path), ["file not found"]) from e
    except OSError as e:
        raise SpecError(str(path), [f"cannot read: {e.strerror}"]) from e
    except UnicodeDecodeError as e:
        raise SpecError(
            str(path), [f"not UTF-8 text ({e.reason} at byte {e.start}): a study spec is a YAML file"]
        ) from e
    return load_yaml_text(text, str(path))


def dump_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None, allow_unicode=True)
