"""Saving figures: PNG through matplotlib's Agg backend (no display, no Chrome), interactive HTML
through plotly with one shared plotly.min.js next to the pages, so they open offline."""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import matplotlib

if "matplotlib.pyplot" not in sys.modules:
    # Files only, never a window; a caller that already chose a backend (a notebook) keeps it.
    matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from hpoctl import atomic as _atomic

DPI = 150
PLOTLYJS = "plotly.min.js"


def save_png(fig: Figure, path: Path) -> None:
    """Write `fig` as a PNG, atomically, cropped to what is drawn (Optuna's figures have colour bars
    that tight_layout cannot place; hpoctl's own figures lay themselves out, see new_figure)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    _atomic.write_bytes(path, buffer.getvalue())


@contextlib.contextmanager
def closing_new_figures() -> Iterator[None]:
    """Close every pyplot figure opened inside (Optuna's plots open them), even after an error, and
    none that was open before."""
    before = set(plt.get_fignums())
    try:
        yield
    finally:
        for number in set(plt.get_fignums()) - before:
            plt.close(number)


def save_html(fig: Any, path: Path) -> None:
    """Write a plotly figure as a page that loads ./plotly.min.js (written once per folder)."""
    ensure_plotlyjs(path.parent)
    _atomic.write_text(path, fig.to_html(include_plotlyjs="directory", full_html=True))


def ensure_plotlyjs(folder: Path) -> None:
    target = folder / PLOTLYJS
    bundle = _plotlyjs()
    if not target.exists() or target.stat().st_size != len(bundle):
        _atomic.write_bytes(target, bundle)


@cache
def _plotlyjs() -> bytes:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().encode("utf-8")


def style() -> Any:
    """The look of every hpoctl plot (Optuna's); changes to matplotlib's settings inside are undone."""
    return plt.style.context("ggplot")


def new_figure(width: float, height: float, nrows: int = 1, ncols: int = 1) -> tuple[Figure, list[Any]]:
    """A figure outside pyplot (nothing to close, thread-safe) and its axes as a flat list."""
    fig = Figure(figsize=(width, height), layout="tight")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, list(axes.flat)
