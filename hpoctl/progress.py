"""Progress of a running study on stderr: a live display on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import threading
import time

from rich.console import Console
from rich.live import Live
from rich.text import Text

from hpoctl.runner import TrialEvent


def _fmt(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(f"{v:.4g}" for v in value) + "]"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class Progress:
    """Receives TrialEvents from the runner's threads; `live` is chosen from whether stderr is a terminal."""

    def __init__(self, study: str, target: str, *, live: bool | None = None, deadline: float | None = None):
        self.study, self.target, self.deadline = study, target, deadline
        self.console = Console(stderr=True, highlight=False, soft_wrap=True)
        self.live_mode = sys.stderr.isatty() if live is None else live
        self._lock = threading.Lock()
        self._running: set[int] = set()
        self._best: str = "-"
        self._last: TrialEvent | None = None
        self._live: Live | None = None

    def start_stage(self, stage: str, done: int, budget: int, epochs: int) -> None:
        self._last = None
        self.console.print(
            f"{self.study}/{self.target} stage {stage}: {done}/{budget} trials done, {epochs} epochs each",
            markup=False,
        )
        if self.live_mode:
            self._live = Live(self._render(), console=self.console, refresh_per_second=4, transient=True)
            self._live.start()

    def end_stage(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        if self._last is not None:
            self.console.print(self._summary(), markup=False)

    def set_best(self, best) -> None:
        self._best = _fmt(best) if best is not None else "-"

    def __call__(self, event: TrialEvent) -> None:
        with self._lock:
            if event.state == "started":
                self._running.add(event.number)
            else:
                self._running.discard(event.number)
                self._last = event
                if not self.live_mode or event.state == "failed":
                    detail = f" {_fmt(event.value)}" if event.state == "complete" else ""
                    if event.reason:
                        detail = f": {event.reason}"
                    self.console.print(f"  trial {event.number} {event.state}{detail}", markup=False)
            if self._live is not None:
                self._live.update(self._render())

    def _summary(self) -> str:
        e = self._last
        c = e.counts
        left = ""
        if self.deadline is not None:
            left = f", {max(0, int(self.deadline - time.time()))}s left"
        return (
            f"  [{e.stage}] {c.counted}/{e.budget} done ({c.complete} complete, {c.pruned} pruned, "
            f"{c.failed} failed), {len(self._running)} running, best {self._best}{left}"
        )

    def _render(self) -> Text:
        if self._last is None:
            return Text(f"  {len(self._running)} running ...")
        return Text(self._summary())
