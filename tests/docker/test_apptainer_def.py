"""docker/hpoctl.def, the Apptainer definition SLURM jobs run: parsed offline with spython (no Apptainer here)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from .dockerfile import parse

spython_parsers = pytest.importorskip("spython.main.parse.parsers")

REPO = Path(__file__).resolve().parents[2]
DEFINITION = REPO / "docker" / "hpoctl.def"
CHART_VALUES = yaml.safe_load((REPO / "helm" / "hpoctl" / "values.yaml").read_text())
CHART = yaml.safe_load((REPO / "helm" / "hpoctl" / "Chart.yaml").read_text())


@pytest.fixture(scope="module")
def recipe():
    recipes = spython_parsers.SingularityParser(str(DEFINITION)).recipe
    assert list(recipes) == ["spython-base"], "one stage"
    return recipes["spython-base"]


def sections() -> dict[str, str]:
    """The raw %sections of the definition (spython folds %help into comments)."""
    found, name = {}, None
    for line in DEFINITION.read_text().splitlines():
        m = re.match(r"^%(\w+)\s*$", line)
        if m:
            name = m.group(1)
            found[name] = ""
        elif name:
            found[name] += line + "\n"
    return found


def test_bootstraps_from_the_trainer_image(recipe):
    header = DEFINITION.read_text().split("%", 1)[0]
    assert re.search(r"^Bootstrap:\s*docker\s*$", header, re.MULTILINE)
    trainer = CHART_VALUES["images"]["trainer"]
    assert recipe.fromHeader == f"{trainer['repository']}:{CHART['appVersion']}"


def test_runscript_runs_a_trainer_module_like_the_image(recipe):
    """`apptainer run IMAGE hpoctl.trainers.everest ...` is `python -m hpoctl.trainers.everest ...`, as in a pod."""
    assert recipe.cmd == 'exec python -m "$@"'
    entrypoint = parse(REPO / "docker" / "trainer.Dockerfile").final.last("ENTRYPOINT").exec_form()
    assert recipe.cmd.split()[1:-1] == entrypoint


def test_environment(recipe):
    env = dict(item.split("=", 1) for item in recipe.environ)
    assert env["PATH"] == "/opt/venv/bin:$PATH", "the trainer image's venv comes first"
    assert env["PYTHONUNBUFFERED"] == "1"
    cache = CHART_VALUES["persistence"]["cache"]["mountPath"]
    assert env["HPOCTL_CACHE_DIR"] == f'"${{HPOCTL_CACHE_DIR:-{cache}}}"', "a caller's value wins"


def test_labels(recipe):
    labels = dict(label.split(" ", 1) for label in recipe.labels)
    assert labels["org.opencontainers.image.title"] == "hpoctl-trainer"
    assert labels["org.opencontainers.image.version"] == CHART["appVersion"]


def test_help_explains_binds_and_gpus():
    text = sections()["help"]
    assert "--nv" in text and "--bind" in text
    for mount in ("/data", "/cache", "/results"):
        assert mount in text


def test_self_test_imports_the_trainers(recipe):
    assert "import torch, lightning, hpoctl.trainers" in sections()["test"]
    assert recipe.test
