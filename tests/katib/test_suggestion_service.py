"""hpoctl-optuna over real gRPC on loopback, called the way Katib's controller calls a suggestion service:
requests built from Katib's own protobuf messages as its suggestion client builds them (ConvertExperiment,
ConvertTrials: every trial with its latest condition and its metrics after their strategies)."""

from __future__ import annotations

import math
import os
import random
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from kubeflow.katib import katib_api_pb2 as pb
from kubeflow.katib import katib_api_pb2_grpc as pb_grpc

from hpoctl.catalog import builtin_names, load_study
from hpoctl.katib.parameters import decode_value
from hpoctl.katib.suggestion_request import call_seed, experiment_context, optuna_view, propose, request_records
from hpoctl.katib.suggestion_service import create_server, stop_server
from hpoctl.katib.suggestion_settings import Objective, WarmTrial, encode_warm_start
from tests.katib.conftest import render

Assignment = dict[str, str]
_TYPES = {"int": pb.INT, "double": pb.DOUBLE, "categorical": pb.CATEGORICAL, "discrete": pb.DISCRETE}
_DISTRIBUTIONS = {"uniform": pb.UNIFORM, "logUniform": pb.LOG_UNIFORM, "normal": pb.NORMAL, "logNormal": pb.LOG_NORMAL}
_CONDITIONS = {
    "Created": pb.TrialStatus.CREATED,
    "Running": pb.TrialStatus.RUNNING,
    "Succeeded": pb.TrialStatus.SUCCEEDED,
    "Killed": pb.TrialStatus.KILLED,
    "Failed": pb.TrialStatus.FAILED,
    "EarlyStopped": pb.TrialStatus.EARLYSTOPPED,
}


# What Katib's controller does (pkg/controller.v1beta1/suggestion/suggestionclient), as a test double.


def katib_experiment(manifest: Mapping[str, Any]) -> pb.Experiment:
    """ConvertExperiment: an Experiment (camelCase, as rendered) as the request's Experiment message."""
    spec = manifest["spec"]
    objective = spec["objective"]
    experiment = pb.Experiment(
        name=manifest["metadata"]["name"],
        spec=pb.ExperimentSpec(
            algorithm=pb.AlgorithmSpec(
                algorithm_name=spec["algorithm"]["algorithmName"],
                algorithm_settings=[
                    pb.AlgorithmSetting(name=s["name"], value=s["value"])
                    for s in spec["algorithm"].get("algorithmSettings") or []
                ],
            ),
            objective=pb.ObjectiveSpec(
                type=pb.MAXIMIZE if objective["type"] == "maximize" else pb.MINIMIZE,
                objective_metric_name=objective["objectiveMetricName"],
                additional_metric_names=objective.get("additionalMetricNames") or [],
            ),
            parameter_specs=pb.ExperimentSpec.ParameterSpecs(
                parameters=[
                    pb.ParameterSpec(
                        name=p["name"],
                        parameter_type=_TYPES[p["parameterType"]],
                        feasible_space=pb.FeasibleSpace(
                            min=p["feasibleSpace"].get("min", ""),
                            max=p["feasibleSpace"].get("max", ""),
                            step=p["feasibleSpace"].get("step", ""),
                            list=p["feasibleSpace"].get("list") or [],
                            distribution=_DISTRIBUTIONS.get(p["feasibleSpace"].get("distribution", ""), 0),
                        ),
                    )
                    for p in spec["parameters"]
                ]
            ),
            parallel_trial_count=spec.get("parallelTrialCount", 0),
            max_trial_count=spec.get("maxTrialCount", 0),
        ),
    )
    if objective.get("goal") is not None:
        experiment.spec.objective.goal = float(objective["goal"])
    return experiment


def toy_experiment(
    parameters: Sequence[tuple[str, str, dict[str, Any]]],
    settings: Mapping[str, str],
    *,
    objective: str = "f1",
    kind: str = "minimize",
    additional: Sequence[str] = ("f2",),
    name: str = "toy-search",
) -> pb.Experiment:
    return katib_experiment(
        {
            "metadata": {"name": name},
            "spec": {
                "algorithm": {
                    "algorithmName": "hpoctl-optuna",
                    "algorithmSettings": [{"name": k, "value": v} for k, v in settings.items()],
                },
                "objective": {
                    "type": kind,
                    "objectiveMetricName": objective,
                    "additionalMetricNames": list(additional),
                },
                "parameters": [{"name": n, "parameterType": t, "feasibleSpace": fs} for n, t, fs in parameters],
            },
        }
    )


