"""The Katib backend's errors, in hpoctl's one exception tree."""

from __future__ import annotations

from hpoctl.errors import BackendError, HpoctlError


class KatibUnsupported(HpoctlError):
    """The study asks for something a Katib Experiment cannot express (one line: what, and the way out)."""


class ExperimentInvalid(HpoctlError):
    """An Experiment breaks rules Katib's admission webhook (or the Kubernetes schema) enforces; one
    problem a line, each naming the Experiment and the field."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))

    def lines(self) -> list[str]:
        return list(self.problems)


__all__ = ["BackendError", "ExperimentInvalid", "KatibUnsupported"]
