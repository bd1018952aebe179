"""`algorithm: gp` (Optuna's GPSampler) against `auto` and random search on the synthetic one-objective problems
of the tables part (Branin, Hartmann-6, mixed Hartmann-6), through hpoctl's own plan and sampler (harness.py):
the regret after 25, 50 and 100 trials (mean over seeds, best-so-far) and the sampler's milliseconds per trial.

    python bench/search/gp.py --seeds 5 --trials 100

GP fits a model over every trial at every step, so its cost grows with the trials; it is not in `make
bench-search` (a 200-trial row over the 18 problems would add tens of minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import statistics

from harness import ALGORITHMS, plan_for, run_table
from measures import regret_curve
from problems import SYNTHETIC_SINGLE, load_problem

ROWS = ("gp", "auto", "random")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--problems", default=",".join(SYNTHETIC_SINGLE))
    args = parser.parse_args()
    marks = [m for m in (25, 50, 100, 200) if m <= args.trials]
    print(f"# regret after {', '.join(map(str, marks))} trials (mean of {args.seeds} seeds), ms per trial")
    for name in args.problems.split(","):
        problem = load_problem("tables", name)
        objective = [{"metric": problem.metrics[0], "direction": problem.directions[0]}]
        for label in ROWS:
            plan = plan_for("bench", problem.parameters, objective, ALGORITHMS[label], trials=args.trials)
            runs = [run_table(plan, problem, seed) for seed in range(args.seeds)]
            curves = [regret_curve(problem, run.values) for run in runs]
            regrets = " ".join(f"{statistics.fmean(c[m - 1] for c in curves):9.4f}" for m in marks)
            ms = 1000 * statistics.fmean(run.seconds for run in runs) / args.trials
            print(f"{name:22s} {label:7s} {regrets}   {ms:7.1f} ms", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
