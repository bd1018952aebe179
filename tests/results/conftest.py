"""Results written once per test session from the synthetic studies (writing draws every plot)."""

from __future__ import annotations

import pytest

from tests.results.synthetic import Written, build_everest, build_forecast, write


@pytest.fixture(scope="session")
def everest_results(tmp_path_factory) -> Written:
    """Results of the quick everest run, written once per test session (writing draws every plot)."""
    root = tmp_path_factory.mktemp("everest") / "results"
    return write(root, *build_everest(root))


@pytest.fixture(scope="session")
def forecast_results(tmp_path_factory) -> Written:
    root = tmp_path_factory.mktemp("forecast") / "results"
    return write(root, *build_forecast(root))
