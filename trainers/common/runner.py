"""The one place a trial's outcome becomes an exit code, a status in metrics.json and one line on stderr."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from pydantic import BaseModel

from hpoctl.trainer_contract import MODEL_HYPERPARAMETERS
from hpoctl.trainers.common import signals
from hpoctl.trainers.common.args import RunArgs
from hpoctl.trainers.common.cache import Arrays, DataCache
from hpoctl.trainers.common.errors import TrainerError, TrialInterrupted
from hpoctl.trainers.common.exit_codes import ExitCode, TrialStatus
from hpoctl.trainers.common.metrics_io import write_yaml
from hpoctl.trainers.common.model_store import ModelSaver, SavePolicy
from hpoctl.trainers.common.report import Reporter, katib_push
from hpoctl.trainers.common.spec import TrainerSpec
from hpoctl.trainers.common.tracking import open_tracker


@contextlib.contextmanager
def metrics_stdout() -> Iterator[TextIO]:
    """Yield a stream on the real stdout for metric lines; meanwhile fd 1 and ``sys.stdout`` point at stderr.

    Whatever else prints (Lightning, warnings, C++ extensions, a stray ``print``) lands on stderr, so no
    other stdout line can ever look like a metric to Katib's collector.
    """
    sys.stdout.flush()
    try:
        stdout_fd = sys.stdout.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):  # stdout replaced in-process (tests)
        real, sys.stdout = sys.stdout, sys.stderr
        try:
            yield real
        finally:
            sys.stdout = real
        return
    saved_fd = os.dup(stdout_fd)
    stream = os.fdopen(os.dup(stdout_fd), "w", encoding="utf-8", buffering=1)
    saved_stdout = sys.stdout
    os.dup2(sys.stderr.fileno(), stdout_fd)
    sys.stdout = sys.stderr
    try:
        yield stream
    finally:
        stream.flush()
        sys.stderr.flush()
        os.dup2(saved_fd, stdout_fd)
        os.close(saved_fd)
        sys.stdout = saved_stdout
        stream.close()


def resolve_output_dir(requested: Path | None) -> Path:
    """``--output``, else ``$HPOCTL_OUTPUT_DIR``, else ``./trainer-output``; a temp dir if that is unwritable."""
    env = os.environ.get("HPOCTL_OUTPUT_DIR")
    path = requested or (Path(env) if env else Path.cwd() / "trainer-output")
    try:
        path.mkdir(parents=True, exist_ok=True)
        return path
    except OSError as e:
        if requested is not None:
            raise TrainerError(f"cannot create --output {path}: {e.strerror}") from e
        fallback = Path(tempfile.mkdtemp(prefix="hpoctl-trainer-"))
        print(f"note: {path} is not writable ({e.strerror}); writing outputs to {fallback}", file=sys.stderr)
        return fallback


@dataclass
class Trial:
    """What a trainer's ``main()`` gets: its validated arguments, the data cache and the reporter."""

    spec: TrainerSpec
    run: RunArgs
    hparams: BaseModel
    data: BaseModel
    output_dir: Path
    reporter: Reporter
    cache: DataCache
    device: Any = None
    """The :class:`~hpoctl.trainers.common.lightning_loop.Device` chosen for this trial."""

    def prepare_data(self, source: Any, params: dict[str, Any], prepare: Callable[[], Arrays]) -> Arrays:
        """Prepared arrays from the cache, or from ``prepare()`` (then cached); timing goes to metrics.json."""
        prepared = self.cache.load_or_prepare(self.spec.name, source, params, prepare)
        self.reporter.data_prepared(prepared.seconds, prepared.cache_hit)
        if os.environ.get("HPOCTL_DEBUG") == "1":
            how = "loaded from cache" if prepared.cache_hit else "prepared"
            print(f"data {how} in {prepared.seconds:.3f} s ({prepared.path or 'not cached'})", file=sys.stderr)
        return prepared.arrays


