"""Names and labels of hpoctl's Katib objects.

An Experiment is named `<study>-<target>-<stage>` (as DNS labels). Katib derives other names from it:
the suggestion Deployment and Service `<experiment>-<algorithm>` (a Service name is a DNS-1035 label, at
most 63 characters) and trial names `<experiment>-<8 random characters>`, which are also the trial Job's
name and a label value on its pods (at most 63). With the longest algorithm name Katib knows
(`bayesianoptimization`, 20 characters) that would allow 63 - 1 - 20 = 42 characters, but Katib's own webhook
refuses an Experiment name longer than 40 (`validator.go`), so 40 it is; a longer one is cut and ends in a
short hash of the whole, so distinct studies keep distinct names.
"""

from __future__ import annotations

import hashlib
import re

from hpoctl.katib.katib_config import LONGEST_ALGORITHM
from hpoctl.spec.study import dns_label

GROUP = "kubeflow.org"
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
EXPERIMENTS = "experiments"
TRIALS = "trials"
SUGGESTIONS = "suggestions"

DNS_LABEL_MAX = 63
TRIAL_SUFFIX = 9  # "-" and Katib's 8 random characters
KATIB_NAME_MAX = 40  # Katib v0.19.0's webhook: len(instance.Name) > 40 is refused
MAX_EXPERIMENT_NAME = min(KATIB_NAME_MAX, DNS_LABEL_MAX - 1 - LONGEST_ALGORITHM, DNS_LABEL_MAX - TRIAL_SUFFIX)
HASH_LENGTH = 6

LABEL_STUDY = "hpoctl.io/study"
LABEL_TARGET = "hpoctl.io/target"
LABEL_STAGE = "hpoctl.io/stage"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "hpoctl"
ANNOTATION_TARGET = "hpoctl.io/target"  # the exact target name (a label value cannot hold e.g. '@')
ANNOTATION_STAGE_INDEX = "hpoctl.io/stage-index"
ANNOTATION_EPOCHS = "hpoctl.io/epochs"
ANNOTATION_SEED = "hpoctl.io/seed"
ANNOTATION_TOP_K_OF = "hpoctl.io/top-k-of"
ANNOTATION_TOP_K_SOURCES = "hpoctl.io/top-k-sources"
ANNOTATION_TOP_K_PENDING = "hpoctl.io/top-k-pending"
KATIB_EXPERIMENT_LABEL = "katib.kubeflow.org/experiment"

_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def experiment_name(study: str, target: str, stage: str, max_length: int = MAX_EXPERIMENT_NAME) -> str:
    """`<study>-<target>-<stage>` as a DNS label that starts with a letter and fits `max_length`."""
    full = "-".join(dns_label(part) for part in (study, target, stage))
    if not full[0].isalpha():
        full = f"hpo-{full}"
    if len(full) <= max_length:
        return full
    digest = hashlib.sha1(f"{study}\0{target}\0{stage}".encode()).hexdigest()[:HASH_LENGTH]
    return f"{full[: max_length - HASH_LENGTH - 1].rstrip('-')}-{digest}"


def label_value(text: str) -> str:
    """A Kubernetes label value for any text (`NHITS_Q@heat` -> `NHITS_Q-heat`), hashed when cut."""
    value = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-_.")
    if len(value) > DNS_LABEL_MAX:
        digest = hashlib.sha1(text.encode()).hexdigest()[:HASH_LENGTH]
        value = f"{value[: DNS_LABEL_MAX - HASH_LENGTH - 1].rstrip('-_.')}-{digest}"
    return value


def is_label_value(text: str) -> bool:
    return len(text) <= DNS_LABEL_MAX and bool(_LABEL_VALUE.match(text))


def labels(study: str, target: str, stage: str | None = None) -> dict[str, str]:
    found = {LABEL_STUDY: study, LABEL_TARGET: label_value(target), LABEL_MANAGED_BY: MANAGED_BY}
    if stage is not None:
        found[LABEL_STAGE] = stage
    return found


def selector(study: str, target: str | None = None, stage: str | None = None) -> str:
    """A label selector for `kubectl get experiments -l ...` and the API's list calls."""
    parts = [f"{LABEL_STUDY}={study}"]
    if target is not None:
        parts.append(f"{LABEL_TARGET}={label_value(target)}")
    if stage is not None:
        parts.append(f"{LABEL_STAGE}={stage}")
    return ",".join(parts)
