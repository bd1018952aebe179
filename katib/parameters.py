"""Search-space parameters as Katib parameters, and their values back as Python values.

Katib passes a trial's values as text into the trial template: it replaces `${trialParameters.x}` in
the template's JSON text, and its StdOut collector then runs the container's command through `sh -c`.
A categorical value therefore must not contain a double quote or backslash (it would break the JSON)
nor a single quote (hpoctl's shell quoting); values are encoded with `hpoctl.plan.encode_value`
(lists and booleans as compact JSON), which the trainers decode.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from kubeflow_katib_api.models import V1beta1FeasibleSpace, V1beta1ParameterSpec

from hpoctl.katib.errors import KatibUnsupported
from hpoctl.plan import encode_value
from hpoctl.search.space import active
from hpoctl.spec.parameters import CategoricalParameter, FloatParameter, IntParameter
from hpoctl.spec.study import SearchSpace

#: The trial parameter of a top-k Experiment: one categorical value per configuration to re-run.
CONFIG_PARAMETER = "config"
_UNSAFE = ('"', "\\", "'", "\n", "\r", "${")


def katib_parameters(space: SearchSpace, where: str) -> list[V1beta1ParameterSpec]:
    """One Katib parameter per spec parameter: int and double with min/max (step; logUniform for log
    scale), categorical with its choices encoded as the trainer reads them."""
    return [_parameter(name, param, f"{where}: parameters.{name}") for name, param in space.items()]


def _parameter(name: str, param: Any, where: str) -> V1beta1ParameterSpec:
    if isinstance(param, CategoricalParameter):
        values = [encode_value(choice) for choice in param.choices]
        for value in values:
            check_safe_value(value, where)
        duplicates = sorted({v for v in values if values.count(v) > 1})
        if duplicates:
            raise KatibUnsupported(
                f"{where}: choices {duplicates} become the same text in Katib (it passes values as strings); "
                "make the choices distinct as text"
            )
        return V1beta1ParameterSpec(
            name=name, parameter_type="categorical", feasible_space=V1beta1FeasibleSpace(list=values)
        )
    kind = "int" if isinstance(param, IntParameter) else "double"
    step = None
    if isinstance(param, IntParameter) and param.step != 1:
        step = str(param.step)
    elif isinstance(param, FloatParameter) and param.step is not None:
        step = encode_value(param.step)
    return V1beta1ParameterSpec(
        name=name,
        parameter_type=kind,
        feasible_space=V1beta1FeasibleSpace(
            min=encode_value(param.low),
            max=encode_value(param.high),
            step=step,
            distribution="logUniform" if param.log else "uniform",
        ),
    )


def check_safe_value(value: str, where: str) -> None:
    bad = [c for c in _UNSAFE if c in value]
    if bad:
        raise KatibUnsupported(
            f"{where}: value {value!r} cannot travel through Katib's trial template "
            f"(it contains {', '.join(repr(b) for b in bad)}); use values without quotes, backslashes or '${{'"
        )


def needs_quoting(param: Any) -> bool:
    """Whether a parameter's values must be single-quoted for `sh -c` (lists, text with spaces, ...)."""
    if not isinstance(param, CategoricalParameter):
        return False
    return any(shlex.quote(encode_value(c)) != encode_value(c) for c in param.choices)


def conditional_parameters(space: SearchSpace) -> list[str]:
    return [name for name, param in space.items() if param.when]


def decode_value(param: Any, text: str) -> Any:
    """A Katib assignment (text) as the value the spec's parameter takes."""
    if isinstance(param, IntParameter):
        return int(float(text)) if "." in text or "e" in text.lower() else int(text)
    if isinstance(param, FloatParameter):
        return float(text)
    for choice in param.choices:
        if encode_value(choice) == text:
            return choice
    raise ValueError(f"{text!r} is not one of the choices {[encode_value(c) for c in param.choices]}")


def decode_assignments(space: SearchSpace, assignments: Mapping[str, str]) -> dict[str, Any]:
    """Spec values of a trial's assignments; parameters inactive under their condition are left out,
    as in a local run (Katib samples every parameter, the trainer ignores the inactive ones)."""
    values = {name: decode_value(space[name], text) for name, text in assignments.items() if name in space}
    chosen: dict[str, Any] = {}
    for name, value in values.items():
        if active(space[name], values):
            chosen[name] = value
    return chosen


def config_seed(value: str) -> int | None:
    """The fresh seed a top-k repeat's value gives (`repeat_value`), if any."""
    seeds = [w.removeprefix("--seed=") for w in shlex.split(value) if w.startswith("--seed=")]
    return int(seeds[-1]) if seeds and seeds[-1].isdigit() else None


def encode_config(config: Mapping[str, Any], where: str) -> str:
    """A configuration as one categorical value of a top-k Experiment: `--name=value` words, quoted for
    the shell, which the trial's `sh -c` splits back into arguments."""
    words = []
    for name, value in config.items():
        text = encode_value(value)
        check_safe_value(text, f"{where}: {name}")
        words.append(shlex.quote(f"--{name}={text}"))
    return " ".join(words)


def repeat_value(config_value: str, seed: int) -> str:
    """A top-k value that also gives the repeat's fresh seed; the trainer reads the later `--seed` of its argv."""
    return f"{config_value} --seed={int(seed)}"


def decode_config(space: SearchSpace, value: str) -> dict[str, Any]:
    """The configuration a top-k trial ran (the inverse of `encode_config`, `--seed` of a repeat left out)."""
    config: dict[str, Any] = {}
    for word in shlex.split(value):
        name, sep, text = word.removeprefix("--").partition("=")
        if name == "seed" and sep and "seed" not in space:
            continue
        if not sep or name not in space:
            raise ValueError(f"{word!r} is not --<parameter>=<value> of this search space")
        config[name] = decode_value(space[name], text)
    return config
