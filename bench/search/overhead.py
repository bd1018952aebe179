"""Milliseconds the sampler costs a trial (ask, suggest, tell) once a study holds 100, 1,000 and 2,000 trials
(HPOBench/car; one objective, or two: accuracy and training time),
in each storage hpoctl uses: in memory (hpoctl-optuna's per-call view), the journal file (SLURM workers,
`hpoctl.results.layout.open_journal`) and SQLite (the local backend, `hpoctl.results.layout.open_sqlite`)."""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

import optuna
from harness import plan_for
from optuna.distributions import IntDistribution
from optuna.trial import TrialState, create_trial
from problems import load_table, two_objective_table

from hpoctl.search.samplers import build_sampler
from hpoctl.search.space import suggest

CHECKPOINTS = (100, 1000, 2000)
STORAGES = ("memory", "journal", "sqlite")


def _storage(kind: str, folder: Path):
    if kind == "memory":
        return None
    from hpoctl.results import layout

    if kind == "journal":
        return layout.open_journal(folder / layout.JOURNAL_FILE)
    return layout.open_sqlite(folder)


def ms_per_trial(
    kind: str,
    algorithm: dict,
    *,
    window: int = 30,
    checkpoints=CHECKPOINTS,
    dedupe: bool = True,
    objectives: int = 1,
) -> dict[int, float]:
    """For each checkpoint N: the study is filled to N trials with random configurations (add_trials, not
    timed), then `window` trials are asked, suggested and told; their mean wall time in milliseconds. The plan
    searches the last checkpoint's trials (what `auto` chooses by)."""
    table = two_objective_table("hpobench", "car") if objectives == 2 else load_table("hpobench", "car")
    metrics = [{"metric": m, "direction": d} for m, d in zip(table.metrics, table.directions, strict=True)]
    plan = plan_for("overhead", table.parameters, metrics, algorithm, trials=checkpoints[-1])
    rng = random.Random(0)
    out = {}
    with tempfile.TemporaryDirectory() as folder:
        study = optuna.create_study(
            storage=_storage(kind, Path(folder)),
            directions=plan.directions,
            sampler=build_sampler(plan.algorithm, plan.parameters, seed=0, dedupe=dedupe),
        )
        distributions = {name: IntDistribution(p["low"], p["high"]) for name, p in table.parameters.items()}
        for n in checkpoints:
            have = len(study.get_trials(deepcopy=False))
            filler = []
            for _ in range(max(0, n - have)):
                params = {name: rng.randint(d.low, d.high) for name, d in distributions.items()}
                filler.append(
                    create_trial(
                        state=TrialState.COMPLETE,
                        values=list(table.values(params)),
                        params=params,
                        distributions=distributions,
                    )
                )
            study.add_trials(filler)
            started = time.perf_counter()
            for _ in range(window):
                trial = study.ask()
                params = suggest(trial, plan.parameters)
                study.tell(trial, list(table.values(params)))
            out[n] = (time.perf_counter() - started) / window * 1000
    return out
