"""hpoctl-optuna's kept study over real gRPC: a warm service answers as a restarted one, takes in only what
changed, and never hands out a configuration again while it is pending, failed or running."""

from __future__ import annotations

import grpc
import pytest
from kubeflow.katib import katib_api_pb2 as pb
from kubeflow.katib import katib_api_pb2_grpc as pb_grpc
from optuna.trial import TrialState

from hpoctl import trial_record as rec
from hpoctl.katib.suggestion_request import experiment_context, optuna_view, request_records
from hpoctl.katib.suggestion_service import SuggestionService, create_server, stop_server
from hpoctl.katib.suggestion_study import KeptStudy
from tests.katib.test_suggestion_service import (
    Assignment,
    assignments_of,
    katib_trial,
    suggestions_request,
    toy_experiment,
)

SPACE = [("x", "double", {"min": "-2", "max": "2"}), ("y", "double", {"min": "-2", "max": "2"})]
SPACE.append(("n", "int", {"min": "1", "max": "8"}))


@pytest.fixture(scope="module")
def served():
    server, port = create_server("127.0.0.1", 0, workers=2)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        yield pb_grpc.SuggestionStub(channel), server.suggestion
    stop_server(server, grace=1)


def loss(assignment: Assignment) -> dict[str, float]:
    x, y, n = float(assignment["x"]), float(assignment["y"]), int(assignment["n"])
    return {"f1": (x - 0.5) ** 2 + (y + 0.5) ** 2 + n / 8, "f2": (x + 1) ** 2 + n / 4}


def restarted(request: pb.GetSuggestionsRequest) -> list[Assignment]:
    """The answer of a service that has never seen the Experiment: a restarted pod's."""
    return assignments_of(SuggestionService().GetSuggestions(request, None))


def kept_study(served, experiment: pb.Experiment) -> KeptStudy:
    return served[1].studies.find(experiment.name)


@pytest.mark.parametrize("sampler", ["tpe", "motpe", "nsga2"])
def test_a_warm_service_answers_as_a_restarted_one(served, sampler):
    stub, _ = served
    settings = {"sampler": sampler, "seed": "3", "objectives": "f1:minimize,f2:minimize"}
    if sampler == "tpe":
        settings["objectives"] = "f1:minimize"
    if sampler == "nsga2":
        settings["population_size"] = "4"
    experiment = toy_experiment(SPACE, settings, name=f"warm-{sampler}")
    done: list[pb.Trial] = []
    for _ in range(6):  # past TPE's 10 start-up trials and three NSGA-II generations
        request = suggestions_request(experiment, done, 4)
        warm = assignments_of(stub.GetSuggestions(request, timeout=60))
        assert warm == restarted(request)
        for assignment in warm:
            done.append(katib_trial(f"t{len(done)}", assignment, metrics=loss(assignment), second=len(done)))
    assert kept_study(served, experiment).rebuilds == 0


def evidence(trials) -> list[tuple]:
    """What the samplers read of a study's trials, in no order: configuration, state, values."""
    return sorted(
        (sorted(t.params.items()), t.state.name, tuple(t.values or ()))
        for t in trials
        if not (t.state == TrialState.FAIL and t.user_attrs.get(rec.INTERRUPTED))
    )


