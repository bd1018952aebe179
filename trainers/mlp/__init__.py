"""MLP (seed study 003): a multilayer perceptron on tabular classification, tuned for validation error.

``python -m hpoctl.trainers.mlp --target default --epochs 20 --seed 0 --lr=1e-3 --hidden_sizes=[128,128]
--dropout=0.1``

Per epoch: ``epoch``, ``validation_error`` (1 - accuracy on the validation split, minimised), ``val_loss``
(cross-entropy), ``train_loss``. The ``--data`` format (CSV or NPZ) and the synthetic generator are
described in :mod:`hpoctl.trainers.mlp.data`.
"""

from hpoctl.trainers.mlp.config import SPEC, TARGETS, MlpDataArgs, MlpHparams

__all__ = ["SPEC", "TARGETS", "MlpDataArgs", "MlpHparams"]
