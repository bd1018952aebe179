"""Each Experiment's Optuna study, kept by the suggestion service between GetSuggestions calls.

Katib sends every trial of the Experiment on every call. Rebuilding the study from them costs about a second
at 5,000 trials (Optuna copies each trial it is given), so the service keeps one study per Experiment and
applies only what changed: a trial whose name it has not met, or whose status bytes differ, is decoded; a new
one is appended, a running one that finished gets its state and values. A change it cannot apply (a trial gone
from the request, a finished trial whose result changed, other assignments under a known name) rebuilds the study
from the request, as a restart does: the request alone is always enough, nothing is on disk.

The kept study also holds the proposals handed out that Katib has not reported as trials yet, RUNNING, so the
constant liar and the duplicate check keep later proposals away from them while Katib creates their Trials.
Katib's request says how many suggestions it had received before (`total_request_number -
current_request_number`); proposals beyond what its trials account for never became trials (a reply Katib
did not get, so it asks again) and are retired: FAIL and interrupted, which no sampler reads and the
duplicate check does not count. A repeated request therefore gets the repeated answer.

Warm or cold (a fresh service building the study from the request), the study holds the same trials with the
same states and values, and the sampler gets the same seed. Two things differ. A restarted service does not
know the proposals it handed out before that are not trials yet. And the kept study holds trials in the
order it handed them out (or met them), the rebuilt one in Katib's order (finished ones by completion time,
then running ones by start time, ties by name). TPE reads that order: it weighs trials beyond the 25 newest of
a group less and breaks ties by it. So the answers are the same when Katib's order is the hand-out order (one
batch at a time, finishing in turn), and otherwise come from the same trials weighed slightly differently;
`tests/katib/test_suggestion_study.py` checks both.

Samplers that keep their state in trial attributes (`REPLAYED`) build a fresh view each call from the kept,
decoded trials (their replay is kept by `Histories`), so for them warm and cold differ only in the first way.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import optuna
from kubeflow.katib import katib_api_pb2 as pb
from optuna.trial import TrialState

from hpoctl import trial_record as rec
from hpoctl.katib.suggestion_request import (
    REPLAYED,
    ExperimentContext,
    Histories,
    TrialRecord,
    ask_assignments,
    call_seed,
    decode_assignments,
    frozen_trial,
    optuna_view,
    propose,
    request_records,
    trial_record,
)
from hpoctl.search.samplers import build_sampler

log = logging.getLogger("hpoctl.katib.suggestion")

Assignment = dict[str, str]
#: Attributes of a sampler (or of the sampler it wraps) that memoise what was computed from the study and hold
#: none of its random state: the duplicate check's taken configurations, TPE's intersection search space. A
#: call's new sampler for the same study takes them over, so a call costs what Optuna's own `ask` does.
_STUDY_CACHES = ("_taken", "_search_space", "_group_decomposed_search_space")
#: An assignment as a hashable key: its (name, text) pairs, sorted.
AssignmentKey = tuple[tuple[str, str], ...]


def assignment_key(assignment: Mapping[str, str]) -> AssignmentKey:
    return tuple(sorted(assignment.items()))


def trial_key(trial: pb.Trial) -> AssignmentKey:
    return tuple(sorted((a.name, a.value) for a in trial.spec.parameter_assignments.assignments))


@dataclass
class _Held:
    """A Katib trial the kept study has taken in: its status as sent (bytes), what that decodes to (None: left
    out) and its trial in the study."""

    status: bytes
    record: TrialRecord | None
    trial_id: int | None = None


@dataclass
class _Pending:
    """A proposal handed out that Katib has not reported as a trial yet."""

    key: AssignmentKey
    params: dict[str, Any]
    trial_id: int | None = None


class KeptStudy:
    """One Experiment's trials and study between calls; `suggest` answers a GetSuggestions request."""

    def __init__(self, context: ExperimentContext) -> None:
        self.context = context
        self.held: dict[str, _Held] = {}
        self.pending: list[_Pending] = []
        self.study: optuna.Study | None = None  # TPE-like samplers only
        self.rebuilds = 0
        self._built = False
        self._replayed = context.settings.sampler in REPLAYED
        self._sampler: optuna.samplers.BaseSampler | None = None  # the last call's, on the kept study
        self._histories = Histories(size=1)

    def suggest(self, request: pb.GetSuggestionsRequest) -> list[Assignment]:
        if not self._built or not self._apply(request.trials):
            self._rebuild(request.trials)
        self._retire(self._outstanding(request))
        seed = call_seed(self.context, request)
        if self._replayed:
            return self._suggest_replayed(seed, request.current_request_number)
        self.study.sampler = self._seeded_sampler(seed)
        asked = ask_assignments(self.study, self.context, request.current_request_number)
        for trial, assignment in asked:
            self._hand_out(assignment, trial._trial_id)
        return [assignment for _, assignment in asked]

    def _seeded_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        """The sampler a fresh study would get for this call, with the last call's caches of the kept study."""
        sampler = build_sampler(self.context.algorithm, self.context.space, seed=seed, parallel=True)
        if self._sampler is not None:
            _take_over_caches(self._sampler, sampler)
        self._sampler = sampler
        return sampler

    def records(self) -> list[TrialRecord]:
        """The request's trials as the study holds them, in the order a rebuild puts them."""
        return sorted((h.record for h in self.held.values() if h.record is not None), key=lambda r: r.order)

    def _suggest_replayed(self, seed: int, count: int) -> list[Assignment]:
        pending = [p.params for p in self.pending]
        study = optuna_view(self.context, self.records(), seed, self._histories, pending)
        proposals = propose(study, self.context, count)
        for assignment in proposals:
            self._hand_out(assignment, None)
        return proposals

    def _hand_out(self, assignment: Assignment, trial_id: int | None) -> None:
        params, _ = decode_assignments(self.context, assignment)
        self.pending.append(_Pending(assignment_key(assignment), params, trial_id))

    def _rebuild(self, trials: Iterable[pb.Trial]) -> None:
        """The study from the request alone (a restart's, or when a change cannot be applied); proposals
        handed out and not yet trials stay held, running after the request's trials."""
        if self._built:
            self.rebuilds += 1
            log.info("%s: the kept study is rebuilt from the request", self.context.name)
        self._built = True
        self.held, keys = {}, set()
        for trial in trials:
            if trial.name not in self.held:
                self.held[trial.name] = _Held(trial.status.SerializeToString(), None)
                keys.add(trial_key(trial))
        records = request_records(self.context, trials, failed=True)
        for record in records:
            self.held[record.name].record = record
        self.pending = [_Pending(p.key, p.params) for p in self.pending if p.key not in keys]
        if self._replayed:
            return
        self.study, self._sampler = optuna.create_study(directions=self.context.directions), None
        running = [TrialRecord("", p.params, TrialState.RUNNING) for p in self.pending]
        self.study.add_trials([frozen_trial(self.context, r) for r in [*self.context.warm_trials, *records, *running]])
        ids = [t._trial_id for t in self.study._storage.get_all_trials(self.study._study_id, deepcopy=False)]
        first = len(self.context.warm_trials)
        for record, trial_id in zip(records, ids[first : first + len(records)], strict=True):
            self.held[record.name].trial_id = trial_id
        for entry, trial_id in zip(self.pending, ids[first + len(records) :], strict=True):
            entry.trial_id = trial_id

    def _apply(self, trials: Iterable[pb.Trial]) -> bool:
        """Take in what changed since the last call; False if that cannot be done in place."""
        names: set[str] = set()
        for trial in trials:
            name = trial.name
            if name in names:
                continue
            names.add(name)
            status = trial.status.SerializeToString()
            held = self.held.get(name)
            if held is not None and held.status == status:
                continue
            if not self._take(trial, status, held):
                return False
        return len(names) == len(self.held)

    def _take(self, trial: pb.Trial, status: bytes, held: _Held | None) -> bool:
        record = trial_record(self.context, trial, failed=True)
        if held is None or held.record is None:
            claimed = self._claim(trial_key(trial)) if held is None else None
            self.held[trial.name] = _Held(status, record, self._hold(record, claimed))
            return True
        if record is None or record.params != held.record.params:
            return False
        finished = held.record.state != TrialState.RUNNING
        if finished and (record.state, record.values) != (held.record.state, held.record.values):
            return False  # a finished trial's result changed: Optuna finishes a trial once
        held.status, held.record = status, record
        if not finished and record.state != TrialState.RUNNING and held.trial_id is not None:
            self._finish(held.trial_id, record)
        return True

    def _claim(self, key: AssignmentKey) -> _Pending | None:
        """The pending proposal a new Katib trial was made from, no longer pending; None if none."""
        for i, entry in enumerate(self.pending):
            if entry.key == key:
                return self.pending.pop(i)
        return None

    def _hold(self, record: TrialRecord | None, claimed: _Pending | None) -> int | None:
        """The study's trial for a newly met Katib trial: its proposal's trial, else a new one (None: not
        in the study)."""
        claimed_id = claimed.trial_id if claimed is not None else None
        if record is None or self._replayed:
            if claimed_id is not None:
                self._finish(claimed_id, TrialRecord("", {}, TrialState.FAIL, interrupted=True))
            return None
        if claimed_id is None:
            return self.study._storage.create_new_trial(self.study._study_id, frozen_trial(self.context, record))
        if record.state != TrialState.RUNNING:
            self._finish(claimed_id, record)
        return claimed_id

    def _finish(self, trial_id: int, record: TrialRecord) -> None:
        storage = self.study._storage
        if record.interrupted:
            storage.set_trial_user_attr(trial_id, rec.INTERRUPTED, True)
        storage.set_trial_state_values(trial_id, record.state, list(record.values) if record.values else None)

    def _outstanding(self, request: pb.GetSuggestionsRequest) -> int | None:
        """Suggestions Katib received before this call that are not trials yet (every trial of the request,
        now held, was one); None if the request does not say."""
        given = request.total_request_number - request.current_request_number
        if request.total_request_number <= 0 or given < 0:
            return None
        return max(0, given - len(self.held))

    def _retire(self, outstanding: int | None) -> None:
        """Forget the newest proposals beyond the `outstanding` suggestions Katib holds without trials."""
        if outstanding is None or len(self.pending) <= outstanding:
            return
        retired, self.pending = self.pending[outstanding:], self.pending[:outstanding]
        log.info("%s: %d proposals never became trials; they are free again", self.context.name, len(retired))
        for entry in retired:
            if entry.trial_id is not None:
                self._finish(entry.trial_id, TrialRecord("", entry.params, TrialState.FAIL, interrupted=True))


def _take_over_caches(old: object, new: object) -> None:
    for name in _STUDY_CACHES:
        if hasattr(old, name) and hasattr(new, name):
            setattr(new, name, getattr(old, name))
    if hasattr(old, "base") and hasattr(new, "base"):
        _take_over_caches(old.base, new.base)


class KeptStudies:
    """The kept studies of the last few Experiments, by the Experiment's fingerprint."""

    def __init__(self, size: int = 8) -> None:
        self._kept: OrderedDict[str, KeptStudy] = OrderedDict()
        self._size = size

    def of(self, context: ExperimentContext) -> KeptStudy:
        kept = self._kept.get(context.fingerprint)
        if kept is None:
            kept = self._kept[context.fingerprint] = KeptStudy(context)
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
        self._kept.move_to_end(context.fingerprint)
        return kept

    def forget(self, context: ExperimentContext) -> None:
        """Drop a kept study a failed call may have left half updated; the next call rebuilds it."""
        self._kept.pop(context.fingerprint, None)

    def find(self, name: str) -> KeptStudy | None:
        """The kept study of the Experiment named `name`, if any (for tests and logs)."""
        return next((k for k in reversed(self._kept.values()) if k.context.name == name), None)
