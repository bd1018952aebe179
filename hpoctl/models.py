"""Saved models out of a results folder: the best trial's model with a model card (`hpoctl model export`), and a
saved model scored again by its own trainer (`hpoctl model evaluate`).

A model folder is what a trainer's `--save-model` wrote: model.ckpt (a Lightning checkpoint), hyperparameters.yaml
(the trial's arguments, enough to rebuild the network and its data) and model.json (the epoch kept and its
metrics). The trainer is imported by neither function: evaluating runs it as a child process, as a trial runs.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hpoctl import atomic
from hpoctl.errors import HpoctlError, ResultsError, UsageError
from hpoctl.plan import Plan, encode_value
from hpoctl.results import layout
from hpoctl.results.provenance import git_revision, package_versions
from hpoctl.trainer_contract import MODEL_CHECKPOINT, MODEL_HYPERPARAMETERS, MODEL_INFO
from hpoctl.trial_process import run_trial_process
from hpoctl.yamlio import load_yaml_file

CARD = "MODEL_CARD.md"
CARD_JSON = "model_card.json"
MODEL_FILES = (MODEL_CHECKPOINT, MODEL_HYPERPARAMETERS, MODEL_INFO)
#: Two scores of the same weights on the same data agree to this (float32 sums in another order on a GPU).
SCORE_TOLERANCE = 1e-6


@dataclass(frozen=True)
class BestModel:
    """The saved model of a study's best trial (for a confirmation's mean, its best repeat)."""

    folder: Path
    trial: int
    best: dict[str, Any]
    """best_params.json as the study gives it now."""


def best_model(plan: Plan, out_dir: Path, study_name: str | None = None) -> BestModel:
    from hpoctl.train_best import best_parameters

    best = best_parameters(plan, out_dir, study_name)
    trial = best["best_trial"]
    candidates = [trial["number"]]
    if trial.get("repeats"):
        repeats = trial["repeats"]
        sign = 1.0 if plan.directions[0] == "minimize" else -1.0
        ranked = sorted(zip(repeats["values"], repeats["trials"], strict=True), key=lambda vt: sign * vt[0][0])
        candidates = [number for _, number in ranked]
    for number in candidates:
        folder = layout.trial_dir(out_dir, number) / layout.MODEL_DIR
        if (folder / MODEL_CHECKPOINT).is_file():
            return BestModel(folder, number, best)
    raise ResultsError(
        f"trial {trial['number']} of {plan.study}/{plan.target} saved no model (only top-k stages save one, unless "
        "trainer.save_model is all); run a confirmation stage, or `hpoctl train-best`, which always saves one"
    )


def export_model(plan: Plan, out_dir: Path, dest: Path, study_name: str | None = None) -> dict[str, Any]:
    """Copy the best model into `dest` with MODEL_CARD.md and model_card.json; an old export there is replaced
    only once the new one is complete. Returns the card."""
    found = best_model(plan, out_dir, study_name)
    hyper = read_hyperparameters(found.folder)
    saved = read_model_info(found.folder)
    card = {
        "study": plan.study,
        "target": plan.target,
        "optuna_study": found.best.get("optuna_study"),
        "trial": found.trial,
        "stage": found.best["best_trial"]["stage"],
        "params": found.best["best_params"],
        "objectives": found.best["objectives"],
        "value": found.best.get("best_value"),
        "repeats": found.best["best_trial"].get("repeats"),
        "saved_epoch": saved,
        "trainer": hyper.get("trainer"),
        "seed": hyper.get("seed"),
        "epochs": hyper.get("epochs"),
        "data": data_fingerprint(hyper),
        "code": _code_version(),
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=_parent(dest)))
    try:
        for name in MODEL_FILES:
            shutil.copy2(found.folder / name, staging / name)
        atomic.write_json(staging / CARD_JSON, card)
        atomic.write_text(staging / CARD, model_card_text(card))
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return card


def evaluate_command(folder: Path, *, data: str | None = None, python: str = sys.executable) -> list[str]:
    """The trainer command that scores a saved model: the trial's own target, data arguments and
    hyperparameters, `--evaluate-model` in place of training; `data` scores it on other data."""
    hyper = read_hyperparameters(folder)
    trained_on = hyper.get("data")
    argv = [python, "-m", f"hpoctl.trainers.{hyper['trainer']}", "--target", str(hyper["target"])]
    argv += ["--epochs", str(hyper.get("epochs", 1))]
    argv += ["--seed", str(hyper.get("seed", 0))]
    if data or trained_on:
        argv += ["--data", str(data or trained_on)]
    if data is None or trained_on is not None:  # synthetic sizes mean nothing for the other data given
        data_args = hyper.get("data_args") or {}
        argv += [
            f"--{name.replace('_', '-')}={encode_value(data_args[name])}" for name in hyper.get("data_args_given", [])
        ]
    argv += [f"--{name}={encode_value(value)}" for name, value in (hyper.get("hyperparameters") or {}).items()]
    return [*argv, "--evaluate-model", str(folder)]


def evaluate_model(
    folder: Path, *, data: str | None = None, cache_dir: Path | None = None, workdir: Path | None = None
) -> dict[str, Any]:
    """Score a saved model with its trainer; with the data it was trained on, the metrics must equal model.json's."""
    saved = read_model_info(folder)
    # Absolute: the trainer runs in its own scratch folder.
    argv = evaluate_command(folder.absolute(), data=str(Path(data).absolute()) if data else None)
    if cache_dir is not None:
        argv += ["--cache-dir", str(cache_dir)]
    with tempfile.TemporaryDirectory(prefix="hpoctl-evaluate-") as scratch:
        where = workdir or Path(scratch)
        run = run_trial_process([*argv, "--output", str(where / "output")], where)
        if not run.ok or not run.history:
            raise HpoctlError(f"scoring the model in {folder} failed: {run.failure_reason()}")
    scored = {k: v for k, v in run.history[-1].items() if k != "epoch"}
    result: dict[str, Any] = {"model": str(folder), "epoch": saved.get("epoch"), "metrics": scored}
    if data is None:
        reached = saved.get("metrics") or {}
        differ = [k for k, v in scored.items() if k in reached and not _close(v, reached[k])]
        result["matches_saved"] = not differ
        result["saved_metrics"] = {k: reached[k] for k in scored if k in reached}
    return result


