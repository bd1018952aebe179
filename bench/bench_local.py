"""Local backend benchmarks (run by `make bench`, never by the tests).

1. Per-trial overhead: trial wall time (ask to tell, plus the gap to the next ask) minus the trainer
   process's own lifetime, median over 60 one-epoch trials of a torch-free toy trainer, against the
   time Optuna's own `study.optimize` spends per trial with the same sampler and storage kind.
2. Pruning: epochs spent by median-pruned TPE runs against an unpruned one on the EVEREST quick
   data, with the best TSS each reaches and the epochs each needed to come within 0.02 of the unpruned
   run's best (needs the `train` extra). Skip it with --no-pruning.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

import optuna
import yaml

from hpoctl.backends.local import LocalBackend, LocalOptions
from hpoctl.catalog import LoadedStudy, load_study
from hpoctl.plan import build_plans
from hpoctl.spec.loader import validate_spec

ROOT = Path(__file__).resolve().parents[1]
TOY = ROOT / "tests" / "local" / "toy_trainer.py"
N_TRIALS = 60


def toy_study(tmp: Path) -> LoadedStudy:
    raw = {
        "name": "overhead",
        "parameters": {
            "x": {"type": "float", "low": 0.0, "high": 1.0, "default": 0.5},
            "y": {"type": "float", "low": 0.0, "high": 1.0, "default": 0.5},
        },
        "targets": {"t": {}},
        "objectives": [{"metric": "loss", "direction": "minimize"}],
        "algorithm": {"name": "tpe", "settings": {"n_startup_trials": 10, "seed": 0}},
        "protocol": [{"name": "run", "trials": N_TRIALS, "epochs": 1}],
        "trainer": {"command": [sys.executable, str(TOY)]},
        "limits": {"parallelism": 1},
    }
    (tmp / "overhead.yaml").write_text(yaml.safe_dump(raw))
    return LoadedStudy(raw, validate_spec(raw, "overhead.yaml"), "overhead.yaml")


def local_overhead(tmp: Path) -> tuple[float, float]:
    study = toy_study(tmp)
    plan = build_plans(study, "t")[0]
    results = tmp / "results"
    LocalBackend().launch([plan], LocalOptions(results_dir=results, n_jobs=1))
    stored = optuna.load_study(study_name="overhead.t", storage=f"sqlite:///{results}/overhead/t/study.db")
    trials = sorted(stored.trials, key=lambda t: t.number)
    overheads, processes = [], []
    for trial, following in itertools.pairwise(trials):
        wall = (following.datetime_start - trial.datetime_start).total_seconds()
        process = trial.user_attrs["duration_s"]
        overheads.append(wall - process)
        processes.append(process)
    return statistics.median(overheads), statistics.median(processes)


def optuna_overhead(tmp: Path) -> float:
    storage = f"sqlite:///{tmp}/optuna.db"
    study = optuna.create_study(storage=storage, sampler=optuna.samplers.TPESampler(n_startup_trials=10, seed=0))
    started = time.perf_counter()
    study.optimize(
        lambda t: (t.suggest_float("x", 0, 1) - 0.3) ** 2 + (t.suggest_float("y", 0, 1) - 0.5) ** 2, n_trials=N_TRIALS
    )
    return (time.perf_counter() - started) / N_TRIALS


#: Median pruning as the quick preset sets it (warm-up 2 of 6 epochs), and with hpoctl's defaults (warm-up a fifth
#: of the epochs: 1; 5 complete trials first), spelled out: the preset's settings merge into a rule of the same name.
PRUNED = {
    "median warm-up 2": {"name": "median", "settings": {"warmup_steps": 2, "min_trials": 4}},
    "median, hpoctl's defaults": {"name": "median", "settings": {"warmup_steps": 1, "min_trials": 5}},
}
TSS_TOLERANCE = 0.02


def pruning(tmp: Path, trials: int) -> None:
    """Each run: the same number of TPE trials of 6 epochs. Printed: the epochs it spent in all, its best TSS,
    and the epochs it had spent (trials in the order they finished) when its best first came within 0.02 of
    the unpruned run's final best; the aim is about the pruned runs against the unpruned run's total epochs."""
    study = load_study("everest")
    runs = {}
    for label, rule in (("unpruned", {"name": "none"}), *PRUNED.items()):
        overrides = {
            "protocol": [{"name": "run", "trials": trials, "epochs": 6}],
            "early_stopping": rule,
            "limits": {"parallelism": 2},
        }
        plan = build_plans(study, "M_24h", presets=["quick"], overrides=overrides)[0]
        out = tmp / f"pruning-{len(runs)}"
        LocalBackend().launch([plan], LocalOptions(results_dir=out, n_jobs=2))
        stored = optuna.load_study(study_name="everest.M_24h", storage=f"sqlite:///{out}/everest/M_24h/study.db")
        runs[label] = [t for t in stored.trials if t.datetime_complete is not None]
        runs[label].sort(key=lambda t: t.datetime_complete)
    unpruned_total, unpruned_best = _epochs(runs["unpruned"]), _best(runs["unpruned"])
    target = unpruned_best - TSS_TOLERANCE
    print(
        f"pruning (EVEREST M_24h quick data, {trials} TPE trials x 6 epochs, 2 side by side): unpruned "
        f"{unpruned_total} epochs, best TSS {unpruned_best:.4f}, within {TSS_TOLERANCE} of it after "
        f"{_epochs_to(runs['unpruned'], target)} epochs"
    )
    for label in PRUNED:
        total, best, reach = _epochs(runs[label]), _best(runs[label]), _epochs_to(runs[label], target)
        reach_text = f"{reach} epochs ({reach / unpruned_total:.2f} of unpruned's)" if reach else "never"
        print(
            f"  {label}: {total} epochs ({total / unpruned_total:.2f} of unpruned's), best TSS {best:.4f} (gap "
            f"{unpruned_best - best:+.4f}); within {TSS_TOLERANCE} of unpruned's best after {reach_text}; aim <= 0.40 "
            f"of the epochs for a best TSS within {TSS_TOLERANCE}"
        )


def _epochs(trials) -> int:
    return sum(len(t.intermediate_values) for t in trials)


def _best(trials) -> float:
    return max(t.value for t in trials if t.state == optuna.trial.TrialState.COMPLETE)


def _epochs_to(trials, target: float) -> int | None:
    spent = 0
    for trial in trials:
        spent += len(trial.intermediate_values)
        if trial.state == optuna.trial.TrialState.COMPLETE and trial.value >= target:
            return spent
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-pruning", action="store_true")
    parser.add_argument("--pruning-trials", type=int, default=24)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        ours, process = local_overhead(tmp)
        theirs = optuna_overhead(tmp)
        print(
            f"per-trial overhead: local backend {ours * 1000:.1f} ms (median over {N_TRIALS - 1} trials; trainer "
            f"process {process * 1000:.0f} ms), Optuna study.optimize {theirs * 1000:.1f} ms per trial; "
            f"difference {(ours - theirs) * 1000:+.1f} ms (aim <= +50 ms)"
        )
        if not args.no_pruning:
            pruning(tmp, args.pruning_trials)


if __name__ == "__main__":
    main()
