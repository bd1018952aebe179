"""The Apptainer side of SLURM jobs: no Apptainer or Singularity binary exists here, so the definition the jobs
run is parsed with spython (the rendered `apptainer exec` line is checked in test_render), and the README says
how to build the image."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hpoctl.catalog import load_study

REPO = Path(__file__).resolve().parents[2]
spython_parsers = pytest.importorskip("spython.main.parse.parsers")


def test_the_apptainer_definition_runs_the_worker():
    """The jobs run `apptainer exec IMAGE hpoctl worker ...`: the image must put hpoctl's venv on PATH, and its
    registry image is the one a job pulls when slurm.image is not set."""
    definition = REPO / "docker" / "hpoctl.def"
    (recipe,) = spython_parsers.SingularityParser(str(definition)).recipe.values()
    env = dict(item.split("=", 1) for item in recipe.environ)
    assert env["PATH"].startswith("/opt/venv/bin:")
    assert recipe.fromHeader == load_study("everest").spec.trainer.image
    dockerfile = (REPO / "docker" / "trainer.Dockerfile").read_text()
    assert re.search(r"pip install .*hpoctl\[train,tracking\]", dockerfile), "the image installs hpoctl, with its CLI"
    assert 'hpoctl = "hpoctl.cli.app:run"' in (REPO / "pyproject.toml").read_text()


def test_the_readme_explains_sif_images_binds_and_gpus():
    readme = (REPO / "README.md").read_text()
    section = readme.split("## SLURM and Apptainer")[1].split("\n## ")[0]
    for text in (
        "apptainer build",
        "apptainer pull",
        "docker://ghcr.io/hpoctl/trainer",
        "--nv",
        "--bind",
        "--runtime none",
    ):
        assert text in section, text