def read_hyperparameters(folder: Path) -> dict[str, Any]:
    path = _model_file(folder, MODEL_HYPERPARAMETERS)
    document = load_yaml_file(path)
    if not isinstance(document, dict) or not document.get("trainer") or not document.get("target"):
        raise ResultsError(f"{path} is not a trainer's hyperparameters.yaml (no trainer or target)")
    return document


def read_model_info(folder: Path) -> dict[str, Any]:
    path = _model_file(folder, MODEL_INFO)
    try:
        info = json.loads(path.read_text())
    except ValueError as e:
        raise ResultsError(f"{path} is not valid JSON ({e}); save the model again") from e
    return info if isinstance(info, dict) else {}


def data_fingerprint(hyper: dict[str, Any]) -> dict[str, Any]:
    """What the model was trained on: the data file's (or folder's) SHA-256 and size, or the synthetic generator's
    arguments."""
    data = hyper.get("data")
    if data is None:
        return {"kind": "synthetic", "arguments": hyper.get("data_args") or {}}
    path = Path(data)
    if not path.exists():
        return {"kind": "file", "path": data, "sha256": None, "note": "not readable here"}
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode() + b"\0")
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return {
        "kind": "folder" if path.is_dir() else "file",
        "path": data,
        "files": len(files),
        "bytes": sum(f.stat().st_size for f in files),
        "sha256": digest.hexdigest(),
    }


def model_card_text(card: dict[str, Any]) -> str:
    saved = card["saved_epoch"]
    metric = f"{saved.get('metric')} = {_fmt(saved.get('value'))} at epoch {saved.get('epoch')}"
    lines = [
        f"# {card['study']} / {card['target']}: model of trial {card['trial']}",
        "",
        f"- Stage `{card['stage']}`, trainer `{card['trainer']}`, seed {card['seed']}, {card['epochs']} epochs; "
        f"weights of the epoch `{saved.get('strategy')}` picks: {metric}.",
    ]
    repeats = card.get("repeats")
    if repeats:
        spread = ", ".join(_fmt(v[0]) for v in repeats["values"])
        lines.append(
            f"- Confirmed over {repeats['complete']} fresh seeds ({', '.join(map(str, repeats['seeds']))}): "
            f"mean {_fmt(card['value'])}, runs {spread}; this model is the best of them."
        )
    data = card["data"]
    if data["kind"] == "synthetic":
        lines.append("- Data: the trainer's synthetic generator (arguments in model_card.json).")
    else:
        lines.append(f"- Data: `{data['path']}` ({data.get('files', '?')} file(s), sha256 `{data.get('sha256')}`).")
    code = card["code"]
    git = code.get("git") or {}
    revision = f", git {git['commit'][:12]}{' (dirty)' if git.get('dirty') else ''}" if git.get("commit") else ""
    lines += [
        f"- Code: hpoctl {code['versions'].get('hpoctl')}, torch {code['versions'].get('torch')}{revision}.",
        "",
        "## Parameters",
        "",
        "| parameter | value |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in card["params"].items()),
        "",
        "## Use",
        "",
        "```",
        "hpoctl model evaluate .                 # scores it again on the data it was trained on",
        "hpoctl model evaluate . --data NEW.csv  # scores it on other data in the trainer's format",
        "```",
        "",
        "`model.ckpt` is a Lightning checkpoint (`torch.load(..., weights_only=False)['state_dict']`); "
        "`hyperparameters.yaml` holds every argument of the run that saved it.",
        "",
    ]
    return "\n".join(lines)


def _code_version() -> dict[str, Any]:
    """hpoctl's version (the built-in trainers ship in it) and the git revision of its source, when it has one."""
    return {"versions": package_versions(), "git": git_revision(str(Path(__file__).parent))}


def _model_file(folder: Path, name: str) -> Path:
    path = folder / name
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder; give a saved model's folder (trials/NNNNN/model or an export)")
    if not path.is_file():
        raise ResultsError(f"{folder} has no {name}: it is not a complete saved model")
    return path


def _parent(dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    return dest.parent


def _close(a: float, b: float) -> bool:
    return math.isclose(float(a), float(b), rel_tol=SCORE_TOLERANCE, abs_tol=SCORE_TOLERANCE)


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


__all__ = [
    "BestModel",
    "best_model",
    "data_fingerprint",
    "evaluate_command",
    "evaluate_model",
    "export_model",
    "model_card_text",
]