def katib_trial(
    name: str,
    assignments: Mapping[str, str],
    condition: str = "Succeeded",
    metrics: Mapping[str, Any] | None = None,
    second: int = 0,
) -> pb.Trial:
    """ConvertTrials: one trial with its latest condition and each metric's value after its strategy (text)."""
    return pb.Trial(
        name=name,
        spec=pb.TrialSpec(
            parameter_assignments=pb.TrialSpec.ParameterAssignments(
                assignments=[pb.ParameterAssignment(name=k, value=v) for k, v in assignments.items()]
            )
        ),
        status=pb.TrialStatus(
            start_time=_time(second),
            completion_time=_time(second + 1) if condition not in ("Created", "Running") else "",
            condition=_CONDITIONS[condition],
            observation=pb.Observation(metrics=[pb.Metric(name=k, value=str(v)) for k, v in (metrics or {}).items()]),
        ),
    )


def _time(second: int) -> str:
    return f"2025-01-01T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}Z"


def suggestions_request(
    experiment: pb.Experiment, trials: Sequence[pb.Trial], count: int, asked_before: int | None = None
) -> pb.GetSuggestionsRequest:
    """As SyncAssignments builds it: current = requests - suggestions given, total = requests."""
    before = len(trials) if asked_before is None else asked_before
    return pb.GetSuggestionsRequest(
        experiment=experiment, trials=trials, current_request_number=count, total_request_number=before + count
    )


def assignments_of(reply: pb.GetSuggestionsReply) -> list[Assignment]:
    return [{a.name: a.value for a in p.assignments} for p in reply.parameter_assignments]


@pytest.fixture(scope="module")
def server():
    server, port = create_server("127.0.0.1", 0, workers=2)
    yield port
    stop_server(server, grace=1)


@pytest.fixture(scope="module")
def channel(server):
    with grpc.insecure_channel(f"127.0.0.1:{server}") as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        yield channel


@pytest.fixture(scope="module")
def stub(channel) -> pb_grpc.SuggestionStub:
    return pb_grpc.SuggestionStub(channel)


def drive(
    stub: pb_grpc.SuggestionStub,
    experiment: pb.Experiment,
    evaluate: Callable[[Assignment], Mapping[str, float]],
    trials: int,
    batch: int,
) -> list[tuple[Assignment, Mapping[str, float]]]:
    """Katib's loop: ask for `batch` suggestions, run them, report them back succeeded; until `trials` ran."""
    done: list[pb.Trial] = []
    results = []
    while len(done) < trials:
        reply = stub.GetSuggestions(suggestions_request(experiment, done, min(batch, trials - len(done))), timeout=60)
        for assignment in assignments_of(reply):
            metrics = evaluate(assignment)
            results.append((assignment, metrics))
            done.append(
                katib_trial(f"{experiment.name}-{len(done):08d}", assignment, metrics=metrics, second=len(done))
            )
    return results


def check_assignment(manifest: Mapping[str, Any], assignment: Assignment) -> None:
    """Every parameter of the Experiment, each a value Katib's webhook and the trainer accept."""
    parameters = manifest["spec"]["parameters"]
    assert list(assignment) == [p["name"] for p in parameters]
    for p in parameters:
        text, fs = assignment[p["name"]], p["feasibleSpace"]
        if p["parameterType"] == "categorical":
            assert text in fs["list"], (p["name"], text)
            continue
        if p["parameterType"] == "int":
            assert re.fullmatch(r"-?\d+", text), (p["name"], text)
            value, low, high = int(text), int(fs["min"]), int(fs["max"])
            assert low <= value <= high and (value - low) % int(fs.get("step") or 1) == 0, (p["name"], text)
            continue
        value, low, high = float(text), float(fs["min"]), float(fs["max"])
        assert math.isfinite(value) and low <= value <= high, (p["name"], text)
        if fs.get("step"):
            k = (value - low) / float(fs["step"])
            assert abs(k - round(k)) < 1e-9 and len(text) < 20, (p["name"], text)  # on the grid, and exactly so


def test_health_service_answers_serving(channel):
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "manager.v1beta1.Suggestion", "api.v1.beta1.Suggestion"):
        reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("study", builtin_names())
