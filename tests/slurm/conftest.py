"""The SLURM tests' study: the torch-free toy trainer in the mlp study's shape. The cluster itself is
tests/slurm/cluster.py's session fixture."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
TOY = str(REPO / "tests" / "local" / "toy_trainer.py")


def toy_study(name: str = "mlp", **overrides) -> dict:
    """The mlp study's shape (one target, `default`; a search stage) with the toy trainer: real torch trials are
    too slow for tests on 2 cores. x and y are the toy's hyperparameters, `loss` its objective."""
    spec = {
        "name": name,
        "seed": 0,
        "parameters": {
            "x": {"type": "float", "low": 0.0, "high": 1.0, "default": 0.5},
            "y": {"type": "float", "low": 0.0, "high": 1.0, "default": 0.5},
        },
        "targets": {"default": {"description": "the toy's one target"}},
        "objectives": [{"metric": "loss", "direction": "minimize", "strategy": "latest"}],
        "algorithm": {"name": "random", "settings": {"seed": 0}},
        "protocol": [{"name": "search", "trials": 12, "epochs": 3}],
        "resources": {"cpu": "1", "memory": "100Mi", "gpu": 0},
        "trainer": {"command": [sys.executable, TOY]},
        "limits": {"parallelism": 3, "max_failed_trials": 2},
    }
    spec.update(overrides)
    return spec


@pytest.fixture
def write_study(tmp_path):
    def write(**overrides) -> str:
        path = tmp_path / "mlp.yaml"
        path.write_text(yaml.safe_dump(toy_study(**overrides)))
        return str(path)

    return write
