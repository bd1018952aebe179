"""Golden files of the rendered Experiments: every built-in study's first target, every stage.

On a mismatch the test prints a unified diff and the command that regenerates the files; review the
diff before regenerating.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from hpoctl.catalog import builtin_names, load_study
from hpoctl.katib.errors import KatibUnsupported
from hpoctl.katib.manifest_io import dump_manifests
from hpoctl.katib.render import hpoctl_installation
from hpoctl.katib.validate import validate_experiment
from tests.katib.conftest import render

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "katib"
REGENERATE = "HPOCTL_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/katib -k golden"
# forecast has two objectives and NSGA-II, which Katib lacks: its golden file runs on hpoctl-optuna (Katib's own
# algorithms only, --algorithm katib, is a one-line error, checked below).
OPTIONS: dict[str, dict] = {}


def first_target(study: str) -> str:
    return next(iter(load_study(study).spec.targets))


@pytest.mark.parametrize("study", builtin_names())
def test_golden_experiments(study):
    rendered = render(study, first_target(study), **OPTIONS.get(study, {}))
    assert [r.stage.name for r in rendered] == [s.name for s in load_study(study).spec.protocol]
    for item in rendered:
        assert validate_experiment(item.manifest, installation=hpoctl_installation()) == []
    text = dump_manifests([r.manifest for r in rendered])
    path = GOLDEN / f"{study}.yaml"
    if os.environ.get("HPOCTL_REGEN_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    expected = path.read_text(encoding="utf-8") if path.exists() else ""
    if text != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True), text.splitlines(keepends=True), str(path), "rendered now"
            )
        )
        pytest.fail(f"{path.name} differs from the rendered Experiments:\n{diff}\nregenerate with: {REGENERATE}")


def test_golden_forecast_on_katibs_own_algorithms_is_one_line_error():
    with pytest.raises(KatibUnsupported) as caught:
        render("forecast", first_target("forecast"), algorithm="katib")
    message = str(caught.value)
    assert "\n" not in message
    assert "2 objectives (mae, picp)" in message and "hpoctl-optuna" in message and "--scalarise" in message
