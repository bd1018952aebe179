"""Manifests as text: multi-document YAML (`---`) or JSON (one object, or a `v1 List` of several),
and back.

Katib keeps feasible-space bounds, setting values and assignments as strings. PyYAML writes `1e-05`
unquoted because to PyYAML (YAML 1.1 without a dot) it is no number, but kubectl's YAML reader takes
it for a float, and Katib would then fail to decode the Experiment; such strings are always quoted here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from hpoctl.errors import SpecError
from hpoctl.yamlio import load_yaml_text

# Anything another YAML reader (1.1 or 1.2) could take for a number, boolean or null.
_AMBIGUOUS = re.compile(
    r"^([-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)"
    r"|0[xX][0-9a-fA-F_]+|0[oO]?[0-7_]+|0b[01_]+|[yYnN]|~|[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?)$"
)


class _Dumper(yaml.SafeDumper):
    pass


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if _AMBIGUOUS.match(value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'")
    return dumper.represent_str(value)


_Dumper.add_representer(str, _represent_str)


def manifests_document(manifests: Iterable[Mapping[str, Any]]) -> Any:
    """The manifests as one JSON document `kubectl apply -f` takes: the manifest itself, or a v1 List."""
    docs = [dict(m) for m in manifests]
    return docs[0] if len(docs) == 1 else {"apiVersion": "v1", "kind": "List", "items": docs}


def dump_manifests(manifests: Iterable[Mapping[str, Any]], fmt: str = "yaml") -> str:
    docs = [dict(m) for m in manifests]
    if fmt == "json":
        return json.dumps(manifests_document(docs), indent=2) + "\n"
    return yaml.dump_all(
        docs, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100000
    )


def load_manifests(text: str, source: str) -> list[dict[str, Any]]:
    """Every object in a YAML (multi-document) or JSON text; a `List` is unpacked."""
    docs: list[Any] = []
    try:
        for doc in yaml.safe_load_all(text):
            docs.append(doc)
    except yaml.YAMLError:
        docs = [load_yaml_text(text, source)]  # the same error, reported as hpoctl reports YAML errors
    found: list[dict[str, Any]] = []
    for doc in docs:
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise SpecError(source, [f"a manifest is a mapping, got {type(doc).__name__}"])
        if doc.get("kind") == "List" or (doc.get("kind", "").endswith("List") and "items" in doc):
            found += [item for item in doc.get("items") or [] if isinstance(item, dict)]
        else:
            found.append(doc)
    return found
