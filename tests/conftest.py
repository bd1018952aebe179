"""Shared fixtures: the CLI run in-process, and a minimal valid spec to break."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import pytest

from hpoctl.cli.app import main

#: The session-wide real clusters, shared by their own tests and tests/backends' contract test.
pytest_plugins = ["tests.slurm.cluster", "tests.kube.testenv"]

BASE_SPEC = {
    "name": "toy",
    "parameters": {
        "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True, "default": 1e-3},
        "layers": {"type": "int", "low": 1, "high": 4, "default": 2},
        "optimizer": {"type": "categorical", "choices": ["adam", "sgd"], "default": "adam"},
        "momentum": {
            "type": "float",
            "low": 0.5,
            "high": 0.99,
            "default": 0.9,
            "when": {"optimizer": ["sgd"]},
        },
    },
    "targets": {"small": {"args": {"size": 10}}, "large": {"args": {"size": 100}}},
    "objectives": [{"metric": "loss", "direction": "minimize"}],
    "algorithm": {"name": "tpe", "settings": {"n_startup_trials": 5}},
    "early_stopping": {"name": "median", "settings": {"warmup_steps": 1}},
    "protocol": [
        {"name": "explore", "trials": 10, "epochs": 3},
        {"name": "confirm", "mode": "top-k", "top_k": 2, "epochs": 6},
    ],
    "trainer": {"module": "hpoctl.trainers.mlp"},
}


@pytest.fixture
def base_spec() -> dict:
    return copy.deepcopy(BASE_SPEC)


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys):
    """Run `hpoctl ARGS...` in this process; returns exit code, stdout and stderr."""

    def run(*args: str) -> CliResult:
        code = main(list(args))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def kube_tools():
    """The folder of the real Kubernetes tier's binaries (tests/kube_tools.py)."""
    from tests.kube_tools import find_tools

    return find_tools()
