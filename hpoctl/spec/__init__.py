"""The study spec models and their loading (presets, overrides, error reporting)."""

from hpoctl.spec.algorithms import Algorithm, EarlyStopping
from hpoctl.spec.objectives import Objective
from hpoctl.spec.parameters import CategoricalParameter, FloatParameter, IntParameter, Parameter
from hpoctl.spec.study import Limits, Resources, Stage, StudySpec, Target, Trainer

__all__ = [
    "Algorithm",
    "CategoricalParameter",
    "EarlyStopping",
    "FloatParameter",
    "IntParameter",
    "Limits",
    "Objective",
    "Parameter",
    "Resources",
    "Stage",
    "StudySpec",
    "Target",
    "Trainer",
]
