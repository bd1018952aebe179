"""A small Dockerfile reader for tests: instructions with continuation lines joined, comments dropped, split
into build stages. Enough to check what an image is built from and how it starts; hadolint does the linting."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Instruction:
    keyword: str
    value: str
    line: int

    def exec_form(self) -> list[str]:
        """The JSON (exec) form of ENTRYPOINT/CMD; raises ValueError for the shell form."""
        parsed = json.loads(self.value)
        if not (isinstance(parsed, list) and all(isinstance(x, str) for x in parsed)):
            raise ValueError(f"line {self.line}: {self.keyword} is not in exec form: {self.value}")
        return parsed


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None

    def run_text(self) -> str:
        return "\n".join(i.value for i in self.all("RUN"))


@dataclass
class Dockerfile:
    args: dict[str, str]
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def resolve(self, text: str) -> str:
        """Substitute global ARG defaults (${NAME} and $NAME)."""
        return re.sub(r"\$\{?(\w+)\}?", lambda m: self.args.get(m.group(1), m.group(0)), text)


def instructions(path: Path) -> list[Instruction]:
    result, buffer, start = [], "", 0
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        stripped = raw.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        buffer += stripped
        keyword, _, value = buffer.partition(" ")
        result.append(Instruction(keyword.upper(), value.strip(), start))
        buffer = ""
    return result


def parse(path: Path) -> Dockerfile:
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for ins in instructions(path):
        if ins.keyword == "FROM":
            parts = ins.value.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(parts[0], name))
        elif not stages and ins.keyword == "ARG":
            key, _, default = ins.value.partition("=")
            args[key] = default
        elif stages:
            stages[-1].instructions.append(ins)
    return Dockerfile(args, stages)