def test_assignments_valid_for_every_builtin_study(stub, study):
    target = next(iter(load_study(study).spec.targets))
    item = next(r for r in render(study, target, algorithm="hpoctl-optuna") if r.stage.mode == "continue")
    manifest = item.manifest
    settings = {s["name"]: s["value"] for s in manifest["spec"]["algorithm"]["algorithmSettings"]}
    assert manifest["spec"]["algorithm"]["algorithmName"] == "hpoctl-optuna"
    experiment = katib_experiment(manifest)
    stub.ValidateAlgorithmSettings(pb.ValidateAlgorithmSettingsRequest(experiment=experiment), timeout=60)
    metrics = [o.split(":")[0] for o in settings["objectives"].split(",")]
    rng = random.Random(7)
    trials: list[pb.Trial] = []
    for _ in range(3):  # the start-up (random) phase, then the sampler's own (25 trials seen)
        for assignment in assignments_of(stub.GetSuggestions(suggestions_request(experiment, trials, 9), timeout=60)):
            check_assignment(manifest, assignment)
            for name, text in assignment.items():
                decode_value(item.plan.parameters[name], text)  # what a pull and the trainer read
            trials.append(
                katib_trial(
                    f"t{len(trials)}", assignment, metrics={m: rng.random() for m in metrics}, second=len(trials)
                )
            )
    distinct = {tuple((a.name, a.value) for a in t.spec.parameter_assignments.assignments) for t in trials}
    assert len(distinct) > len(trials) // 2  # NSGA-II's crossover may repeat a configuration of a small space


def zdt1(assignment: Assignment) -> dict[str, float]:
    x = [float(assignment[f"x{i}"]) for i in range(3)]
    g = 1 + 9 * (x[1] + x[2]) / 2
    return {"f1": x[0], "f2": g * (1 - math.sqrt(x[0] / g))}


def hypervolume(points: Sequence[tuple[float, float]], reference: tuple[float, float]) -> float:
    """The area dominated by `points` (both minimised) up to `reference`."""
    volume, best_f2 = 0.0, reference[1]
    for f1, f2 in sorted(p for p in points if p[0] < reference[0] and p[1] < reference[1]):
        if f2 < best_f2:
            volume += (reference[0] - f1) * (best_f2 - f2)
            best_f2 = f2
    return volume


def test_two_objectives_reach_a_higher_hypervolume_than_random(stub):
    space = [(f"x{i}", "double", {"min": "0", "max": "1"}) for i in range(3)]
    volumes: dict[str, list[float]] = {"motpe": [], "random": []}
    for seed in range(5):
        for sampler in volumes:
            settings = {"sampler": sampler, "seed": str(seed), "objectives": "f1:minimize,f2:minimize"}
            ran = drive(stub, toy_experiment(space, settings, name=f"zdt1-{sampler}-{seed}"), zdt1, trials=60, batch=4)
            volumes[sampler].append(hypervolume([(m["f1"], m["f2"]) for _, m in ran], (1.1, 11.0)))
    assert statistics.median(volumes["motpe"]) > statistics.median(volumes["random"]), volumes


def test_warm_start_proposes_near_the_prior_best(stub):
    space = [("x", "double", {"min": "0", "max": "1"}), ("y", "double", {"min": "0", "max": "1"})]
    rng = random.Random(3)
    prior = []
    for _ in range(40):
        x, y = rng.random(), rng.random()
        prior.append(WarmTrial({"x": repr(x), "y": repr(y)}, ((x - 0.3) ** 2 + (y - 0.7) ** 2,)))
    best = min(prior, key=lambda t: t.values[0])
    objectives = [Objective("loss", "minimize")]
    warm = encode_warm_start(objectives, ["x", "y"], prior)
    assert warm.kept == 40

    def distances(warm_start: str | None) -> list[float]:
        """The first suggestion of a call, for several seeds (further ones in a call explore: constant liar)."""
        found = []
        for seed in range(6):
            settings = {"sampler": "tpe", "seed": str(seed), "objectives": "loss:minimize"}
            if warm_start:
                settings["warm_start"] = warm_start
            experiment = toy_experiment(space, settings, objective="loss", additional=())
            (a,) = assignments_of(stub.GetSuggestions(suggestions_request(experiment, [], 1), timeout=60))
            found.append(
                math.dist((float(a["x"]), float(a["y"])), (float(best.assignments["x"]), float(best.assignments["y"])))
            )
        return found

    warmed, cold = distances(warm.text), distances(None)
    assert statistics.median(warmed) < 0.1 and max(warmed) < 0.2, warmed
    assert statistics.median(cold) > 3 * statistics.median(warmed), (warmed, cold)


