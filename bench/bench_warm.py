"""Warm trial processes against fresh interpreters (run by `make bench`, never by the tests): the demo's
`hpoctl launch everest --target M_24h --preset quick` on the local backend, twice in the same run, once with each
trial forked from its slot's warm process (the default, `trainer.warm: true`) and once with a fresh interpreter
per trial (`--set trainer.warm=false`).

Start-up is what a trial spends outside the trainer's own work: its wall time (hpoctl's `duration_s`) less the data
preparation and training the trainer reports in metrics.json (`data_prep_seconds`, `train_seconds`). Aims (issue
18): start-up at most 10 % of trainer time with warm processes, and the launch's wall time at most 0.75x.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import tempfile
import time
from pathlib import Path

from hpoctl.backends.local import LocalBackend, LocalOptions, available_cores
from hpoctl.catalog import load_study
from hpoctl.plan import build_plans
from hpoctl.results import layout


def launch(results: Path, cache: Path, warm: bool) -> float:
    (plan,) = build_plans(load_study("everest"), "M_24h", presets=["quick"], overrides={"trainer": {"warm": warm}})
    started = time.perf_counter()
    LocalBackend().launch([plan], LocalOptions(results_dir=results, cache_dir=cache))
    return time.perf_counter() - started


def start_up_share(results: Path) -> tuple[float, int]:
    """Start-up seconds over trial seconds, summed over every trial that reported its timings; and their count."""
    folder = layout.target_dir(results, "everest", "M_24h")
    trials = layout.load_folder_study(folder).trials
    total = start_up = 0.0
    count = 0
    for metrics in folder.glob(f"{layout.TRIALS_DIR}/*/output/metrics.json"):
        trial = metrics.parent.parent
        summary = json.loads(metrics.read_text())
        duration = trials[int(trial.name)].user_attrs.get("duration_s")
        if duration is None or summary.get("train_seconds") is None:
            continue
        work = (summary.get("data_prep_seconds") or 0.0) + summary["train_seconds"]
        total += duration
        start_up += max(0.0, duration - work)
        count += 1
    return (start_up / total if total else float("nan")), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        cache = tmp / "cache"
        figures = {}
        for name, warm in (("fresh", False), ("warm", True)):  # fresh first: it also fills the data cache
            wall = launch(tmp / name, cache, warm)
            share, trials = start_up_share(tmp / name)
            figures[name] = (wall, share, trials)
    fresh, warm = figures["fresh"], figures["warm"]
    print(
        f"warm trial processes ({dt.date.today().isoformat()}, {platform.node()}, {available_cores()} cores): "
        f"everest M_24h --preset quick; fresh interpreters {fresh[0]:.1f} s wall, start-up {fresh[1]:.0%} of "
        f"trainer time ({fresh[2]} trials); warm {warm[0]:.1f} s, start-up {warm[1]:.0%} ({warm[2]} trials); "
        f"wall {warm[0] / fresh[0]:.2f}x of fresh (aim <= 0.75x), start-up share aim <= 10%"
    )


if __name__ == "__main__":
    main()
