"""Trainers that hpoctl tunes: the trainer contract (:mod:`hpoctl.trainers.common`) and one package per study.

Each trainer runs as ``python -m hpoctl.trainers.<name> --target T --epochs E --seed S --<param>=<value> ...``,
prints one Katib-readable ``name=value`` line per epoch and writes ``metrics.json`` and
``hyperparameters.yaml`` into ``--output``. Importing this package does not import torch.
"""

TRAINERS = ("everest", "mlp", "forecast", "csi", "transfer")
"""Names of the built-in trainers, each a package ``hpoctl.trainers.<name>`` runnable with ``python -m``."""

__all__ = ["TRAINERS"]
