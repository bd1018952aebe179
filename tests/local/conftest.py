"""Study specs that run the toy trainer, for local-backend tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

TOY = str(Path(__file__).with_name("toy_trainer.py"))


def toy_spec(**overrides) -> dict:
    spec = {
        "name": "toy",
        "seed": 3,
        "parameters": {
            "x": {"type": "float", "low": 0.0, "high": 1.0, "default": 0.5},
            "y": {"type": "float", "low": 0.0, "high": 1.0, "default": 0.5},
            "kind": {"type": "categorical", "choices": ["a", "b"], "default": "a"},
        },
        "targets": {"small": {"args": {"size": 1}}, "large": {"args": {"size": 2}}},
        "objectives": [{"metric": "loss", "direction": "minimize"}],
        "algorithm": {"name": "tpe", "settings": {"n_startup_trials": 3, "seed": 1}},
        "early_stopping": {"name": "none"},
        "protocol": [
            {"name": "explore", "trials": 6, "epochs": 3},
            {"name": "refine", "mode": "continue", "trials": 3, "epochs": 4},
            {"name": "confirm", "mode": "top-k", "top_k": 2, "epochs": 5},
        ],
        "trainer": {"command": [sys.executable, TOY]},
        "limits": {"parallelism": 2, "max_failed_trials": 20},
    }
    spec.update(overrides)
    return spec


@pytest.fixture
def write_spec(tmp_path):
    def write(**overrides) -> str:
        path = tmp_path / "toy.yaml"
        path.write_text(yaml.safe_dump(toy_spec(**overrides)))
        return str(path)

    return write
