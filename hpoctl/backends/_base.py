"""The one interface every backend implements (local, katib, slurm), and the typed values it takes and returns.

The CLI reaches a backend only through `Backend`: render (what `hpoctl render` and `launch --dry-run` print),
launch, status, results (pull into the one results layout), cancel and delete. Launch is idempotent: launching
what already exists resumes or reports it, never duplicates it. A capability a backend lacks raises
`BackendUnsupported`, naming the backend.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from hpoctl.errors import UsageError
from hpoctl.plan import Plan


class BackendUnsupported(UsageError):
    """A command or option a backend has no use for: one line naming the backend, exit 2."""

    def __init__(self, backend: str, what: str, hint: str = ""):
        super().__init__(f"the {backend} backend does not {what}" + (f"; {hint}" if hint else ""))
        self.backend = backend


@dataclass(frozen=True)
class Options:
    """What every backend takes; each backend's own options (LocalOptions, KatibOptions, SlurmOptions, next
    to the backend) add its settings to these."""

    results_dir: Path = Path("results")
    stage: str | None = None
    n_jobs: int | None = None
    timeout: int | None = None
    seed: int | None = None
    study_name: str | None = None
    resume: bool = True
    follow: bool = False
    config: Path | None = None


@dataclass(frozen=True)
class Rendered:
    """What a backend would run, never applied: `text` for stdout (manifests, scripts or commands), the same as
    `documents` for `-o json`, `notes` (whole lines) for stderr."""

    text: str
    documents: list[Any] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: Any = None  # what `-o json` prints, when not the documents (Katib: one manifest or a List)

    def json_data(self) -> Any:
        return self.documents if self.data is None else self.data


#: What a launch did for a target's stage (`Launched.events[*].action`).
LAUNCH_ACTIONS = ("created", "submitted", "resumed", "running", "waiting", "done", "stopped", "failed")


@dataclass(frozen=True)
class LaunchEvent:
    study: str
    target: str
    stage: str | None
    action: str
    message: str

    def __post_init__(self):
        if self.action not in LAUNCH_ACTIONS:
            raise ValueError(f"launch action {self.action!r} is not one of {LAUNCH_ACTIONS}")


@dataclass
class Launched:
    """What `launch` created, resumed or found done, target by target (`launch -o json` prints it)."""

    backend: str
    events: list[LaunchEvent] = field(default_factory=list)

    def add(self, study: str, target: str, stage: str | None, action: str, message: str) -> None:
        self.events.append(LaunchEvent(study, target, stage, action, message))

    def lines(self) -> list[str]:
        """One line per message (a message about several targets, such as one SLURM job, is printed once)."""
        return list(dict.fromkeys(e.message for e in self.events))

    def to_data(self) -> dict[str, Any]:
        return {"backend": self.backend, "events": [dataclasses.asdict(e) for e in self.events]}


@dataclass
class StageStatus:
    """One row of `hpoctl status`: a target (and stage) of a study on a backend."""

    study: str
    target: str
    stage: str | None
    state: str  # e.g. running, done, queued, stopped, failed, not started
    trials_done: int
    trials_budget: int
    running: int = 0
    failed: int = 0
    pruned: int = 0
    best: float | list[float] | str | None = None
    detail: str = ""
    eta_s: float | None = None
    """Seconds left at the pace so far (`hpoctl.eta`), where something runs and there is a pace to go by."""

    def as_row(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Backend(ABC):
    name: ClassVar[str]
    options_type: ClassVar[type[Options]] = Options
    data_visible_here: ClassVar[bool] = True
    """Whether the trials read `--data` at the path this machine sees (local; SLURM's shared file system), so that
    `launch` can check it with the trainer's loader before any trial starts."""

    @classmethod
    def options(cls, **values: Any) -> Options:
        """This backend's options from command-line values; a value left unset (None, or False for a switch) is
        left at its default, and one set for an option this backend does not take is an error."""
        known = {f.name for f in dataclasses.fields(cls.options_type)}
        foreign = [k for k, v in values.items() if k not in known and v not in (None, False)]
        if foreign:
            flags = ", ".join("--" + k.replace("_", "-") for k in foreign)
            raise BackendUnsupported(cls.name, f"take {flags}", "leave it out, or choose the backend with --backend")
        return cls.options_type(**{k: v for k, v in values.items() if k in known and v is not None})

    @classmethod
    def own_options(cls, options: Options) -> Options:
        """`options` as this backend's own type: the common options given alone keep its defaults for the rest."""
        if isinstance(options, cls.options_type):
            return options
        return cls.options_type(**{f.name: getattr(options, f.name) for f in dataclasses.fields(Options)})

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not getattr(cls, "__abstractmethods__", None) and "name" not in cls.__dict__:
            raise TypeError(f"backend {cls.__name__} must set `name`")

    @abstractmethod
    def render(self, plans: list[Plan], options: Options) -> Rendered:
        """What `launch` would run for the plans' stages, validated as the backend's system would; nothing
        is applied or started."""

    @abstractmethod
    def launch(self, plans: list[Plan], options: Options) -> Launched:
        """Start (or resume) each plan's stages."""

    @abstractmethod
    def status(self, plans: list[Plan], options: Options) -> list[StageStatus]:
        """What is running or done for each plan."""

    @abstractmethod
    def results(self, plans: list[Plan], options: Options) -> list[str]:
        """Bring each plan's trials into the one results layout (options.results_dir) and rewrite its summary
        files; one line per target."""

    @abstractmethod
    def cancel(self, plans: list[Plan], options: Options) -> list[str]:
        """Stop what runs for each plan, keeping every completed trial."""

    def supports(self, capability: str) -> bool:
        """Whether this backend implements an optional capability of the interface (`delete`)."""
        return getattr(type(self), capability) is not getattr(Backend, capability)

    def delete(self, plans: list[Plan], options: Options) -> list[str]:
        """Remove what the backend created for each plan (its results are pulled first)."""
        raise BackendUnsupported(self.name, "delete anything", "its results folder is yours to remove")
