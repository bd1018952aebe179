"""hpoctl's Katib validator held against Katib v0.19.0's own admission code (tools/katib-admission, which
links Katib's Experiment defaulter and validator from its Go module): on a corpus of one-rule cases, on
every Experiment hpoctl renders for the built-in studies and on Katib's official examples, the two must
agree on whether Katib's webhook admits it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from hpoctl.catalog import builtin_names
from hpoctl.katib.job_roundtrip import field_table
from hpoctl.katib.katib_config import from_katib_config
from hpoctl.katib.register import suggestion_entry, with_entry
from hpoctl.katib.validate import validate_experiment, webhook_refusals
from tests.katib.admission_corpus import CASES
from tests.katib.conftest import REFERENCE, render
from tests.kube_tools import KATIB_CONFIG

EXAMPLES = sorted((REFERENCE / "examples").glob("*.yaml"))
TRIAL_TEMPLATES = REFERENCE / "trial-templates.v0.19.0.yaml"


@pytest.fixture(scope="module")
def registered_config(kube_tools, tmp_path_factory) -> Path:
    """Katib's own katib-config (from its module) with hpoctl-optuna registered as `hpoctl katib register` does."""
    config = yaml.safe_load((kube_tools / KATIB_CONFIG).read_text())
    registered, _ = with_entry(config, suggestion_entry())
    path = tmp_path_factory.mktemp("katib") / "katib-config.yaml"
    path.write_text(yaml.safe_dump(registered))
    return path


def judge(kube_tools: Path, config: Path, documents: list[dict], tmp: Path, *extra: str) -> list[dict]:
    path = tmp / "experiments.yaml"
    path.write_text("\n---\n".join(json.dumps(d) for d in documents))  # JSON is YAML, with no typing surprises
    done = subprocess.run(
        [str(kube_tools / "bin" / "katib-admission"), "judge", "--katib-config", str(config), *extra, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    verdicts = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(verdicts) == len(documents), done.stderr
    return verdicts


def hpoctl_admits(experiment: dict, config: Path, **kwargs) -> tuple[bool, list[str]]:
    installation = from_katib_config(yaml.safe_load(config.read_text()))
    problems = validate_experiment(experiment, installation=installation, **kwargs)
    return not webhook_refusals(problems), problems


@pytest.fixture(scope="module")
def base() -> dict:
    return render("mlp")[0].manifest


@pytest.fixture(scope="module")
def corpus_verdicts(kube_tools, registered_config, base, tmp_path_factory) -> list[dict]:
    documents = [case.experiment(base) for case in CASES]
    return judge(kube_tools, registered_config, documents, tmp_path_factory.mktemp("corpus"))


def test_the_corpus_has_at_least_sixty_cases_of_both_verdicts():
    assert len(CASES) >= 60
    assert len({case.id for case in CASES}) == len(CASES)
    assert sum(case.admitted for case in CASES) >= 20 and sum(not case.admitted for case in CASES) >= 40


@pytest.mark.parametrize("index", range(len(CASES)), ids=[case.id for case in CASES])
def test_katib_and_hpoctl_agree_on_each_corpus_case(index, corpus_verdicts, registered_config, base):
    case, verdict = CASES[index], corpus_verdicts[index]
    assert verdict["allowed"] == case.admitted, f"Katib's webhook: {verdict['message']}"
    admitted, problems = hpoctl_admits(case.experiment(base), registered_config)
    assert admitted == verdict["allowed"], f"Katib: {verdict['message'] or 'admitted'}; hpoctl: {problems}"


def test_the_namespace_label_rule_is_katibs(kube_tools, registered_config, base, tmp_path):
    (verdict,) = judge(kube_tools, registered_config, [base], tmp_path, "--unlabelled-namespace")
    assert not verdict["allowed"] and "katib.kubeflow.org/metrics-collector-injection" in verdict["message"]


def test_every_experiment_hpoctl_renders_is_admitted_by_katib(kube_tools, registered_config, tmp_path):
    rendered = [r for study in builtin_names() for r in render(study)]
    assert len(rendered) >= 39
    verdicts = judge(kube_tools, registered_config, [r.manifest for r in rendered], tmp_path)
    refused = [f"{v['name']}: {v['message']}" for v in verdicts if not v["allowed"]]
    assert refused == []
    for r in rendered:
        assert (
            validate_experiment(
                r.manifest, installation=from_katib_config(yaml.safe_load(registered_config.read_text()))
            )
            == []
        )


def _resolve_trial_template(namespace: str, name: str, path: str) -> str | None:
    for config_map in yaml.safe_load_all(TRIAL_TEMPLATES.read_text()):
        meta = config_map["metadata"]
        if (meta.get("namespace"), meta["name"]) == (namespace, name):
            return (config_map.get("data") or {}).get(path)
    return None


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_katib_and_hpoctl_agree_on_katibs_examples(example, kube_tools, tmp_path):
    config = REFERENCE / "katib-config.standalone.v0.19.0.yaml"
    documents = [d for d in yaml.safe_load_all(example.read_text()) if d]
    verdicts = judge(kube_tools, config, documents, tmp_path, "--objects", str(TRIAL_TEMPLATES))
    for document, verdict in zip(documents, verdicts, strict=True):
        admitted, problems = hpoctl_admits(document, config, resolve_config_map=_resolve_trial_template)
        assert admitted == verdict["allowed"], f"Katib: {verdict['message'] or 'admitted'}; hpoctl: {problems}"


def test_the_job_field_table_is_the_one_katibs_kubernetes_types_give(kube_tools):
    done = subprocess.run(
        [str(kube_tools / "bin" / "katib-admission"), "job-fields"], capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == field_table(), "refresh katib/data/job_fields.json: katib-admission job-fields"
