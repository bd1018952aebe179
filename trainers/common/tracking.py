"""Experiment tracking of one trial: one Weights & Biases or MLflow run with its parameters and per-epoch metrics.

Opt-in: the launcher sets ``HPOCTL_TRACKING`` and its companions (:mod:`hpoctl.tracking_env`) when the study spec
has a ``tracking:`` entry; without it nothing here imports wandb or mlflow. Keys come from the environment only
(WANDB_API_KEY, MLFLOW_TRACKING_TOKEN), read by the libraries themselves, and are never logged.

Tracking must not cost a trial: a library that is not installed fails the trial at start (a usage error, exit 2,
before any training), but a server that cannot be reached, then or later, is one warning line on stderr and the
trial goes on untracked. The metric lines on stdout stay the trial's result.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from hpoctl.trainers.common.errors import UsageError

INSTALL = "pip install 'hpoctl[tracking]'"
#: MLflow retries an unreachable server 7 times with a doubling back-off (minutes); a trial waits for fewer. A
#: value the user set in the environment wins.
MLFLOW_HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}
_MLFLOW_STATUS = {"completed": "FINISHED", "interrupted": "KILLED"}


class _Run(Protocol):
    def log_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None: ...

    def finish(self, status: str, reason: str | None) -> None: ...


class Tracker:
    """One trial's run; after its first failure it warns once on stderr and logs nothing more."""

    def __init__(self, run: _Run, backend: str) -> None:
        self._run: _Run | None = run
        self.backend = backend

    @property
    def active(self) -> bool:
        return self._run is not None

    def log_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None:
        with self._guard():
            if self._run is not None:
                self._run.log_epoch(epoch, {k: float(v) for k, v in metrics.items() if k != "epoch"})

    def finish(self, status: str, reason: str | None) -> None:
        """End the run: W&B's exit code 0 or 1, MLflow's FINISHED, KILLED (interrupted) or FAILED."""
        with self._guard():
            if self._run is not None:
                run, self._run = self._run, None
                run.finish(status, reason)

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except Exception as error:
            if self._run is not None:
                _warn(self.backend, error)
            self._run = None


def open_tracker(
    run_name_default: str, params: Mapping[str, Any], config: Mapping[str, Any], *, output_dir: Path
) -> Tracker | None:
    """The trial's run as ``HPOCTL_TRACKING`` asks, or None without it (or when the server cannot be reached).

    ``params`` are the trial's hyperparameters (W&B config, MLflow params); ``config`` the rest of what reruns it
    (target, seed, epochs, data: ``hyperparameters.yaml``), logged beside them as ``hpoctl.*``.
    """
    backend = os.environ.get("HPOCTL_TRACKING")
    if not backend:
        return None
    if backend not in ("wandb", "mlflow"):
        raise UsageError(f"HPOCTL_TRACKING={backend!r}: tracking backends are wandb and mlflow")
    _import(backend)
    where = {
        "project": os.environ.get("HPOCTL_TRACKING_PROJECT") or f"hpoctl-{run_name_default}",
        "group": os.environ.get("HPOCTL_TRACKING_GROUP") or run_name_default,
        "name": os.environ.get("HPOCTL_TRACKING_RUN") or os.environ.get("KATIB_TRIAL_NAME") or run_name_default,
        "uri": os.environ.get("HPOCTL_TRACKING_URI") or None,
        "tags": _tags(),
        "stage": os.environ.get("HPOCTL_STAGE"),
    }
    extra = {k: v for k, v in config.items() if k != "hyperparameters"}
    try:
        if backend == "wandb":
            run: _Run = _WandbRun(where, dict(params), extra, output_dir)
        else:
            run = _MlflowRun(where, dict(params), extra)
    except Exception as error:
        _warn(backend, error)
        return None
    return Tracker(run, backend)


