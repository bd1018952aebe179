"""values.yaml and values.schema.json: documented, closed, in step with each other, and rejecting bad values.

Each file in tests/helm/invalid/ starts with `# expect: TEXT`; helm must refuse to render it and name TEXT
(the field's path or name) in its error.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from .conftest import CHART, NAMESPACE, values_of

jsonschema = pytest.importorskip("jsonschema")

SCHEMA = json.loads((CHART / "values.schema.json").read_text())
VALUES_TEXT = (CHART / "values.yaml").read_text()
VALUES = yaml.safe_load(VALUES_TEXT)
INVALID = sorted((Path(__file__).parent / "invalid").glob("*.yaml"))
KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z][A-Za-z0-9]*):")


def test_schema_is_draft_07():
    assert SCHEMA["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(SCHEMA)


def _objects(node, path="#"):
    if isinstance(node, dict):
        if node.get("type") == "object" or "properties" in node or "additionalProperties" in node:
            yield path, node
        for key, child in node.items():
            yield from _objects(child, f"{path}/{key}")
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from _objects(child, f"{path}/{i}")


def test_every_object_is_closed():
    """Objects with named fields forbid others; free-form maps (labels, nodePools) type their values."""
    for path, node in _objects(SCHEMA):
        if path.endswith(("/properties", "/definitions", "/if", "/then")):
            continue  # name-to-schema tables and conditions, not objects of the values
        extra = node.get("additionalProperties")
        if "properties" in node:
            assert extra is False, f"{path}: additionalProperties must be false"
        else:
            assert isinstance(extra, dict) and extra, f"{path}: a map must type its values (additionalProperties)"
            assert "propertyNames" in node, f"{path}: a map must constrain its keys (propertyNames)"


def test_default_values_are_valid():
    jsonschema.Draft7Validator(SCHEMA).validate(VALUES)


def _schema_keys(node: dict, prefix: str = "") -> set[str]:
    node = _resolve(node)
    keys = set()
    for key, child in (node.get("properties") or {}).items():
        keys.add(prefix + key)
        keys |= _schema_keys(child, f"{prefix}{key}.")
    return keys


def _resolve(node: dict) -> dict:
    while "$ref" in node:
        node = SCHEMA["definitions"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _value_keys(node, prefix: str = "") -> set[str]:
    keys = set()
    if isinstance(node, dict):
        for key, child in node.items():
            keys.add(prefix + key)
            keys |= _value_keys(child, f"{prefix}{key}.")
    return keys


def test_values_and_schema_name_the_same_keys():
    in_values = _value_keys(VALUES)
    in_schema = _schema_keys(SCHEMA)
    assert in_values - in_schema == set(), "values.yaml keys missing from the schema"
    assert in_schema - in_values == set(), "schema properties without a default in values.yaml"


def test_every_value_has_a_comment_starting_with_its_name():
    lines = VALUES_TEXT.splitlines()
    missing = []
    for i, line in enumerate(lines):
        m = KEY_LINE.match(line)
        if not m:
            continue
        start = i  # the comment block right above the key; its first line names the key
        while start > 0 and lines[start - 1].strip().startswith("#"):
            start -= 1
        if start == i or not lines[start].strip().startswith(f"# {m['key']} -- "):
            missing.append(f"line {i + 1}: {m['key']}")
    assert not missing, "keys without a '# <key> -- ...' comment: " + ", ".join(missing)


def test_there_are_enough_invalid_cases():
    assert len(INVALID) >= 10


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_values_are_rejected_naming_the_field(helm, path):
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} must start with '# expect: <text>'"
    expected = first.removeprefix("# expect: ")
    for command in ("template", "lint"):
        args = [command, "hpoctl", str(CHART)] if command == "template" else [command, "--strict", str(CHART)]
        result = helm.run(*args, "--namespace", NAMESPACE, "--values", str(path))
        output = result.stdout + result.stderr
        assert result.returncode != 0, f"helm {command} accepted {path.name}"
        assert expected in output, f"helm {command} rejected {path.name} without naming {expected!r}:\n{output}"


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_values_fail_the_schema_alone(path):
    """The same files fail plain JSON-schema validation (so the schema, not a template, rejects them)."""
    values = values_of((path,))
    assert list(jsonschema.Draft7Validator(SCHEMA).iter_errors(values)), f"{path.name} passes the schema"
