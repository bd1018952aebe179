"""One place that prints data: `-o table|json|yaml` to stdout; talk goes to stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from enum import Enum
from typing import Any

from rich.console import Console
from rich.table import Table

from hpoctl.yamlio import dump_yaml

stderr = Console(stderr=True, highlight=False, soft_wrap=True)


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    yaml = "yaml"


def emit(
    data: Any,
    fmt: OutputFormat,
    *,
    rows: Sequence[dict[str, Any]] | None = None,
    columns: Sequence[str] | None = None,
    title: str | None = None,
) -> None:
    """Print `data` as JSON or YAML, or `rows` (default: data) as a table with `columns`."""
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    elif fmt is OutputFormat.yaml:
        sys.stdout.write(dump_yaml(data))
    else:
        print_table(rows if rows is not None else data, columns, title=title)


def print_table(
    rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None, *, title: str | None = None
) -> None:
    columns = list(columns or (rows[0].keys() if rows else []))
    table = Table(title=title, show_edge=False, header_style="bold", title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(format_cell(row.get(c)) for c in columns))
    Console(soft_wrap=False, width=max(100, Console().width)).print(table)


def format_cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def note(message: str) -> None:
    """A message for the person at the terminal (stderr)."""
    stderr.print(message, markup=False)
