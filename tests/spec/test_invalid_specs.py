"""`hpoctl validate` rejects malformed specs: exit 1, one line per problem naming the field, no traceback."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import yaml


def _set(spec: dict, path: str, value) -> dict:
    node = spec
    *parents, leaf = path.split(".")
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(leaf)] = value
    else:
        node[leaf] = value
    return spec


def _del(spec: dict, path: str) -> dict:
    node = spec
    *parents, leaf = path.split(".")
    for part in parents:
        node = node[part]
    del node[leaf]
    return spec


# (id, mutation of the base spec, text the error line must contain)
CASES = [
    ("wrong-type", lambda s: _set(s, "parameters.layers.low", "one"), "parameters.layers.low"),
    ("low-above-high", lambda s: _set(s, "parameters.layers.low", 9), "low must be less than high"),
    ("log-low-zero", lambda s: _set(s, "parameters.lr.low", 0.0), "log-scale range needs low > 0"),
    ("log-low-negative", lambda s: _set(s, "parameters.lr.low", -1.0), "log-scale range needs low > 0"),
    ("unknown-top-field", lambda s: _set(s, "sampler", "tpe"), "sampler: unknown field"),
    (
        "unknown-param-field",
        lambda s: _set(s, "parameters.lr.scale", "log"),
        "parameters.lr.scale: unknown field",
    ),
    ("empty-choices", lambda s: _set(s, "parameters.optimizer.choices", []), "choices must not be empty"),
    ("duplicate-choice", lambda s: _set(s, "parameters.optimizer.choices", ["adam", "adam", "sgd"]), "twice"),
    (
        "default-not-a-choice",
        lambda s: _set(s, "parameters.optimizer.default", "rmsprop"),
        "not one of the choices",
    ),
    ("default-out-of-range", lambda s: _set(s, "parameters.layers.default", 7), "outside [1, 4]"),
    ("unknown-param-type", lambda s: _set(s, "parameters.layers.type", "integer"), "type must be one of"),
    (
        "condition-unknown-param",
        lambda s: _set(s, "parameters.momentum.when", {"solver": ["sgd"]}),
        "condition on unknown parameter 'solver'",
    ),
    (
        "condition-value-not-a-choice",
        lambda s: _set(s, "parameters.momentum.when", {"optimizer": ["rmsprop"]}),
        "'rmsprop' is not one of 'optimizer'",
    ),
    (
        "condition-on-numeric",
        lambda s: _set(s, "parameters.momentum.when", {"layers": [1]}),
        "must name a categorical parameter",
    ),
    ("unknown-algorithm", lambda s: _set(s, "algorithm.name", "bayesopt"), "algorithm.name"),
    (
        "setting-not-taken",
        lambda s: _set(s, "algorithm", {"name": "random", "settings": {"n_startup_trials": 5}}),
        "takes no setting 'n_startup_trials'",
    ),
    (
        "setting-wrong-type",
        lambda s: _set(s, "algorithm.settings.n_startup_trials", "20"),
        "n_startup_trials must be an integer",
    ),
    ("unknown-early-stopping", lambda s: _set(s, "early_stopping.name", "asha"), "early_stopping.name"),
    (
        "pruner-setting-not-taken",
        lambda s: _set(s, "early_stopping.settings", {"reduction_factor": 3}),
        "takes no setting 'reduction_factor'",
    ),
    ("stage-zero-trials", lambda s: _set(s, "protocol.0.trials", 0), "trials must be at least 1"),
    ("stage-zero-epochs", lambda s: _set(s, "protocol.0.epochs", 0), "epochs must be at least 1"),
    ("top-k-too-large", lambda s: _set(s, "protocol.1.top_k", 11), "larger than the previous stage"),
    (
        "first-stage-top-k",
        lambda s: _set(s, "protocol", [{"name": "a", "mode": "top-k", "top_k": 2, "epochs": 1}]),
        "cannot be top-k",
    ),
    (
        "duplicate-stage",
        lambda s: _set(s, "protocol.1", {"name": "explore", "trials": 3, "epochs": 2}),
        "stage name 'explore' appears twice",
    ),
    (
        "direction-misspelt",
        lambda s: _set(s, "objectives.0.direction", "minimise"),
        "objectives[0].direction",
    ),
    ("objective-no-direction", lambda s: _set(s, "objectives.0", {"metric": "loss"}), "needs direction"),
    (
        "target-and-maximize",
        lambda s: _set(s, "objectives.0", {"metric": "picp", "target": 0.8, "direction": "maximize"}),
        "has a target",
    ),
    (
        "expression-with-call",
        lambda s: _set(
            s,
            "objectives.0",
            {"metric": "o", "direction": "minimize", "expression": "__import__('os').getcwd()"},
        ),
        "may use only numbers",
    ),
    (
        "multi-objective-cmaes",
        lambda s: _set(
            _set(s, "algorithm", {"name": "cmaes"}),
            "objectives",
            [{"metric": "a", "direction": "minimize"}, {"metric": "b", "direction": "maximize"}],
        ),
        "optimises one objective",
    ),
    (
        "multi-objective-pruning",
        lambda s: _set(
            s,
            "objectives",
            [{"metric": "a", "direction": "minimize"}, {"metric": "b", "direction": "maximize"}],
        ),
        "cannot prune multi-objective",
    ),
    (
        "duplicate-objective",
        lambda s: _set(s, "objectives", [{"metric": "a", "direction": "minimize"}] * 2),
        "metric 'a' appears twice",
    ),
    ("missing-objectives", lambda s: _del(s, "objectives"), "objectives: required field is missing"),
    ("bad-duration", lambda s: _set(s, "limits", {"timeout": "24 hours"}), "limits.timeout"),
    ("study-name-not-dns", lambda s: _set(s, "name", "My_Study"), "name: String should match pattern"),
    ("negative-gpu", lambda s: _set(s, "resources", {"gpu": -1}), "resources.gpu"),
    (
        "trainer-module-and-command",
        lambda s: _set(s, "trainer.command", ["python", "train.py"]),
        "exactly one of module or command",
    ),
    (
        "unknown-search-space",
        lambda s: _set(s, "targets.small.search_space", "nope"),
        "is not in search_spaces",
    ),
    ("reserved-target-all", lambda s: _set(s, "targets.all", {}), "'all' is reserved"),
    ("grid-continuous", lambda s: _set(s, "algorithm", {"name": "grid"}), "grid search needs a step"),
    ("log-with-step", lambda s: _set(s, "parameters.lr.step", 0.01), "takes no step"),
    ("parallelism-zero", lambda s: _set(s, "limits", {"parallelism": 0}), "limits.parallelism"),
    (
        "bad-preset",
        lambda s: _set(s, "presets", {"quick": {"protocol": [{"name": "x", "trials": 0, "epochs": 1}]}}),
        "presets.quick: protocol[0]",
    ),
    ("bad-node-pool", lambda s: _set(s, "resources", {"node_pool": "GPU Pool"}), "resources.node_pool"),
]


@pytest.mark.parametrize(("mutate", "expected"), [(m, e) for _, m, e in CASES], ids=[c[0] for c in CASES])
def test_validate_rejects(mutate, expected, base_spec, tmp_path, cli):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(mutate(copy.deepcopy(base_spec))))
    result = cli("validate", str(path))
    assert result.code == 1, result.err
    assert expected in result.err, result.err
    assert "Traceback" not in result.err
    assert all(line.startswith(f"error: {path}:") for line in result.err.strip().splitlines()), result.err


def test_base_spec_is_valid(base_spec, tmp_path, cli):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(base_spec))
    result = cli("validate", str(path))
    assert result.code == 0, result.err


def test_every_problem_reported_at_once(base_spec, tmp_path, cli):
    _set(base_spec, "parameters.layers.low", 9)
    _set(base_spec, "parameters.lr.low", 0.0)
    _set(base_spec, "objectives.0.direction", "minimise")
    _set(base_spec, "protocol.0.epochs", 0)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(base_spec))
    result = cli("validate", str(path))
    lines = result.err.strip().splitlines()
    assert result.code == 1
    assert len(lines) == 4, result.err
    for field in ("parameters.layers", "parameters.lr", "objectives[0].direction", "protocol[0]"):
        assert any(field in line for line in lines), (field, lines)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "name: toy\nparameters:\n  lr: {type: float, low: 0.1, high: 1, default: 0.5}\n"
            "  lr: {type: int, low: 1, high: 2, default: 1}\n",
            "duplicate key 'lr'",
        ),
        ("name: [toy\n", "not valid YAML"),
        ("- just\n- a list\n", "a study spec is a mapping"),
        ("name: !!python/object/apply:os.getcwd []\n", "not valid YAML"),
    ],
    ids=["duplicate-parameter", "yaml-syntax", "not-a-mapping", "unsafe-tag"],
)
def test_validate_rejects_bad_yaml(text, expected, tmp_path, cli):
    path = tmp_path / "study.yaml"
    path.write_text(text)
    result = cli("validate", str(path))
    assert result.code == 1
    assert expected in result.err, result.err


def test_missing_file_and_unknown_study(cli):
    result = cli("validate", "does/not/exist.yaml")
    assert result.code == 1 and "file not found" in result.err
    result = cli("validate", "everest", "nosuchstudy")
    assert result.code == 1
    assert "unknown study 'nosuchstudy'" in result.err and "everest" in result.err


def test_installed_command_prints_no_traceback(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text("name: toy\nparameters: {lr: {type: float, low: 1, high: 0, default: 0.5}}\n")
    result = subprocess.run([sys.executable, "-m", "hpoctl", "validate", str(path)], capture_output=True, text=True)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "low must be less than high" in result.stderr
