"""The Lightning side of every trainer: device and determinism, batches, the module base and the Trainer.

The Trainer is built with everything noisy or costly switched off (progress bar, model summary, loggers,
checkpointing, sanity validation); metrics are computed once per epoch on the whole validation split by the
module itself, so no per-step ``self.log`` synchronisation happens.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import lightning as L
import torch
from lightning.fabric.plugins.environments import LightningEnvironment
from lightning.pytorch.utilities.warnings import PossibleUserWarning

from hpoctl.trainers.common import model_store, signals
from hpoctl.trainers.common.errors import DivergedError, UsageError
from hpoctl.trainers.common.report import Reporter

if TYPE_CHECKING:
    from hpoctl.trainers.common.runner import Trial

LIBRARY_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning", "lightning_fabric")


def quiet_libraries() -> None:
    """Lightning's info logs ("GPU available", tips) off; its warnings stay on stderr, except the ones about
    choices made here on purpose (in-memory batches without workers, few batches per epoch)."""
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=PossibleUserWarning)
    # Lightning 2.6 builds torch pytrees the way torch 2.13 deprecates; nothing a trial can act on.
    warnings.filterwarnings("ignore", message=r".*LeafSpec.* is deprecated", category=FutureWarning)


@dataclass(frozen=True)
class Device:
    """Where a trial runs and at which precision."""

    accelerator: str
    """``cpu`` or ``gpu``."""
    precision: str
    """Lightning precision: ``32-true`` on CPU, ``bf16-mixed`` (or ``16-mixed``) on CUDA."""

    def describe(self) -> str:
        name = torch.cuda.get_device_name(0) if self.accelerator == "gpu" else "cpu"
        return f"{name} ({self.precision}, {torch.get_num_threads()} threads)"


def configure_torch(seed: int, threads: int | None, accelerator: str) -> Device:
    """Seed python/numpy/torch, set threads, choose the device; deterministic algorithms on CPU."""
    if threads is not None:
        torch.set_num_threads(threads)
    L.seed_everything(seed, workers=True, verbose=False)
    if accelerator == "gpu" and not torch.cuda.is_available():
        raise UsageError("--accelerator=gpu but no CUDA device is available")
    if accelerator in ("auto", "gpu") and torch.cuda.is_available():
        torch.set_float32_matmul_precision("high")
        return Device("gpu", "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed")
    # Bit-identical reruns on CPU; on CUDA this would cost speed and need CUBLAS_WORKSPACE_CONFIG.
    torch.use_deterministic_algorithms(True)
    return Device("cpu", "32-true")


class EpochBatches:
    """Mini-batches sliced from in-memory tensors, reshuffled every epoch by a seeded generator.

    Cheaper than a DataLoader (no per-sample indexing, no collate, no workers) and deterministic: the n-th
    iteration always yields the n-th permutation of the generator seeded with ``seed``.
    """

    def __init__(self, tensors: Sequence[torch.Tensor], batch_size: int, shuffle: bool, seed: int = 0) -> None:
        if not tensors or any(len(t) != len(tensors[0]) for t in tensors):
            raise ValueError("EpochBatches needs tensors of equal length")
        self.tensors = tuple(tensors)
        self.batch_size = int(batch_size)
        self.generator = torch.Generator().manual_seed(seed) if shuffle else None

    @property
    def num_samples(self) -> int:
        return len(self.tensors[0])

    def __len__(self) -> int:
        return math.ceil(self.num_samples / self.batch_size)

    @property
    def nbytes(self) -> int:
        return sum(t.element_size() * t.nelement() for t in self.tensors)

    def to(self, device: torch.device | str) -> EpochBatches:
        """The same batches, their tensors on `device` once: each batch is then an index into device memory, with
        no copy from the host per batch. The shuffle order is still drawn on the CPU, so it stays the same."""
        moved = EpochBatches([t.to(device) for t in self.tensors], self.batch_size, shuffle=False)
        moved.generator = self.generator
        return moved

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        n = self.num_samples
        order = torch.randperm(n, generator=self.generator) if self.generator is not None else None
        if order is not None and self.tensors[0].device.type != "cpu":
            order = order.to(self.tensors[0].device)  # one copy per epoch, not one per batch
        for start in range(0, n, self.batch_size):
            stop = start + self.batch_size
            index: Any = order[start:stop] if order is not None else slice(start, stop)
            yield tuple(t[index] for t in self.tensors)


class TrialModule(L.LightningModule):
    """Base LightningModule of the trainers: NaN/inf loss checks and the epoch's training loss.

    Subclasses compute their validation metrics in ``on_validation_epoch_end`` into ``self.val_metrics``.
    """

    def __init__(self, divergence_hint: str) -> None:
        super().__init__()
        self.divergence_hint = divergence_hint
        """Named in the divergence message, e.g. ``learning_rate=1000.0``."""
        self.val_metrics: dict[str, float] = {}
        self._loss_sum: torch.Tensor | None = None
        self._loss_count = 0

    def check_loss(self, loss: torch.Tensor, batch_idx: int) -> None:
        """Raise :class:`DivergedError` when the loss is NaN or infinite (costs one device sync per step)."""
        if not bool(torch.isfinite(loss)):
            kind = "nan" if bool(torch.isnan(loss)) else "inf"
            raise DivergedError(
                f"loss became {kind} at epoch {self.current_epoch + 1} batch {batch_idx + 1} "
                f"({self.divergence_hint} diverged)"
            )

    def track_train_loss(self, loss: torch.Tensor, count: int) -> None:
        weighted = loss.detach().float() * count
        self._loss_sum = weighted if self._loss_sum is None else self._loss_sum + weighted
        self._loss_count += count

    def on_train_epoch_start(self) -> None:
        self._loss_sum, self._loss_count = None, 0

    def epoch_metrics(self) -> Mapping[str, float]:
        """The finished epoch's metrics; :class:`DivergedError` if one is NaN or infinite (the loss first)."""
        train_loss = float(self._loss_sum) / self._loss_count if self._loss_sum is not None else math.nan
        metrics = {"train_loss": train_loss, **self.val_metrics}
        for name in sorted(metrics, key=lambda n: (not n.endswith("loss"), n != "val_loss", n)):
            if not math.isfinite(metrics[name]):
                raise DivergedError(
                    f"{name} became {metrics[name]} at epoch {self.current_epoch + 1} ({self.divergence_hint} diverged)"
                )
        return metrics


