"""What `hpoctl watch` looks at: one snapshot of a study's targets and stages on a backend, and when it is over.

A target is over when its every stage is done, or when one of them failed, was cancelled or lost its store (the
stages after it will not start by themselves). A stopped target, or one with stages still to start, is not over: a
launch may still come, so watching waits for it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hpoctl.backends import StageStatus
from hpoctl.errors import HpoctlError

DONE = "done"
ENDED_BADLY = frozenset({"failed", "cancelled", "store lost"})
ACTIVE = frozenset({"running", "queued"})
NOT_STARTED = "not started"


@dataclass
class Snapshot:
    study: str
    backend: str
    rows: list[StageStatus]
    taken_at: dt.datetime = dataclasses.field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))
    error: str | None = None
    """The last refresh's failure, while the view keeps the rows of the refresh before it."""

    def targets(self) -> dict[str, list[StageStatus]]:
        grouped: dict[str, list[StageStatus]] = {}
        for row in self.rows:
            grouped.setdefault(row.target, []).append(row)
        return grouped

    def ended_badly(self) -> list[str]:
        return [t for t, rows in self.targets().items() if any(r.state in ENDED_BADLY for r in rows)]

    def never_started(self) -> list[str]:
        return [t for t, rows in self.targets().items() if all(r.state == NOT_STARTED for r in rows)]

    @property
    def finished(self) -> bool:
        """Nothing runs and every target that started is over: done, or ended badly. Targets never started do not
        hold the watch once others are over (a launch of some targets only); with none over, it waits."""
        if self.active:
            return False
        over = 0
        for rows in self.targets().values():
            if all(r.state == DONE for r in rows) or any(r.state in ENDED_BADLY for r in rows):
                over += 1
            elif not all(r.state == NOT_STARTED for r in rows):
                return False
        return over > 0

    @property
    def active(self) -> bool:
        return any(r.state in ACTIVE for r in self.rows)

    def trials(self) -> tuple[int, int]:
        """Trials done and budgeted over every row."""
        return sum(r.trials_done for r in self.rows), sum(r.trials_budget for r in self.rows)

    def to_data(self) -> dict[str, Any]:
        done, budget = self.trials()
        return {
            "study": self.study,
            "backend": self.backend,
            "time": self.taken_at.isoformat(timespec="seconds"),
            "finished": self.finished,
            "active": self.active,
            "trials_done": done,
            "trials_budget": budget,
            "failed_targets": self.ended_badly(),
            "error": self.error,
            "rows": [row.as_row() for row in self.rows],
        }


def refreshed(previous: Snapshot, poll: Callable[[], list[StageStatus]]) -> Snapshot:
    """A new snapshot, or the previous rows with the failure noted when a refresh fails (a cluster that drops a
    request for a moment does not end the watch)."""
    try:
        return Snapshot(previous.study, previous.backend, poll())
    except HpoctlError as e:
        return dataclasses.replace(previous, error=e.lines()[0])
    except OSError as e:
        return dataclasses.replace(previous, error=str(e))