def hyperparameters_document(spec: TrainerSpec, run: RunArgs, hparams: BaseModel, data: BaseModel) -> dict[str, Any]:
    """Content of hyperparameters.yaml: everything needed to rerun the trial."""
    data_dump = data.model_dump(mode="json")
    return {
        "trainer": spec.name,
        "target": run.target,
        "target_args": {name: data_dump[name] for name in spec.target_fields},
        "seed": run.seed,
        "epochs": run.epochs,
        "hyperparameters": hparams.model_dump(mode="json"),
        "data_args": {k: v for k, v in data_dump.items() if k not in spec.target_fields},
        "data_args_given": sorted(set(data.model_fields_set) - set(spec.target_fields)),
        "data": str(run.data) if run.data is not None else None,
        "report": run.report,
        "threads": run.threads,
        "accelerator": run.accelerator,
    }


def _one_line(text: str, limit: int = 500) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _is_out_of_memory(error: BaseException) -> bool:
    if isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError":
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def classify(error: BaseException) -> tuple[int, TrialStatus, str]:
    """Exit code, status and one-line reason for an exception that ended a trial."""
    signum = signals.received()
    if isinstance(error, TrialInterrupted):
        return error.exit_code, TrialStatus.INTERRUPTED, str(error)
    if signum is not None and isinstance(error, SystemExit | KeyboardInterrupt):
        # Lightning's own SIGTERM handling raises SIGTERMException (a SystemExit) at the next batch.
        interrupted = TrialInterrupted(signum)
        return interrupted.exit_code, TrialStatus.INTERRUPTED, str(interrupted)
    if isinstance(error, KeyboardInterrupt):
        return ExitCode.for_signal(2), TrialStatus.INTERRUPTED, "interrupted"
    if isinstance(error, TrainerError):
        return error.exit_code, TrialStatus.FAILED, _one_line(str(error))
    if _is_out_of_memory(error):
        return ExitCode.OUT_OF_MEMORY, TrialStatus.FAILED, _one_line(f"out of memory: {error}")
    return ExitCode.ERROR, TrialStatus.FAILED, _one_line(f"{type(error).__name__}: {error}")


def run_trial(
    spec: TrainerSpec,
    run: RunArgs,
    hparams: BaseModel,
    data: BaseModel,
    main: Callable[[Trial], None],
) -> int:
    """Run ``main(trial)`` under the contract: stdout for metrics only, metrics.json always, one error line."""
    from hpoctl.trainers.common import lightning_loop  # torch: only once the arguments are known to be good

    debug = os.environ.get("HPOCTL_DEBUG") == "1"
    lightning_loop.quiet_libraries()
    try:
        output_dir = resolve_output_dir(run.output)
    except TrainerError as e:
        print(f"trial failed: {e}", file=sys.stderr)
        return e.exit_code
    assert run.target is not None
    with metrics_stdout() as stream:
        reporter = Reporter(spec, run.target, run.epochs, output_dir, stream)
        trial = Trial(spec, run, hparams, data, output_dir, reporter, DataCache(run.cache_dir))
        try:
            write_yaml(output_dir / MODEL_HYPERPARAMETERS, hyperparameters_document(spec, run, hparams, data))
            policy = SavePolicy.from_args(spec, run)
            reporter.saver = ModelSaver(policy, output_dir / MODEL_HYPERPARAMETERS) if policy else None
            reporter.push = katib_push(run.report)
            reporter.tracker = open_tracker(
                f"{spec.name}-{run.target}",
                hparams.model_dump(mode="json"),
                hyperparameters_document(spec, run, hparams, data),
                output_dir=output_dir,
            )
            trial.device = lightning_loop.configure_torch(run.seed, run.threads, run.accelerator)
            reporter.device = trial.device.describe()
            signals.check()
            main(trial)
        except BaseException as error:
            if isinstance(error, SystemExit) and signals.received() is None:
                raise
            code, status, reason = classify(error)
            if debug:
                traceback.print_exception(error)
            with contextlib.suppress(OSError):
                reporter.finish(status, reason)
            print(f"trial {status.value}: {reason}", file=sys.stderr, flush=True)
            return code
        reporter.finish(TrialStatus.COMPLETED, None)
        return ExitCode.OK


__all__ = ["Trial", "classify", "hyperparameters_document", "metrics_stdout", "resolve_output_dir", "run_trial"]
