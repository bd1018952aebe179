"""`hpoctl validate` warns, in one line on stderr and with exit 0, about a sampler and pruner pairing that
bench/search shows to stall; the built-in studies get no warning."""

from __future__ import annotations

import pytest
import yaml

from hpoctl.catalog import builtin_names


def spec(algorithm: str, early_stopping: dict) -> dict:
    return {
        "name": "toy",
        "targets": {"t": {}},
        "parameters": {"x": {"type": "float", "low": 0.0, "high": 1.0, "default": 0.5}},
        "objectives": [{"metric": "loss", "direction": "minimize"}],
        "algorithm": {"name": algorithm},
        "early_stopping": early_stopping,
        "protocol": [{"name": "s", "trials": 10, "epochs": 5}],
        "trainer": {"command": ["true"]},
    }


@pytest.mark.parametrize(
    ("algorithm", "early_stopping", "field"),
    [
        ("tpe", {"name": "successive-halving"}, "early_stopping.name"),
        (
            "tpe",
            {"name": "successive-halving", "settings": {"min_resource": 3, "reduction_factor": 3}},
            "early_stopping.name",
        ),
        ("tpe", {"name": "hyperband"}, "early_stopping.name"),
        ("tpe", {"name": "median", "settings": {"warmup_steps": 0}}, "early_stopping.settings.warmup_steps"),
    ],
)
def test_a_stalling_pairing_gets_one_warning_line_and_exit_0(algorithm, early_stopping, field, tmp_path, cli):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(spec(algorithm, early_stopping)))
    result = cli("validate", str(path))
    assert result.code == 0
    warnings = [line for line in result.err.splitlines() if "warning" in line]
    assert len(warnings) == 1, result.err
    assert warnings[0].startswith(f"{path}: warning: {field}: tpe with ")
    assert "stalls" in warnings[0]
    assert result.out == ""


@pytest.mark.parametrize(
    ("algorithm", "early_stopping"),
    [
        ("tpe", {"name": "median"}),
        ("tpe", {"name": "none"}),
        ("random", {"name": "successive-halving"}),
        ("random", {"name": "hyperband"}),
        ("random", {"name": "median", "settings": {"warmup_steps": 0}}),
    ],
)
def test_pairings_that_do_not_stall_get_no_warning(algorithm, early_stopping, tmp_path, cli):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(spec(algorithm, early_stopping)))
    result = cli("validate", str(path))
    assert result.code == 0
    assert "warning" not in result.err


def test_the_built_in_studies_get_no_warning(cli):
    result = cli("validate", *builtin_names())
    assert result.code == 0
    assert "warning" not in result.err
    assert len(result.err.strip().splitlines()) == len(builtin_names())
