"""A confirmation (top-k) stage trains each configuration again with several fresh seeds, and is ranked on the
mean over them: here the repeats of one configuration become one record, its values the means, with their
spread, count and trials in its user attributes. Every reader that ranks (best_params.json, pareto.json, top
trials, report.md, `results show`) ranks these records."""

from __future__ import annotations

import copy
import statistics
from collections.abc import Iterable

from optuna.trial import FrozenTrial

from hpoctl import trial_record as rec
from hpoctl.results.trials import complete, stage_of


def aggregate(trials: Iterable[FrozenTrial]) -> list[FrozenTrial]:
    """Trials with the repeats of each configuration of a stage merged into one (a trial without repeats as is);
    the merged record is a copy of the configuration's first complete repeat."""
    merged: list[FrozenTrial] = []
    groups: dict[tuple[str | None, int | None], list[FrozenTrial]] = {}
    for trial in trials:
        if trial.user_attrs.get(rec.REPEAT) is None:
            merged.append(trial)
            continue
        key = (stage_of(trial), trial.user_attrs.get(rec.SOURCE_TRIAL))
        if key not in groups:
            groups[key] = []
            merged.append(trial)  # holds the group's place in trial order; replaced below
        groups[key].append(trial)
    for index, trial in enumerate(merged):
        if trial.user_attrs.get(rec.REPEAT) is not None:
            merged[index] = _merge(groups[(stage_of(trial), trial.user_attrs.get(rec.SOURCE_TRIAL))])
    return merged


def _merge(repeats: list[FrozenTrial]) -> FrozenTrial:
    done = complete(repeats)
    if not done:
        return min(repeats, key=lambda t: t.number)
    record = copy.deepcopy(min(done, key=lambda t: t.number))
    columns = list(zip(*(t.values for t in done), strict=True))
    record.values = [statistics.fmean(column) for column in columns]
    metrics = [t.user_attrs.get(rec.METRICS) or {} for t in done]
    numeric = [k for k, v in metrics[0].items() if all(_is_number(m.get(k)) for m in metrics)]
    record.user_attrs = {
        **record.user_attrs,
        rec.METRICS: {**metrics[0], **{k: statistics.fmean(m[k] for m in metrics) for k in numeric}},
        rec.REPEATS: {
            "complete": len(done),
            "run": len(repeats),
            "std": [statistics.stdev(column) if len(column) > 1 else 0.0 for column in columns],
            "values": [list(t.values) for t in done],
            "seeds": [t.user_attrs.get(rec.SEED) for t in done],
            "trials": [t.number for t in done],
        },
    }
    return record


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def spread_text(summary: dict, metric: str) -> str:
    """` ± 0.012 (3 seeds)` for a merged record's objective in a trial summary, else nothing."""
    repeats = summary.get("repeats")
    values = list(summary.get("values") or {})
    if not repeats or metric not in values:
        return ""
    return f" ± {repeats['std'][values.index(metric)]:.2g} ({repeats['complete']} seeds)"


__all__ = ["aggregate", "spread_text"]
