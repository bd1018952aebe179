"""CSI grading from images (seed study 002): four graded classes and an unknown class, tuned for macro-F1.

``python -m hpoctl.trainers.csi --target default --epochs 30 --seed 0 --architecture=ResNet50
--optimizer=sgd --learning_rate=1e-2 --weight_decay=1e-4 --momentum=0.9 --batch_size=32 --patience=10
--unknown_weight=0.5``

Architectures ResNet50, CheXNet (DenseNet-121) and Custom_1 at a reduced width (:mod:`hpoctl.trainers.csi.model`);
optimizers adam, adamw and sgd, weight decay and momentum accepted always and ignored (with a note on stderr)
where the optimizer does not use them. Per epoch: ``val_f1`` (validation macro-F1), ``val_loss``, ``train_loss``;
training stops early once val_f1 has not improved for ``--patience`` epochs (metrics.json: ``early_stopped``).
The ``--data`` formats and the synthetic images are described in :mod:`hpoctl.trainers.csi.data`.
"""

from hpoctl.trainers.csi.config import CLASSES, SPEC, TARGETS, CsiDataArgs, CsiHparams

__all__ = ["CLASSES", "SPEC", "TARGETS", "CsiDataArgs", "CsiHparams"]
