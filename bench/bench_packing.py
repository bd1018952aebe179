"""Local packing benchmark (run by `make bench`, never by the tests): a study of small CPU trials, the built-in
`mlp` study's quick sizes with `limits.parallelism` left at its default, launched on the local backend twice in
the same run:

* default packing: `hpoctl.backends.local.packing` (as many trials side by side as cores, at most the default
  parallelism, one thread each);
* one trial at a time using every core (`--n-jobs 1 --threads <cores>`, what hpoctl did for such a spec before).

Each runs `--repeats` times, interleaved (A B B A ...) so that a machine busy with something else slows both alike;
the figure is the ratio of the median wall times.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import platform
import statistics
import tempfile
import time
from pathlib import Path

from hpoctl.backends.local import LocalBackend, LocalOptions, available_cores, packing
from hpoctl.catalog import LoadedStudy, load_study
from hpoctl.plan import build_plans
from hpoctl.spec.loader import validate_spec
from hpoctl.spec.study import DEFAULT_PARALLELISM


def small_cpu_study(trials: int, epochs: int) -> LoadedStudy:
    raw = copy.deepcopy(load_study("mlp").raw)
    raw["limits"].pop("parallelism", None)
    raw["protocol"] = [{"name": "search", "trials": trials, "epochs": epochs}]
    return LoadedStudy(raw, validate_spec(raw, "mlp (bench_packing)"), "mlp (bench_packing)")


def launch(study: LoadedStudy, results: Path, cache: Path, n_jobs: int | None, threads: int | None) -> float:
    plan = build_plans(study, "default")[0]
    started = time.perf_counter()
    LocalBackend().launch(
        [plan], LocalOptions(results_dir=results, n_jobs=n_jobs, cache_dir=cache, threads=threads or None)
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    cores = available_cores()
    study = small_cpu_study(args.trials, args.epochs)
    default = packing(cores=cores, gpus=0, trial_gpus=0, parallelism=DEFAULT_PARALLELISM)
    variants = {"default packing": (None, None), "one trial at a time": (1, cores)}
    times: dict[str, list[float]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        cache = tmp / "cache"
        launch(small_cpu_study(1, 1), tmp / "warm-up", cache, 1, cores)  # data prepared and cached, untimed
        order: list[str] = []
        for i in range(args.repeats):
            order += list(variants)[:: 1 if i % 2 == 0 else -1]
        for i, name in enumerate(order):
            n_jobs, threads = variants[name]
            times[name].append(launch(study, tmp / f"run-{i}", cache, n_jobs, threads))
    packed, single = statistics.median(times["default packing"]), statistics.median(times["one trial at a time"])
    print(
        f"packing ({dt.date.today().isoformat()}, {platform.node()}, {cores} cores): mlp {args.trials} trials x "
        f"{args.epochs} epochs; default packing ({default.describe()}) {packed:.1f} s, one trial at a time with "
        f"{cores} threads {single:.1f} s (medians of {args.repeats}); speed-up {single / packed:.2f}x (aim >= 1.30x)"
    )


if __name__ == "__main__":
    main()