def test_suggestions_of_one_call_and_of_the_next_do_not_collide(stub):
    space = [("lr", "double", {"min": "0.0001", "max": "0.1", "distribution": "logUniform"})]
    space += [("layers", "int", {"min": "1", "max": "64"}), ("act", "categorical", {"list": ["relu", "gelu"]})]
    experiment = toy_experiment(space, {"sampler": "tpe", "seed": "5"}, objective="loss", additional=())
    done = [
        katib_trial(f"t{i}", a, metrics={"loss": float(a["lr"]) * int(a["layers"])}, second=i)
        for i, a in enumerate(assignments_of(stub.GetSuggestions(suggestions_request(experiment, [], 12), timeout=60)))
    ]
    first = assignments_of(stub.GetSuggestions(suggestions_request(experiment, done, 6), timeout=60))
    assert len({tuple(a.items()) for a in first}) == 6
    running = [katib_trial(f"r{i}", a, condition="Running", second=20 + i) for i, a in enumerate(first)]
    second = assignments_of(stub.GetSuggestions(suggestions_request(experiment, done + running, 6), timeout=60))
    assert not {tuple(a.items()) for a in first} & {tuple(a.items()) for a in second}
    again = assignments_of(stub.GetSuggestions(suggestions_request(experiment, done + running, 6), timeout=60))
    assert again == second, "the same request gets the same answer"


@pytest.mark.parametrize("sampler", ["nsga2", "cmaes", "random", "multivariate-tpe", "qmc"])
def test_every_sampler_answers(stub, sampler):
    if sampler == "qmc":
        pytest.importorskip("scipy", reason="Optuna's QMCSampler needs scipy, which the light install lacks")
    space = [(f"x{i}", "double", {"min": "-2", "max": "2", "step": "0.25"}) for i in range(2)]
    space.append(("n", "int", {"min": "2", "max": "12", "step": "2"}))
    settings = {"sampler": sampler, "seed": "4", **({"population_size": "6"} if sampler == "nsga2" else {})}
    experiment = toy_experiment(space, settings, objective="loss", additional=())
    manifest = {"spec": {"parameters": [{"name": n, "parameterType": t, "feasibleSpace": fs} for n, t, fs in space]}}
    ran = drive(
        stub,
        experiment,
        lambda a: {"loss": float(a["x0"]) ** 2 + float(a["x1"]) ** 2 + int(a["n"])},
        trials=24,
        batch=6,
    )
    for assignment, _ in ran:
        check_assignment(manifest, assignment)
    # The server replayed the trials call by call (its cache); from scratch the answer is the same.
    done = [katib_trial(f"{experiment.name}-{i:08d}", a, metrics=m, second=i) for i, (a, m) in enumerate(ran)]
    request = suggestions_request(experiment, done, 3)
    served = assignments_of(stub.GetSuggestions(request, timeout=60))
    context = experiment_context(experiment)
    records = request_records(context, request.trials)
    assert served == propose(optuna_view(context, records, call_seed(context, request)), context, 3)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"sampler": "tpe", "bogus": "1"}, "setting 'bogus' is unknown to hpoctl-optuna with sampler 'tpe'"),
        ({"sampler": "gp"}, "setting sampler='gp' is not a sampler hpoctl-optuna runs"),
        ({"sampler": "tpe", "n_startup_trials": "-1"}, "setting n_startup_trials='-1' must be an integer >= 0"),
        ({"sampler": "tpe", "seed": "abc"}, "setting seed='abc' must be an integer in"),
        ({"objectives": "f1:minimize,f9:maximize"}, "metric 'f9' is not collected by the Experiment"),
        ({"objectives": "f1"}, "setting objectives='f1': 'f1' is not metric:direction"),
        ({"objectives": "f1:maximize"}, "f1 is to maximize, but the Experiment's objective type is minimize"),
        ({"sampler": "cmaes", "objectives": "f1:minimize,f2:minimize"}, "sampler='cmaes' optimises one objective"),
        ({"conditions": '{"zz": {"x0": ["1"]}}'}, "setting conditions: 'zz' is not a parameter of the Experiment"),
        ({"conditions": "[1"}, "setting conditions: not JSON"),
        ({"warm_start": "not base64!"}, "setting warm_start: not base64"),
        ({"warm_start": "aGVsbG8="}, "setting warm_start: not gzip data"),
    ],
)
def test_bad_settings_are_invalid_argument_naming_the_setting(stub, channel, settings, message):
    experiment = toy_experiment([("x0", "double", {"min": "0", "max": "1"})], settings)
    for call in (
        lambda: stub.ValidateAlgorithmSettings(pb.ValidateAlgorithmSettingsRequest(experiment=experiment), timeout=60),
        lambda: stub.GetSuggestions(suggestions_request(experiment, [], 1), timeout=60),
    ):
        with pytest.raises(grpc.RpcError) as caught:
            call()
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert message in caught.value.details(), caught.value.details()
    still_serving(stub, channel)


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ([], "the Experiment has no parameters"),
        ([("x", "double", {"min": "1", "max": "0"})], "parameter 'x': min '1' must be less than max '0'"),
        ([("x", "int", {"min": "1.5", "max": "3"})], "parameter 'x': min '1.5' is not an integer"),
        ([("x", "double", {"min": "0", "max": "1", "distribution": "normal"})], "distribution NORMAL is not supported"),
        ([("x", "double", {"min": "0", "max": "1", "distribution": "logUniform"})], "needs min > 0"),
        ([("x", "categorical", {"list": []})], "parameter 'x': feasibleSpace.list is empty"),
        ([("x", "int", {"min": "1", "max": "9"}), ("x", "int", {"min": "1", "max": "9"})], "'x' is defined twice"),
    ],
)
def test_malformed_experiments_are_invalid_argument(stub, channel, parameters, message):
    experiment = toy_experiment(parameters, {})
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetSuggestions(suggestions_request(experiment, [], 1), timeout=60)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and message in caught.value.details()
    still_serving(stub, channel)


