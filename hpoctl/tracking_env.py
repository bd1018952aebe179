"""The environment that tells a trainer where to log its run (the spec's `tracking:` entry).

Environment variables rather than flags: a user's own trainer keeps the contract without knowing them, where an
unknown `--tracking` flag would be a usage error. The trainer side is `hpoctl.trainers.common.tracking`. No key is
ever set here: WANDB_API_KEY or MLFLOW_TRACKING_TOKEN reach the trainer from the launcher's own environment
(local, SLURM) or a Kubernetes Secret (Katib, `katib.secret_env`).
"""

from __future__ import annotations

import json

from hpoctl.plan import Plan

BACKEND = "HPOCTL_TRACKING"
PROJECT = "HPOCTL_TRACKING_PROJECT"
GROUP = "HPOCTL_TRACKING_GROUP"
RUN = "HPOCTL_TRACKING_RUN"
"""Left out on Katib, whose pod webhook sets KATIB_TRIAL_NAME: the trainer names the run after it."""
URI = "HPOCTL_TRACKING_URI"
ENTITY = "HPOCTL_TRACKING_ENTITY"
MODE = "HPOCTL_TRACKING_MODE"
TAGS = "HPOCTL_TRACKING_TAGS"
"""The spec's tags as a JSON object."""
STAGE = "HPOCTL_STAGE"


def default_project(study: str) -> str:
    return f"hpoctl-{study}"


def local_run_name(plan: Plan, stage: str, number: int) -> str:
    """A local or SLURM trial's run: `<study>-<target>-<stage>-<trial number>`."""
    return f"{plan.study}-{plan.target}-{stage}-{number}"


def tracking_env(plan: Plan, *, stage: str, run_name: str | None) -> dict[str, str]:
    """The variables for one trial; empty when the study tracks nothing."""
    tracking = plan.tracking
    if tracking is None:
        return {}
    env = {
        BACKEND: tracking.backend,
        PROJECT: tracking.project or default_project(plan.study),
        GROUP: f"{plan.study}/{plan.target}",
        MODE: tracking.mode,
        STAGE: stage,
    }
    optional = {RUN: run_name, URI: tracking.uri, ENTITY: tracking.entity}
    env.update({name: value for name, value in optional.items() if value is not None})
    if tracking.tags:
        env[TAGS] = json.dumps(tracking.tags, sort_keys=True)
    return env
