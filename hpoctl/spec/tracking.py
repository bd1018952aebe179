"""The spec's `tracking:` entry: log every trial to Weights & Biases or MLflow (opt-in).

The entry names where runs go, never how to log in: an API key lives in the trainer's environment
(WANDB_API_KEY, MLFLOW_TRACKING_TOKEN) or a Kubernetes Secret, since a spec is copied into the results folder
(spec.yaml), rendered into manifests and printed by `hpoctl render`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr, model_validator

#: Names that hold credentials: a field or tag so named is refused without echoing its value.
_SECRET_NAME = re.compile(r"api[_.-]?key|token|secret|passw(or)?d|credential|(^|[_.-])(key|pwd)($|[_.-])", re.I)
SECRET_ADVICE = (
    "put the API key in the environment (WANDB_API_KEY / MLFLOW_TRACKING_TOKEN) or a Kubernetes Secret "
    "(katib.secret_env in hpoctl.yaml), never in the spec"
)
_W_AND_B_NAME = re.compile(r"[^/\\#?%:\s][^/\\#?%:]{0,127}")


def _project_name(value: str) -> str:
    """W&B refuses these characters in project and entity names; MLflow's experiment names take them, but one spec
    should work with either backend."""
    if not _W_AND_B_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not a W&B name (1 to 128 characters, none of / \\ # ? % :, no leading space)")
    return value


ProjectName = Annotated[StrictStr, AfterValidator(_project_name)]


class Tracking(BaseModel):
    """Where each trial's run goes: one run per trial, grouped by `<study>/<target>`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Literal["wandb", "mlflow"]
    project: ProjectName | None = Field(
        default=None, description="W&B project or MLflow experiment; `hpoctl-<study name>` when left out."
    )
    uri: StrictStr | None = Field(
        default=None,
        description="MLflow tracking URI (file:///path/mlruns, http://mlflow:5000); W&B: a self-hosted server's URL.",
    )
    entity: ProjectName | None = Field(default=None, description="W&B team or user; MLflow has none.")
    mode: Literal["online", "offline"] = Field(
        default="online", description="W&B offline writes runs next to the trial's outputs for `wandb sync`."
    )
    tags: dict[Annotated[str, Field(min_length=1, max_length=250)], StrictStr] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _refuse_secrets(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"backend": value}  # `tracking: mlflow`
        if isinstance(value, dict):
            _check_names("field", value)
            if isinstance(value.get("tags"), dict):
                _check_names("tag", value["tags"])
        return value

    @model_validator(mode="after")
    def _check(self):
        if self.entity is not None and self.backend != "wandb":
            raise ValueError("entity is a W&B team or user; MLflow has none, drop it")
        if self.uri is not None:
            if not self.uri.strip():
                raise ValueError("uri: an empty URI")
            if "@" in urlsplit(self.uri).netloc:
                raise ValueError(f"uri: credentials in the URI; {SECRET_ADVICE}")
        return self


def _check_names(kind: str, names: Iterable[Any]) -> None:
    for name in names:
        if isinstance(name, str) and _SECRET_NAME.search(name):
            raise ValueError(f"{kind} {name!r} looks like a secret; {SECRET_ADVICE}")
