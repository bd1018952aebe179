"""A team's own data in, a trained model out, on the local backend with the real EVEREST trainer: a launch on the
example SHARP CSV confirms over fresh seeds and saves each confirmation's model; `hpoctl model export` copies the
best with its card; `hpoctl model evaluate` loads it and scores what it reached; train-best saves its model."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from hpoctl.results import layout
from tests.results.synthetic import build_everest, write

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "data"
SHARP = EXAMPLES / "everest" / "everest.csv"
SPEC = {
    "name": "flares",
    "seed": 7,
    "parameters": {"learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True, "default": 1e-3}},
    "targets": {"M_24h": {"args": {"flare-class": "M", "window": 24}}},
    "objectives": [{"metric": "tss", "direction": "maximize", "strategy": "max"}],
    "algorithm": {"name": "random", "settings": {"seed": 1}},
    "protocol": [
        {"name": "exploration", "trials": 2, "epochs": 2},
        {"name": "confirmation", "mode": "top-k", "top_k": 1, "repeats": 2, "epochs": 3},
    ],
    "trainer": {
        "module": "hpoctl.trainers.everest",
        "args": {"embed_dim": 16, "num_blocks": 1, "batch_size": 64, "threads": 1},
    },
    "limits": {"parallelism": 2},
}


@pytest.fixture(scope="module")
def launched(tmp_path_factory):
    from hpoctl.cli.app import main

    root = tmp_path_factory.mktemp("models-out")
    spec = root / "flares.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    common = [str(spec), "-t", "M_24h", "--data", str(SHARP), "--results", str(root / "results")]
    assert main(["launch", *common]) == 0
    return common, root / "results" / "flares" / "M_24h"


def test_confirmation_trials_save_the_model_of_their_best_epoch(launched):
    _, folder = launched
    study = layout.load_folder_study(folder)
    for trial in study.trials:
        model = layout.trial_dir(folder, trial.number) / layout.MODEL_DIR
        confirmation = trial.user_attrs["stage"] == "confirmation"
        assert (model / "model.ckpt").is_file() == confirmation, trial.number
        if confirmation:
            info = json.loads((model / "model.json").read_text())
            assert info["metric"] == "tss" and info["strategy"] == "max"
            assert info["value"] == pytest.approx(trial.value)  # the objective, max over epochs, is that epoch's


def test_export_copies_the_best_model_with_its_card_and_it_scores_the_same(launched, cli, tmp_path):
    common, folder = launched
    exported = tmp_path / "export"
    done = cli("model", "export", *common, "--to", str(exported), "-o", "json")
    assert done.code == 0, done.err
    card = json.loads(done.out)
    best = json.loads((folder / "best_params.json").read_text())
    assert card["params"] == best["best_params"] and card["stage"] == "confirmation"
    assert card["repeats"]["complete"] == 2 and card["trial"] in card["repeats"]["trials"]
    assert card["data"]["sha256"] == hashlib.sha256(SHARP.read_bytes()).hexdigest()
    assert card["code"]["versions"]["hpoctl"]
    assert sorted(p.name for p in exported.iterdir()) == [
        "MODEL_CARD.md", "hyperparameters.yaml", "model.ckpt", "model.json", "model_card.json"
    ]  # fmt: skip
    text = (exported / "MODEL_CARD.md").read_text()
    assert "Confirmed over 2 fresh seeds" in text and card["data"]["sha256"] in text
    hyper = yaml.safe_load((exported / "hyperparameters.yaml").read_text())
    assert hyper["data"] == str(SHARP) and hyper["seed"] in card["repeats"]["seeds"]

    scored = cli("model", "evaluate", str(exported), "-o", "json")
    assert scored.code == 0, scored.err
    result = json.loads(scored.out)
    assert result["matches_saved"] is True
    assert result["metrics"]["tss"] == card["saved_epoch"]["value"]
    on_data = json.loads(cli("model", "evaluate", str(exported), "--data", str(SHARP), "-o", "json").out)
    assert on_data["metrics"]["tss"] == card["saved_epoch"]["value"]  # the same file given as new data


def test_train_best_saves_its_model(launched, cli):
    common, folder = launched
    done = cli("train-best", *common, "--epochs", "2", "-o", "json")
    assert done.code == 0, done.err
    (run,) = json.loads(done.out)["runs"]
    assert (Path(run["model"]) / "model.ckpt").is_file()
    assert Path(run["model"]).is_relative_to(folder / "train_best")


def test_no_saved_model_and_not_a_model_are_one_line_each(cli, tmp_path):
    study, plan = build_everest(tmp_path / "results")  # trials recorded, no model saved
    write(tmp_path / "results", study, plan, plots=False)
    done = cli("model", "export", "everest", "-t", "M_24h", "--preset", "quick", "--results", str(tmp_path / "results"))
    assert done.code == 1 and "saved no model" in done.err and done.err.count("\n") == 1
    missing = cli("model", "evaluate", str(tmp_path / "nowhere"))
    assert missing.code == 2 and missing.err.count("\n") == 1 and "is not a folder" in missing.err
    empty = tmp_path / "empty"
    empty.mkdir()
    incomplete = cli("model", "evaluate", str(empty))
    assert incomplete.code == 1 and "it is not a complete saved model" in incomplete.err