def test_malformed_requests_are_invalid_argument(stub, channel):
    for request, message in [
        (pb.GetSuggestionsRequest(current_request_number=1), "the request has no experiment spec"),
        (
            pb.GetSuggestionsRequest(
                experiment=toy_experiment([("x", "int", {"min": "0", "max": "3"})], {}), current_request_number=-1
            ),
            "current_request_number -1 must be between 0 and",
        ),
    ]:
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetSuggestions(request, timeout=60)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and message in caught.value.details()
    with pytest.raises(grpc.RpcError) as caught:
        stub.ValidateAlgorithmSettings(pb.ValidateAlgorithmSettingsRequest(), timeout=60)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    still_serving(stub, channel)


def still_serving(stub: pb_grpc.SuggestionStub, channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    experiment = toy_experiment([("x", "int", {"min": "0", "max": "3"})], {"seed": "1"})
    assert len(stub.GetSuggestions(suggestions_request(experiment, [], 2), timeout=60).parameter_assignments) == 2


def test_a_new_server_process_answers_the_same(stub):
    """`hpoctl suggestion serve` in a fresh process (a restarted pod) answers the same request as this one."""
    item = render("csi", "default", algorithm="hpoctl-optuna")[0]
    experiment = katib_experiment(item.manifest)
    rng = random.Random(11)
    trials = [
        katib_trial(f"t{i}", a, metrics={"val_f1": rng.random()}, second=i)
        for i, a in enumerate(assignments_of(stub.GetSuggestions(suggestions_request(experiment, [], 25), timeout=60)))
    ]
    trials.append(
        katib_trial(
            "stopped",
            assignments_of(stub.GetSuggestions(suggestions_request(experiment, trials, 1), timeout=60))[0],
            "EarlyStopped",
        )
    )
    request = suggestions_request(experiment, trials, 3)
    here = assignments_of(stub.GetSuggestions(request, timeout=60))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "hpoctl", "suggestion", "serve", "--host", "127.0.0.1", "--port", "0"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        port = None
        deadline = time.monotonic() + 60
        while port is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            found = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            port = int(found.group(1)) if found else None
        assert port, "the service never said where it listens"
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            there = assignments_of(pb_grpc.SuggestionStub(channel).GetSuggestions(request, timeout=60))
            health = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="manager.v1beta1.Suggestion"), timeout=10
            )
        assert there == here and len(there) == 3
        for assignment in there:
            check_assignment(item.manifest, assignment)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        process.terminate()
        code = process.wait(timeout=30)
        process.stderr.close()
    assert code == 0
