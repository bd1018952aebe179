"""EVEREST (seed study 000): transformer-encoder solar-flare forecasting, tuned for TSS.

``python -m hpoctl.trainers.everest --target M_24h --epochs 20 --seed 0 --embed_dim=128 --num_blocks=6
--dropout=0.2 --focal_gamma=1.0 --learning_rate=3e-4 --batch_size=512``

Targets C_24h ... X_72h: a flare of GOES class C/M/X or above within 24/48/72 hours (fixed arguments
``--flare-class`` and ``--window``). Per epoch: ``epoch``, ``tss`` (at the validation-optimal ``threshold``),
``val_loss`` (focal loss on the validation split), ``threshold``, ``train_loss``. The ``--data`` format and the
synthetic generator are described in :mod:`hpoctl.trainers.everest.data`.
"""

from hpoctl.trainers.everest.config import SPEC, TARGETS, EverestDataArgs, EverestHparams

__all__ = ["SPEC", "TARGETS", "EverestDataArgs", "EverestHparams"]
