"""Experiment names and labels: DNS labels short enough for every name Katib derives from them."""

from __future__ import annotations

import re

import pytest

from hpoctl.catalog import builtin_names, load_study
from hpoctl.katib import names
from hpoctl.katib.katib_config import HPOCTL_OPTUNA, SUGGESTION_SERVICES

DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def test_safe_maximum_fits_every_derived_name():
    longest = max(len(a) for a in (*SUGGESTION_SERVICES, HPOCTL_OPTUNA))
    assert longest == len("bayesianoptimization") == 20
    assert names.MAX_EXPERIMENT_NAME == 40
    name = "x" * names.MAX_EXPERIMENT_NAME
    for algorithm in (*SUGGESTION_SERVICES, HPOCTL_OPTUNA):
        assert len(f"{name}-{algorithm}") <= 63  # the suggestion Deployment and Service
    assert len(f"{name}-abcdefgh") <= 63  # a trial, its Job and the pods' job-name label


@pytest.mark.parametrize("study", builtin_names())
def test_every_builtin_experiment_name_is_a_short_dns_label(study):
    spec = load_study(study).spec
    seen = set()
    for target in spec.targets:
        for stage in spec.protocol:
            name = names.experiment_name(study, target, stage.name)
            assert DNS_1035.match(name) and len(name) <= names.MAX_EXPERIMENT_NAME, name
            seen.add(name)
    assert len(seen) == len(spec.targets) * len(spec.protocol)


def test_target_names_become_dns_labels():
    assert names.experiment_name("forecast", "NHITS_Q@heat", "search") == "forecast-nhits-q-heat-search"
    assert names.experiment_name("everest", "M_24h", "exploration") == "everest-m-24h-exploration"
    assert names.experiment_name("7up", "a", "b") == "hpo-7up-a-b"


def test_long_names_are_cut_with_a_hash():
    a = names.experiment_name("a-rather-long-study-name", "TIMESNET_Q@water_tommerby_east", "confirmation")
    b = names.experiment_name("a-rather-long-study-name", "TIMESNET_Q@water_tommerby_west", "confirmation")
    assert len(a) == len(b) == names.MAX_EXPERIMENT_NAME
    assert a != b and a[:33] == b[:33]
    assert DNS_1035.match(a) and DNS_1035.match(b)


def test_label_values():
    assert names.label_value("NHITS_Q@heat") == "NHITS_Q-heat"
    assert names.label_value("M_24h") == "M_24h"
    long = names.label_value("x" * 80 + "@y")
    assert len(long) == 63 and names.is_label_value(long)
    assert names.selector("everest", "M_24h", "exploration") == (
        "hpoctl.io/study=everest,hpoctl.io/target=M_24h,hpoctl.io/stage=exploration"
    )
