"""Stage 2: fine-tune the multitask heads on the experimental set in k-fold cross-validation, with the fixed
stage-2 settings, and score the pooled out-of-fold predictions.

A plain loop rather than Lightning: nothing is reported per stage-2 epoch, and the folds are small. It checks
for a termination signal at every batch, like the Lightning loop, and fails on a NaN or infinite loss.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from hpoctl.trainers.common import signals
from hpoctl.trainers.common.errors import DivergedError
from hpoctl.trainers.common.lightning_loop import EpochBatches
from hpoctl.trainers.transfer.config import TransferDataArgs, TransferHparams, transfer_objective
from hpoctl.trainers.transfer.data import kfold_indices
from hpoctl.trainers.transfer.model import Stage1Net, Stage2Net


def solubility_scores(probability: np.ndarray, soluble: np.ndarray) -> dict[str, float]:
    """F1, recall and precision of the soluble (positive) class at probability 0.5; 0 when undefined."""
    predicted, actual = probability >= 0.5, soluble > 0.5
    tp = int((predicted & actual).sum())
    precision = tp / int(predicted.sum()) if predicted.any() else 0.0
    recall = tp / int(actual.sum()) if actual.any() else 0.0
    f1 = 2 * tp / (int(predicted.sum()) + int(actual.sum())) if predicted.any() or actual.any() else 0.0
    return {"sol_f1": f1, "sol_recall": recall, "sol_precision": precision}


def fine_tune(
    net: Stage2Net, tensors: tuple[torch.Tensor, ...], settings: TransferDataArgs, seed: int, where: str
) -> None:
    """``settings.stage2_epochs`` epochs of Adam on ``lambda_exp * MSE(chi) + lambda_sol * BCE(soluble)``."""
    trainable = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=settings.lr_finetune)
    batches = EpochBatches(tensors, settings.stage2_batch_size, shuffle=True, seed=seed)
    pos_weight = torch.tensor(settings.class_weight_pos, device=tensors[0].device)
    net.train()
    for epoch in range(1, settings.stage2_epochs + 1):
        for x, chi, soluble in batches:
            signals.check()
            chi_predicted, logit = net(x)
            loss = settings.lambda_exp * F.mse_loss(chi_predicted, chi) + settings.lambda_sol * (
                F.binary_cross_entropy_with_logits(logit, soluble, pos_weight=pos_weight)
            )
            if not bool(torch.isfinite(loss)):
                raise DivergedError(
                    f"stage-2 loss became {float(loss)} in {where} epoch {epoch} "
                    f"(lr_finetune={settings.lr_finetune!r} diverged)"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()


def cross_validate(
    stage1: Stage1Net,
    experimental: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    hparams: TransferHparams,
    settings: TransferDataArgs,
    seed: int,
) -> dict[str, float]:
    """exp_mae and the solubility scores of the out-of-fold predictions on the experimental set ``(x, chi,
    soluble)``: each example is predicted once, by the fold that did not train on it."""
    x, chi, soluble = experimental
    frozen = settings.freeze_encoder_stage2
    stage1.eval()
    if frozen:  # the encoder never changes: compute its latents once, with dropout off
        with torch.no_grad():
            x = stage1.encoder(x)
    chi_out, probability = torch.empty_like(chi), torch.empty_like(chi)
    folds = kfold_indices(len(chi), settings.cv_folds, settings.data_seed, labels=soluble.cpu().numpy())
    for fold, (train, val) in enumerate(folds):
        torch.manual_seed(seed * 1009 + fold)  # each fold's new head and dropout, whatever ran before
        net = Stage2Net(stage1, frozen, hparams.encoder_latent_dim, hparams.chi_head_dropout).to(x.device)
        train_index, val_index = torch.from_numpy(train).to(x.device), torch.from_numpy(val).to(x.device)
        tensors = (x[train_index], chi[train_index], soluble[train_index])
        fine_tune(net, tensors, settings, seed=seed + fold, where=f"fold {fold + 1}/{len(folds)}")
        net.eval()
        with torch.no_grad():
            predicted, logit = net(x[val_index])
        chi_out[val_index], probability[val_index] = predicted, torch.sigmoid(logit)
    exp_mae = float((chi_out - chi).abs().mean())
    if not np.isfinite(exp_mae):
        raise DivergedError(f"exp_mae became {exp_mae} (lr_finetune={settings.lr_finetune!r} diverged)")
    return {"exp_mae": exp_mae, **solubility_scores(probability.cpu().numpy(), soluble.cpu().numpy())}


def final_metrics(stage1_mae: float, stage2: dict[str, float]) -> dict[str, float]:
    """The last line: stage-1 MAE, the stage-2 scores and the transfer objective."""
    objective = transfer_objective(stage2["exp_mae"], stage2["sol_f1"], stage2["sol_recall"], stage1_mae)
    return {"stage1_mae": stage1_mae, **stage2, "objective": objective}


__all__ = ["cross_validate", "final_metrics", "fine_tune", "solubility_scores"]
