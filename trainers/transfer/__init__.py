"""Transfer-aware search (seed study 004): stage-1 hyperparameters chosen for how well they transfer to stage 2.

``python -m hpoctl.trainers.transfer --target default --epochs 100 --seed 0 --stage2-epochs 20 --cv-folds 5
--freeze-encoder-stage2 true --lambda-exp 3.0 --lambda-sol 1.0 --class-weight-pos 5.0 --encoder_latent_dim=128
--encoder_hidden_dims=512_256 --encoder_dropout=0.2 --chi_head_dropout=0.1 --lr_pretrain=1e-3
--weight_decay=1e-4``

Stage 1 trains an MLP encoder and a chi head on a large DFT set for ``--epochs``, one line per epoch
(``stage1_mae``, ``stage1_val_loss``, ``train_loss``). Stage 2 fine-tunes, on the frozen encoder, an
experimental-chi head and a solubility head on a small experimental set for ``--stage2-epochs`` in each of
``--cv-folds`` folds. A last line, numbered like the last epoch, holds ``stage1_mae``, ``exp_mae``, ``sol_f1``,
``sol_recall``, ``sol_precision`` and ``objective`` = 1.5 exp_mae + 2 (1 - sol_f1) + 1.5 (1 - sol_recall)
+ 0.1 stage1_mae (minimised). The ``--data`` formats and the synthetic sets are described in
:mod:`hpoctl.trainers.transfer.data`.
"""

from hpoctl.trainers.transfer.config import SPEC, TARGETS, TransferDataArgs, TransferHparams, transfer_objective

__all__ = ["SPEC", "TARGETS", "TransferDataArgs", "TransferHparams", "transfer_objective"]
