"""Per-epoch reporting: one metric line on stdout, metrics.json, and Katib's DB manager with ``--report push``."""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

from hpoctl.trainers.common.errors import DivergedError
from hpoctl.trainers.common.exit_codes import TrialStatus
from hpoctl.trainers.common.metrics_io import format_metric_line, write_json
from hpoctl.trainers.common.model_store import ModelSaver
from hpoctl.trainers.common.spec import TrainerSpec
from hpoctl.trainers.common.tracking import Tracker

MetricsPush = Callable[[Mapping[str, float]], None]


def katib_push(report: str) -> MetricsPush | None:
    """The push function for ``--report push`` inside a Katib trial; None (after one stderr note) outside one."""
    if report != "push":
        return None
    if not os.environ.get("KATIB_TRIAL_NAME"):
        print(
            "note: --report push needs KATIB_TRIAL_NAME (set in Katib trials); reporting on stdout only",
            file=sys.stderr,
        )
        return None
    from kubeflow.katib import report_metrics  # the SDK is only needed inside a Katib trial

    failed = False

    def push(metrics: Mapping[str, float]) -> None:
        nonlocal failed
        try:
            report_metrics(dict(metrics))
        except Exception as e:  # a lost push must not kill the trial; the stdout line is still there
            if not failed:
                print(f"warning: pushing metrics to Katib failed: {e}", file=sys.stderr)
            failed = True

    return push


class Reporter:
    """Collects the epoch history and publishes it on every channel; owns metrics.json."""

    def __init__(
        self,
        spec: TrainerSpec,
        target: str,
        epochs: int,
        output_dir: Path,
        stream: TextIO,
        push: MetricsPush | None = None,
    ) -> None:
        self.spec = spec
        self.target = target
        self.epochs = epochs
        self.path = output_dir / "metrics.json"
        self.stream = stream
        self.push = push
        self.tracker: Tracker | None = None
        self.history: list[dict[str, float | int]] = []
        self.data_prep_seconds: float | None = None
        self.cache_hit: bool | None = None
        self.device: str | None = None
        self.gpu_memory: dict[str, int] | None = None
        """``peak_bytes`` and ``total_bytes`` of the trial's GPU, updated every epoch on a GPU."""
        self.saver: ModelSaver | None = None
        self.evaluating = False
        """``--evaluate-model``: an epoch holds the metrics one validation pass gives (no training loss)."""
        self._train_started: float | None = None
        self._train_seconds: float | None = None

    def data_prepared(self, seconds: float, cache_hit: bool) -> None:
        self.data_prep_seconds = seconds
        self.cache_hit = cache_hit
        self._write(TrialStatus.RUNNING, None)

    def training_started(self) -> None:
        self._train_started = time.perf_counter()

    def training_stopped(self) -> None:
        if self._train_started is not None and self._train_seconds is None:
            self._train_seconds = time.perf_counter() - self._train_started

    def epoch_end(self, epoch: int, metrics: Mapping[str, float]) -> None:
        """Publish one finished epoch; a NaN or infinite metric is a divergence, not a line."""
        entry: dict[str, float | int] = {"epoch": int(epoch)}
        names = [n for n in self.spec.metrics if n in metrics] if self.evaluating else self.spec.metrics
        for name in names:
            value = float(metrics[name])
            if not math.isfinite(value):
                raise DivergedError(f"{name} became {value} at epoch {epoch}")
            entry[name] = value
        self.history.append(entry)
        self.stream.write(format_metric_line(entry) + "\n")
        self.stream.flush()
        self._write(TrialStatus.RUNNING, None)
        if self.push is not None:
            self.push(entry)
        if self.tracker is not None:
            self.tracker.log_epoch(epoch, entry)
        if self.saver is not None:
            self.saver.epoch_reported(entry)

    def finish(self, status: TrialStatus, reason: str | None) -> None:
        self.training_stopped()
        self._write(status, reason)
        if self.tracker is not None:
            self.tracker.finish(status.value, reason)

    def best(self) -> dict[str, float | int] | None:
        best = None
        for entry in self.history:
            if best is None or self.spec.is_better(entry[self.spec.primary_metric], best[self.spec.primary_metric]):
                best = entry
        return best

    def summary(self, status: TrialStatus, reason: str | None) -> dict[str, Any]:
        train_seconds = self._train_seconds
        if train_seconds is None and self._train_started is not None:
            train_seconds = time.perf_counter() - self._train_started
        return {
            "status": status.value,
            "reason": reason,
            "trainer": self.spec.name,
            "target": self.target,
            "primary_metric": self.spec.primary_metric,
            "direction": self.spec.direction,
            "history": self.history,
            "final": self.history[-1] if self.history else None,
            "best": self.best(),
            "epochs_completed": len(self.history),
            "epochs_requested": self.epochs,
            "data_prep_seconds": self.data_prep_seconds,
            "cache_hit": self.cache_hit,
            "train_seconds": train_seconds,
            "device": self.device,
            **({"gpu_memory": self.gpu_memory} if self.gpu_memory else {}),
        }

    def _write(self, status: TrialStatus, reason: str | None) -> None:
        write_json(self.path, self.summary(status, reason))


__all__ = ["MetricsPush", "Reporter", "katib_push"]