class ClassifierModule(TrialModule):
    """A TrialModule around a network ``net`` that maps a batch's inputs to logits: training minimises
    :meth:`loss`; validation gathers every batch's logits (float32) and labels and hands them, whole, to
    :meth:`validation_metrics` at the end of the epoch."""

    def __init__(self, net: torch.nn.Module, divergence_hint: str) -> None:
        super().__init__(divergence_hint)
        self.net = net
        self._val_logits: list[torch.Tensor] = []
        self._val_labels: list[torch.Tensor] = []

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def validation_metrics(self, logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = self.loss(self.net(x), y)
        self.check_loss(loss, batch_idx)
        self.track_train_loss(loss, len(y))
        return loss

    def on_validation_epoch_start(self) -> None:
        self._val_logits, self._val_labels = [], []

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        self._val_logits.append(self.net(x).float())
        self._val_labels.append(y)

    def on_validation_epoch_end(self) -> None:
        self.val_metrics = self.validation_metrics(torch.cat(self._val_logits), torch.cat(self._val_labels))


class _TrialCallback(L.Callback):
    """Stops at the next batch after SIGTERM/SIGINT and reports every finished epoch."""

    def __init__(self, reporter: Reporter) -> None:
        self.reporter = reporter

    def on_train_batch_start(self, *args: Any) -> None:
        signals.check()

    def on_validation_batch_start(self, *args: Any) -> None:
        signals.check()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        assert isinstance(pl_module, TrialModule)
        if torch.cuda.is_available() and pl_module.device.type == "cuda":
            self.reporter.gpu_memory = gpu_memory(pl_module.device)
        self.reporter.epoch_end(trainer.current_epoch + 1, pl_module.epoch_metrics())


def gpu_memory(device: torch.device) -> dict[str, int]:
    """The trial's peak GPU memory so far (what PyTorch's allocator reserved, which is what its neighbours cannot
    use) and the GPU's total: hpoctl packs trials per GPU by it (`trials_per_gpu: auto`)."""
    return {
        "peak_bytes": int(torch.cuda.max_memory_reserved(device)),
        "total_bytes": int(torch.cuda.get_device_properties(device).total_memory),
    }


def build_trainer(device: Device, epochs: int, reporter: Reporter, max_train_batches: int | None = None) -> L.Trainer:
    """A Lightning Trainer with nothing but the training: no bar, summary, logger, checkpoint or sanity check."""
    return L.Trainer(
        accelerator=device.accelerator,
        devices=1,
        precision=device.precision,  # type: ignore[arg-type]
        max_epochs=epochs,
        limit_train_batches=max_train_batches or 1.0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
        # One process per trial: ignore SLURM/cluster variables (no auto-requeue, no srun advice).
        plugins=[LightningEnvironment()],
        callbacks=[_TrialCallback(reporter)],
    )


#: The share of a GPU's free memory the data sets may take when moved to it whole; the rest is the model's.
DATA_ON_GPU_SHARE = 0.5


def on_device(train: EpochBatches, val: EpochBatches, device: Device) -> tuple[EpochBatches, EpochBatches]:
    """On a GPU, both data sets moved to it once when they fit in DATA_ON_GPU_SHARE of its free memory, so that the
    GPU does not wait on a host copy per batch; on the CPU, or when they do not fit, as they are.
    HPOCTL_DATA_ON_GPU=0 keeps them on the host (bench/bench_gpu.py measures the difference)."""
    if device.accelerator != "gpu" or os.environ.get("HPOCTL_DATA_ON_GPU") == "0":
        return train, val
    free, _ = torch.cuda.mem_get_info()
    if train.nbytes + val.nbytes > DATA_ON_GPU_SHARE * free:
        return train, val
    return train.to("cuda"), val.to("cuda")


def fit(
    module: TrialModule,
    train: EpochBatches,
    val: EpochBatches,
    trial: Trial,
    max_train_batches: int | None = None,
) -> None:
    """Train ``module`` for the trial's epochs, reporting after each; raises on divergence or a signal.
    ``max_train_batches`` caps the batches an epoch trains on (None or 0: all of them). With
    ``--evaluate-model``, load the saved weights and report one validation pass instead."""
    reporter, epochs = trial.reporter, trial.run.epochs
    train, val = on_device(train, val, trial.device)
    trainer = build_trainer(trial.device, epochs, reporter, max_train_batches or None)
    if trial.run.evaluate_model is not None:
        evaluate(module, val, trainer, trial)
        return
    if reporter.saver is not None:
        reporter.saver.trainer = trainer
    reporter.training_started()
    try:
        trainer.fit(module, train_dataloaders=train, val_dataloaders=val)
    finally:
        reporter.training_stopped()
    if len(reporter.history) < epochs:  # Lightning stopped early without raising: only a signal does that
        signals.check()


def evaluate(module: TrialModule, val: EpochBatches, trainer: L.Trainer, trial: Trial) -> None:
    """One validation pass of a saved model's weights, reported as the epoch it was saved at."""
    checkpoint = model_store.checkpoint_path(trial.run.evaluate_model)  # type: ignore[arg-type]
    reporter = trial.reporter
    reporter.evaluating = True
    reporter.training_started()
    try:
        trainer.validate(module, dataloaders=val, ckpt_path=str(checkpoint), verbose=False, weights_only=False)
    finally:
        reporter.training_stopped()
    reporter.epoch_end(model_store.saved_epoch(checkpoint) or 1, module.val_metrics)


__all__ = [
    "Device",
    "EpochBatches",
    "TrialModule",
    "build_trainer",
    "configure_torch",
    "evaluate",
    "fit",
    "on_device",
    "quiet_libraries",
]
