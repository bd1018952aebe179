"""Katib backend: Experiment manifests, validation equal to Katib's webhook, and the client that launches,
watches, pulls, re-budgets and deletes them (see katib/README.md)."""

from hpoctl.katib.backend import KatibBackend
from hpoctl.katib.errors import ExperimentInvalid, KatibUnsupported
from hpoctl.katib.manifest_io import dump_manifests, load_manifests
from hpoctl.katib.pull import pull_results
from hpoctl.katib.render import RenderedExperiment, RenderOptions, TopKConfigs, render_experiment, render_experiments
from hpoctl.katib.validate import check_experiments, validate_experiment

__all__ = [
    "ExperimentInvalid",
    "KatibBackend",
    "KatibUnsupported",
    "RenderOptions",
    "RenderedExperiment",
    "TopKConfigs",
    "check_experiments",
    "dump_manifests",
    "load_manifests",
    "pull_results",
    "render_experiment",
    "render_experiments",
    "validate_experiment",
]