def test_results_out_of_order_leave_the_same_trials_as_a_rebuild(served):
    """Trials finishing out of the order they were handed out: the kept study holds the same trials, states
    and values as one rebuilt from the request plus the pending proposals (only their order differs)."""
    stub, _ = served
    experiment = toy_experiment(SPACE, {"sampler": "tpe", "seed": "8"}, objective="f1", additional=(), name="async")
    trials: dict[str, pb.Trial] = {}
    late: list[Assignment] = []  # handed out; its Trial appears a call later
    for step in range(8):
        request = suggestions_request(experiment, list(trials.values()), 2, asked_before=2 * step)
        answer = assignments_of(stub.GetSuggestions(request, timeout=60))
        for assignment in [*late, answer[0]]:
            trials[f"r{len(trials)}"] = katib_trial(f"r{len(trials)}", assignment, "Created", second=step)
        late = answer[1:]
        running = [name for name, t in trials.items() if t.status.condition == pb.TrialStatus.CREATED]
        for name in running[-2::-2]:  # the newest but one finishes first
            assignment = assignments_of_trial(trials[name])
            trials[name] = katib_trial(name, assignment, metrics=loss(assignment), second=100 + step)
    kept = kept_study(served, experiment)
    assert len(kept.pending) == 3  # the last answer's two and the one Katib had not made a trial of
    context = experiment_context(experiment)
    rebuilt = optuna_view(context, request_records(context, request.trials, failed=True), 0, None, [])
    handed_out = [p.params for p in kept.pending]
    rebuilt_pending = optuna_view(context, [], 0, None, handed_out)
    assert evidence(kept.study.trials) == evidence(rebuilt.trials + rebuilt_pending.trials)
    assert kept.rebuilds == 0


@pytest.mark.parametrize("sampler", ["qmc", "random", "tpe"])
def test_a_failed_configuration_is_not_proposed_again_at_once(served, sampler):
    if sampler == "qmc":
        pytest.importorskip("scipy", reason="Optuna's QMCSampler needs scipy, which the light install lacks")
    stub, _ = served
    experiment = toy_experiment(SPACE, {"sampler": sampler, "seed": "2"}, objective="f1", additional=(), name="fails")
    (first,) = assignments_of(stub.GetSuggestions(suggestions_request(experiment, [], 1), timeout=60))
    request = suggestions_request(experiment, [katib_trial("broken", first, "Failed", second=1)], 1)
    for answer in (assignments_of(stub.GetSuggestions(request, timeout=60)), restarted(request)):
        assert answer != [first]


@pytest.mark.parametrize("seed", range(4))
def test_requests_before_their_trials_exist_get_distinct_configurations(served, seed):
    """Katib asks again before the Trials of the first answer exist: the service remembers what it handed
    out, in a space of four configurations; a request repeated because its reply was lost gets the same
    answer again."""
    stub, _ = served
    space = [("a", "categorical", {"list": ["p", "q"]}), ("b", "int", {"min": "0", "max": "1"})]
    settings = {"sampler": "random", "seed": str(seed)}
    experiment = toy_experiment(space, settings, objective="f1", additional=(), name=f"gap-{seed}")
    first = suggestions_request(experiment, [], 2, asked_before=0)
    given = assignments_of(stub.GetSuggestions(first, timeout=60))
    assert assignments_of(stub.GetSuggestions(first, timeout=60)) == given, "a lost reply's request, again"
    given += assignments_of(stub.GetSuggestions(suggestions_request(experiment, [], 1, asked_before=2), timeout=60))
    created = [katib_trial(f"c{i}", a, "Created", second=i) for i, a in enumerate(given[:2])]
    request = suggestions_request(experiment, created, 1, asked_before=3)
    given += assignments_of(stub.GetSuggestions(request, timeout=60))
    assert len({tuple(sorted(a.items())) for a in given}) == 4, given


def test_a_change_it_cannot_apply_rebuilds_from_the_request(served):
    stub, _ = served
    experiment = toy_experiment(SPACE, {"sampler": "tpe", "seed": "4"}, objective="f1", additional=(), name="gone")
    done: list[pb.Trial] = []
    for _ in range(3):
        for assignment in assignments_of(stub.GetSuggestions(suggestions_request(experiment, done, 4), timeout=60)):
            done.append(katib_trial(f"t{len(done)}", assignment, metrics=loss(assignment), second=len(done)))
    changed = katib_trial("t0", assignments_of_trial(done[0]), metrics={"f1": 99.0}, second=0)
    for trials in ([changed, *done[1:]], [changed, *done[1:-1]]):  # a result changed; a trial deleted
        request = suggestions_request(experiment, trials, 2)
        assert assignments_of(stub.GetSuggestions(request, timeout=60)) == restarted(request)
    assert kept_study(served, experiment).rebuilds == 2


def assignments_of_trial(trial: pb.Trial) -> Assignment:
    return {a.name: a.value for a in trial.spec.parameter_assignments.assignments}
