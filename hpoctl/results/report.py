"""report.md: what ran, what came out (best or Pareto picks, top trials, failures), the plots, and
how to open the study in optuna-dashboard."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from optuna.trial import FrozenTrial

from hpoctl import trial_record as rec
from hpoctl.plan import Plan
from hpoctl.results.plots import PlotSet
from hpoctl.results.repeats import spread_text
from hpoctl.results.trials import STATES, stage_of

TOP_IN_REPORT = 5


def build_report(
    plan: Plan,
    best: dict[str, Any],
    pareto: dict[str, Any] | None,
    top: Sequence[dict[str, Any]],
    failures: Sequence[FrozenTrial],
    plots: PlotSet,
    dashboard: str | None,
    files: Sequence[str],
) -> str:
    """The whole report as Markdown; links are relative to the results folder."""
    lines = [f"# {plan.study} / {plan.target}", ""]
    lines += _what_ran(plan, best)
    lines += _outcome(plan, best, pareto)
    lines += _top(plan, top)
    lines += _failures(failures)
    lines += _plots(plots)
    lines += ["## Open the study", ""]
    if dashboard:
        lines += [f"The Optuna study `{best['optuna_study']}` holds every trial of every stage:", ""]
        lines += ["```", dashboard, "```", ""]
    else:
        lines += [f"The Optuna study `{best['optuna_study']}` was kept in memory: there is no storage to open.", ""]
    lines += ["Files: " + ", ".join(f"[{name}]({name})" for name in files), ""]
    return "\n".join(lines)


def _what_ran(plan: Plan, best: dict[str, Any]) -> list[str]:
    args = " ".join(f"--{k}={v}" for k, v in plan.target_args.items())
    lines = [
        "## What ran",
        "",
        f"- Study `{plan.study}` ({plan.source or 'spec'}), target `{plan.target}`" + (f" (`{args}`)" if args else ""),
        "- Objectives: " + "; ".join(o.label() for o in plan.objectives),
        f"- Algorithm: {plan.algorithm.name} {_settings(plan.algorithm.settings)}".rstrip(),
        f"- Early stopping: {plan.early_stopping.name} {_settings(plan.early_stopping.settings)}".rstrip(),
        f"- Seed: {plan.seed}",
    ]
    if plan.presets:
        lines.append("- Presets: " + ", ".join(plan.presets))
    if plan.overrides:
        lines.append(f"- Overrides: `{json.dumps(plan.overrides, default=str)}`")
    lines += ["", "| stage | mode | planned trials x epochs | " + " | ".join(STATES) + " |"]
    lines.append("|" + "---|" * (3 + len(STATES)))
    planned = {s.name: s for s in plan.stages}
    for stage, counts in best["counts_by_stage"].items():
        s = planned.get(stage)
        confirms = f" (top {s.top_k}, {s.repeats} seeds each)" if s and s.top_k else ""
        shape = f"{s.trials} x {s.epochs}{confirms}" if s else "-"
        mode = s.mode if s else "-"
        lines.append(f"| {stage} | {mode} | {shape} | " + " | ".join(str(counts[k]) for k in STATES) + " |")
    total = best["counts"]
    lines.append(f"| **all** | | {plan.total_trials} planned | " + " | ".join(str(total[k]) for k in STATES) + " |")
    return [*lines, ""]


def _outcome(plan: Plan, best: dict[str, Any], pareto: dict[str, Any] | None) -> list[str]:
    if best["best_trial"] is None:
        return ["## Best", "", "No trial has completed yet.", ""]
    trial = best["best_trial"]
    lines = ["## Best" if not plan.multi_objective else "## Pareto front", ""]
    if not plan.multi_objective:
        objective = plan.objectives[0]
        lines.append(
            f"Trial #{trial['number']} of stage `{best['stage']}` ({best['selection']}): "
            f"**{objective.metric} = {_fmt(best['best_value'])}**{spread_text(trial, objective.metric)}"
            + (f", re-running trial #{trial['source_trial']}" if "source_trial" in trial else "")
        )
        lines += ["", *_params_table(trial["params"])]
    else:
        assert pareto is not None
        lines.append(
            f"{pareto['size']} non-dominated trials in stage `{pareto['stage']}` ([pareto.json](pareto.json)). "
            "Balanced: closest to the ideal point after min-max normalising each objective over the front."
        )
        lines += ["", "| pick | trial | " + " | ".join(o.metric for o in plan.objectives) + " | params |"]
        lines.append("|" + "---|" * (3 + len(plan.objectives)))
        picks = [("balanced", pareto["balanced"])]
        picks += [(f"best {metric}", t) for metric, t in pareto["best_per_objective"].items()]
        for name, t in picks:
            lines.append(
                f"| {name} | #{t['number']} | "
                + " | ".join(_objective_cell(o, t) for o in plan.objectives)
                + f" | {_cell(t['params'])} |"
            )
    if len(best["best_per_stage"]) > 1:
        lines += [
            "",
            "Best per stage:",
            "",
            "| stage | trial | " + " | ".join(o.metric for o in plan.objectives) + " |",
        ]
        lines.append("|" + "---|" * (2 + len(plan.objectives)))
        for stage, t in best["best_per_stage"].items():
            lines.append(
                f"| {stage} | #{t['number']} | " + " | ".join(_objective_cell(o, t) for o in plan.objectives) + " |"
            )
    return [*lines, ""]


def _top(plan: Plan, top: Sequence[dict[str, Any]]) -> list[str]:
    if not top:
        return []
    lines = [f"## Top {min(TOP_IN_REPORT, len(top))} trials", "", "([top_trials.csv](top_trials.csv) has up to 20)", ""]
    lines.append("| rank | trial | stage | " + " | ".join(o.metric for o in plan.objectives) + " | params |")
    lines.append("|" + "---|" * (4 + len(plan.objectives)))
    for rank, t in enumerate(top[:TOP_IN_REPORT], start=1):
        lines.append(
            f"| {rank} | #{t['number']} | {t['stage']} | "
            + " | ".join(_objective_cell(o, t) for o in plan.objectives)
            + f" | {_cell(t['params'])} |"
        )
    return [*lines, ""]


def _failures(failures: Sequence[FrozenTrial]) -> list[str]:
    lines = ["## Failures", ""]
    if not failures:
        return [*lines, "None.", ""]
    for t in failures:
        reason = t.user_attrs.get(rec.FAILURE) or "no reason recorded"
        code = t.user_attrs.get(rec.EXIT_CODE)
        lines.append(
            f"- Trial #{t.number} ({stage_of(t)}): {reason}" + (f" (exit code {code})" if code is not None else "")
        )
    return [*lines, ""]


def _plots(plots: PlotSet) -> list[str]:
    lines = ["## Plots", ""]
    for plot in plots.plots:
        lines += [
            f"### {plot.title}",
            "",
            f"![{plot.title}]({plot.png})",
            "",
            f"[Interactive version]({plot.html})",
            "",
        ]
    if plots.importances:
        lines += ["Parameter importances (PED-ANOVA, share of the total):", ""]
        for label, imp in plots.importances.items():
            ranked = ", ".join(f"{p} {v:.2f}" for p, v in sorted(imp.items(), key=lambda kv: -kv[1]))
            lines.append(f"- {label}: {ranked}")
        lines.append("")
    if plots.notes:
        lines += [f"- {note}" for note in plots.notes]
        lines.append("")
    return lines


def _objective_cell(objective: Any, trial: dict[str, Any]) -> str:
    """The stored value; for a target objective also the raw metric (|picp - 0.8| = 0.01, picp 0.79)."""
    stored = trial["values"].get(objective.metric)
    raw = trial["metrics"].get(objective.metric)
    spread = spread_text(trial, objective.metric)
    if objective.target is not None and raw is not None:
        return f"{_fmt(raw)} (off by {_fmt(stored)}){spread}"
    return f"{_fmt(stored)}{spread}"


def _params_table(params: dict[str, Any]) -> list[str]:
    return ["| parameter | value |", "|---|---|", *(f"| {k} | {_cell(v)} |" for k, v in params.items())]


def _settings(settings: dict[str, Any]) -> str:
    return f"`{json.dumps(settings, default=str)}`" if settings else ""


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def _cell(value: Any) -> str:
    text = ", ".join(f"{k}={_fmt(v)}" for k, v in value.items()) if isinstance(value, dict) else _fmt(value)
    return text.replace("|", "\\|")