class _WandbRun:
    def __init__(self, where: dict[str, Any], params: dict[str, Any], extra: dict[str, Any], output_dir: Path):
        import wandb

        url = where["uri"]
        settings = wandb.Settings(silent=True, console="off", **({"base_url": url} if url else {}))
        tags = [f"{k}:{v}" if v else k for k, v in where["tags"].items()]
        if where["stage"]:
            tags.append(f"stage:{where['stage']}")
        self.run = wandb.init(
            project=where["project"],
            entity=os.environ.get("HPOCTL_TRACKING_ENTITY") or None,
            group=where["group"],
            name=where["name"],
            job_type=where["stage"],
            config={**params, "hpoctl": extra},
            tags=tags,
            mode=os.environ.get("HPOCTL_TRACKING_MODE") or "online",
            dir=str(output_dir),
            settings=settings,
        )

    def log_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None:
        self.run.log(dict(metrics), step=epoch)

    def finish(self, status: str, reason: str | None) -> None:
        self.run.summary["hpoctl_status"] = status
        if reason:
            self.run.summary["hpoctl_reason"] = reason
        self.run.finish(exit_code=0 if status == "completed" else 1)


class _MlflowRun:
    def __init__(self, where: dict[str, Any], params: dict[str, Any], extra: dict[str, Any]):
        from mlflow import MlflowClient
        from mlflow.entities import Param

        uri = where["uri"]
        for name, value in MLFLOW_HTTP_DEFAULTS.items():
            os.environ.setdefault(name, value)
        if uri and (uri.startswith("file:") or "://" not in uri):
            # The spec chose a file store on purpose; MLflow 3 refuses one unless told so.
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.client = MlflowClient(tracking_uri=uri)
        with _file_store_lock(uri):
            experiment_id = self._experiment(where["project"])
        tags = {
            **where["tags"],
            "hpoctl.group": where["group"],
            **({"hpoctl.stage": where["stage"]} if where["stage"] else {}),
            **{f"hpoctl.{k}": _text(v) for k, v in extra.items() if v is not None},
        }
        self.run_id = self.client.create_run(experiment_id, run_name=where["name"], tags=tags).info.run_id
        self.client.log_batch(self.run_id, params=[Param(k, _text(v)) for k, v in params.items()])

    def _experiment(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        try:
            return self.client.create_experiment(name)
        except Exception:  # another trial created it first (a server or database store)
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise
            return found.experiment_id

    def log_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, v, now, epoch) for k, v in metrics.items()])

    def finish(self, status: str, reason: str | None) -> None:
        if reason:
            self.client.set_tag(self.run_id, "hpoctl.reason", reason[:5000])
        self.client.set_terminated(self.run_id, _MLFLOW_STATUS.get(status, "FAILED"))


@contextlib.contextmanager
def _file_store_lock(uri: str | None) -> Iterator[None]:
    """Hold an exclusive lock on a file store while its experiment is looked up or created: MLflow's file store
    checks the name and then creates, so trials starting together would each make an experiment of that name."""
    if not uri or not (uri.startswith("file:") or "://" not in uri):
        yield
        return
    import fcntl
    from urllib.parse import unquote, urlsplit

    root = Path(unquote(urlsplit(uri).path) if uri.startswith("file:") else uri).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".hpoctl-experiment.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _import(backend: str) -> None:
    module = "wandb" if backend == "wandb" else "mlflow"
    try:
        __import__(module)
    except ImportError as error:
        raise UsageError(
            f"tracking with {backend} needs the {module} package ({error}); install it: {INSTALL}"
        ) from error


def _tags() -> dict[str, str]:
    raw = os.environ.get("HPOCTL_TRACKING_TAGS")
    if not raw:
        return {}
    try:
        tags = json.loads(raw)
    except json.JSONDecodeError as error:
        raise UsageError(f"HPOCTL_TRACKING_TAGS: not a JSON object ({error})") from error
    if not isinstance(tags, dict):
        raise UsageError("HPOCTL_TRACKING_TAGS: not a JSON object")
    return {str(k): str(v) for k, v in tags.items()}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _warn(backend: str, error: BaseException) -> None:
    text = " ".join(f"{type(error).__name__}: {error}".split())
    text = text if len(text) <= 300 else text[:297] + "..."
    print(f"warning: {backend} tracking stopped, the trial goes on untracked: {text}", file=sys.stderr, flush=True)


__all__ = ["INSTALL", "Tracker", "open_tracker"]
