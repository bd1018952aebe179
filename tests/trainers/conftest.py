"""Run trainers as real subprocesses (``python -m hpoctl.trainers.<name>``), several at a time.

The helpers reach the tests through the ``trainers`` fixture and the :class:`Finished` objects it returns, so
no test module imports this conftest by name (several folders have a conftest.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from hpoctl.trainers.common.metrics_io import KATIB_STDOUT_REGEX


@dataclass
class Finished:
    """A trainer process that has exited."""

    args: list[str]
    rc: int
    stdout: str
    stderr: str
    output: Path

    @property
    def stdout_lines(self) -> list[str]:
        return self.stdout.splitlines()

    @property
    def stderr_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]

    def metrics(self) -> dict[str, Any]:
        return json.loads((self.output / "metrics.json").read_text())

    def hyperparameters(self) -> dict[str, Any]:
        return yaml.safe_load((self.output / "hyperparameters.yaml").read_text())

    def explain(self) -> str:
        return f"rc={self.rc} args={self.args}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"

    def assert_metric_lines(self, epochs: int, metrics: Sequence[str]) -> None:
        """Every stdout line is one epoch's metrics, each pair consumed whole by Katib's StdOut regex."""
        lines = self.stdout_lines
        assert len(lines) == epochs, self.explain()
        for epoch, line in enumerate(lines, start=1):
            pairs = line.split(" ")
            assert [p.split("=")[0] for p in pairs] == ["epoch", *metrics], line
            assert pairs[0] == f"epoch={epoch}"
            for pair in pairs:
                match = KATIB_STDOUT_REGEX.fullmatch(pair)
                assert match is not None, f"Katib's regex does not consume {pair!r} whole"
                assert float(match.group(2)) == float(pair.split("=")[1])

    def assert_staged_metric_lines(self, lines: Sequence[tuple[int, Sequence[str]]]) -> None:
        """stdout is exactly ``lines``: each an ``(epoch, metric names)`` pair printed as ``epoch=N name=value ...``,
        every pair consumed whole by Katib's regex (trainers whose lines change with the stage, e.g. transfer)."""
        assert len(self.stdout_lines) == len(lines), self.explain()
        for line, (epoch, metrics) in zip(self.stdout_lines, lines, strict=True):
            pairs = line.split(" ")
            assert [p.split("=")[0] for p in pairs] == ["epoch", *metrics], line
            assert pairs[0] == f"epoch={epoch}", line
            for pair in pairs:
                match = KATIB_STDOUT_REGEX.fullmatch(pair)
                assert match is not None, f"Katib's regex does not consume {pair!r} whole"
                assert float(match.group(2)) == float(pair.split("=")[1])

    def assert_one_stderr_line(self, *fragments: str) -> str:
        """stderr is exactly one line (no traceback, no chatter) containing every fragment; returns it."""
        assert len(self.stderr_lines) == 1, self.explain()
        for fragment in fragments:
            assert fragment in self.stderr_lines[0], self.stderr_lines[0]
        return self.stderr_lines[0]


@dataclass
class Trainers:
    """Starts trainer subprocesses with a private output folder each and a shared data cache."""

    root: Path
    cache: Path
    _count: int = field(default=0)

    def start(self, trainer: str, *args: str, env: Mapping[str, str] | None = None) -> tuple[subprocess.Popen, Path]:
        self._count += 1
        output = self.root / f"{trainer}-{self._count}"
        command = [sys.executable, "-m", f"hpoctl.trainers.{trainer}", "--output", str(output),
                   "--cache-dir", str(self.cache), *args]  # fmt: skip
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("HPOCTL_", "KATIB_"))}
        environment.pop("PYTHONWARNINGS", None)
        environment.update(env or {})
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
        return process, output

    @staticmethod
    def finish(process: subprocess.Popen, output: Path) -> Finished:
        stdout, stderr = process.communicate()
        return Finished(list(process.args), process.returncode, stdout, stderr, output)  # type: ignore[arg-type]

    def run(self, trainer: str, *args: str, env: Mapping[str, str] | None = None) -> Finished:
        return self.finish(*self.start(trainer, *args, env=env))

    def run_all(self, runs: Mapping[str, tuple[str, Sequence[str]]]) -> dict[str, Finished]:
        """Run independent trainers concurrently; ``{name: (trainer, args)}`` -> ``{name: Finished}``."""
        started = {name: self.start(trainer, *args) for name, (trainer, args) in runs.items()}
        return {name: self.finish(*pair) for name, pair in started.items()}

    def interrupt_during_epoch_2(self, trainer: str, *args: str) -> tuple[Finished, str]:
        """Start a run, wait for its first epoch line, then send SIGTERM (epoch 2 has just begun)."""
        process, output = self.start(trainer, *args)
        assert process.stdout is not None
        first_line = process.stdout.readline()
        process.send_signal(signal.SIGTERM)
        finished = self.finish(process, output)
        finished.stdout = first_line + finished.stdout
        return finished, first_line


@pytest.fixture(scope="module")
def trainers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trainers]:
    root = tmp_path_factory.mktemp("trainer-runs")
    yield Trainers(root=root, cache=root / "cache")
