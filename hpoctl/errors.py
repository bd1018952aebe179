"""The one exception tree: everything hpoctl raises on purpose derives from HpoctlError.

The CLI turns an HpoctlError into one line on stderr and its ``exit_code``; anything else is a bug
and shows a traceback only with HPOCTL_DEBUG=1.
"""

from __future__ import annotations


class HpoctlError(Exception):
    """Base of every error hpoctl raises on purpose."""

    exit_code = 1

    def lines(self) -> list[str]:
        """The message as the CLI prints it, one problem a line."""
        return [str(self)]


class UsageError(HpoctlError):
    """The command line itself is wrong (exit 2, like a usage error from Typer)."""

    exit_code = 2


class ProblemsError(HpoctlError):
    """A file is invalid; carries every problem found, not only the first, each printed as `source: problem`."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        return [f"{self.source}: {problem}" for problem in self.problems]


class SpecError(ProblemsError):
    """A study spec is invalid."""


class UnknownNameError(HpoctlError):
    """A name (study, target, stage, preset, ...) that does not exist; lists the valid ones."""

    def __init__(self, kind: str, name: str, valid: list[str], where: str = ""):
        self.kind, self.name, self.valid = kind, name, valid
        place = f" in {where}" if where else ""
        choices = ", ".join(valid) if valid else "none"
        super().__init__(f"unknown {kind} {name!r}{place}; valid: {choices}")


class BackendError(HpoctlError):
    """A backend could not do what was asked (cluster unreachable, forbidden, conflict, ...)."""


class ResultsError(HpoctlError):
    """Results are missing or unreadable."""


class ManyErrors(HpoctlError):
    """Several independent errors (e.g. one per file given to `hpoctl validate`), reported together."""

    def __init__(self, errors: list[HpoctlError]):
        self.errors = errors
        super().__init__("\n".join(self.lines()))

    @property
    def exit_code(self) -> int:  # type: ignore[override]
        return max(error.exit_code for error in self.errors)

    def lines(self) -> list[str]:
        return [line for error in self.errors for line in error.lines()]
