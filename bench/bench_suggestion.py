"""hpoctl-optuna latency (a benchmark, never a test): `GetSuggestions` over real gRPC on loopback at 100, 1,000
and 5,000 completed trials, for TPE (everest's search space, one objective) and multi-objective TPE (forecast's
NHITS_Q space, MAE and PICP), against Optuna's own `ask` on an in-memory study holding the same trials.

Calls go as Katib makes them: each asks for one suggestion and brings every trial, the previous call's
suggestion now among them as a succeeded trial. The first call of an Experiment (a fresh service, or one
restarted) builds its study from the request; later calls find the kept study and take in only what changed,
so their latency is the request's transfer, a pass over its trials' status and the sampling. Optuna's `ask`
is the sampling alone. Aims (issue 19): p50 within 2x `ask` at 1,000 and 5,000 trials, p95 under 1 s at
5,000. Katib's controller gives a call 60 s.

    .venv/bin/python bench/bench_suggestion.py                     # 100, 1000, 5000 trials
    .venv/bin/python bench/bench_suggestion.py --sizes 1000 5000 --repeats 9
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from collections.abc import Callable

import grpc
import optuna
from kubeflow.katib import katib_api_pb2 as pb
from kubeflow.katib import katib_api_pb2_grpc as pb_grpc
from optuna.trial import TrialState

from hpoctl.catalog import load_study
from hpoctl.katib.render import RenderOptions, render_experiment
from hpoctl.katib.suggestion_request import (
    ExperimentContext,
    experiment_context,
    optuna_view,
    request_records,
    to_text,
)
from hpoctl.katib.suggestion_service import create_server, stop_server
from hpoctl.plan import build_plans
from hpoctl.search.samplers import build_sampler
from hpoctl.search.space import suggest
from hpoctl.spec.algorithms import Algorithm
from hpoctl.spec.parameters import CategoricalParameter, IntParameter

optuna.logging.set_verbosity(optuna.logging.ERROR)

CASES = {
    # name: (study, target, sampler)
    "tpe": ("everest", "M_24h", "tpe"),
    "mo-tpe": ("forecast", "NHITS_Q@heat", "motpe"),
}


def experiment_for(study: str, target: str, sampler: str) -> pb.Experiment:
    """The study's first search stage rendered for hpoctl-optuna, as Katib's controller sends it."""
    plan = build_plans(load_study(study), target)[0]
    plan = plan.model_copy(update={"algorithm": Algorithm(name=sampler, settings={"seed": 1})})
    manifest = render_experiment(plan, plan.stages[0], RenderOptions(namespace="bench", algorithm="hpoctl-optuna"))
    spec = manifest.manifest["spec"]
    types = {"int": pb.INT, "double": pb.DOUBLE, "categorical": pb.CATEGORICAL}
    return pb.Experiment(
        name=manifest.name,
        spec=pb.ExperimentSpec(
            algorithm=pb.AlgorithmSpec(
                algorithm_name="hpoctl-optuna",
                algorithm_settings=[pb.AlgorithmSetting(**s) for s in spec["algorithm"]["algorithmSettings"]],
            ),
            objective=pb.ObjectiveSpec(
                type=pb.MAXIMIZE if spec["objective"]["type"] == "maximize" else pb.MINIMIZE,
                objective_metric_name=spec["objective"]["objectiveMetricName"],
                additional_metric_names=spec["objective"].get("additionalMetricNames") or [],
            ),
            parameter_specs=pb.ExperimentSpec.ParameterSpecs(
                parameters=[
                    pb.ParameterSpec(
                        name=p["name"],
                        parameter_type=types[p["parameterType"]],
                        feasible_space=pb.FeasibleSpace(
                            min=p["feasibleSpace"].get("min", ""),
                            max=p["feasibleSpace"].get("max", ""),
                            step=p["feasibleSpace"].get("step", ""),
                            list=p["feasibleSpace"].get("list") or [],
                            distribution=pb.LOG_UNIFORM
                            if p["feasibleSpace"].get("distribution") == "logUniform"
                            else pb.UNIFORM,
                        ),
                    )
                    for p in spec["parameters"]
                ]
            ),
        ),
    )


def completed_trials(context: ExperimentContext, count: int, seed: int = 0) -> list[pb.Trial]:
    """`count` succeeded trials with random valid assignments and smooth synthetic metrics."""
    rng = random.Random(seed)
    trials = []
    for i in range(count):
        assignment = {}
        for name, param in context.space.items():
            if isinstance(param, CategoricalParameter):
                value = rng.choice(param.choices)
            elif isinstance(param, IntParameter):
                value = rng.randrange(param.low, param.high + 1, param.step)
            elif param.log:
                value = math.exp(rng.uniform(math.log(param.low), math.log(param.high)))
            else:
                value = rng.uniform(param.low, param.high)
            assignment[name] = to_text(param, value)
        trials.append(succeeded_trial(context, i, assignment, rng))
    return trials


def succeeded_trial(context: ExperimentContext, i: int, assignment: dict[str, str], rng: random.Random) -> pb.Trial:
    """Katib's trial number `i`, succeeded with `assignment`; its metrics grow smoothly with each parameter."""
    score = 0.0
    for name, param in context.space.items():
        if isinstance(param, CategoricalParameter):
            score += param.choices.index(assignment[name]) / len(param.choices)
        elif param.log:
            low, high = math.log(param.low), math.log(param.high)
            score += (math.log(float(assignment[name])) - low) / (high - low)
        else:
            score += (float(assignment[name]) - param.low) / (param.high - param.low)
    metrics = {o.metric: (score + rng.gauss(0, 0.1)) * (1 + j) for j, o in enumerate(context.objectives)}
    stamp = f"2025-01-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z"
    return pb.Trial(
        name=f"trial-{i:06d}",
        spec=pb.TrialSpec(
            parameter_assignments=pb.TrialSpec.ParameterAssignments(
                assignments=[pb.ParameterAssignment(name=k, value=v) for k, v in assignment.items()]
            )
        ),
        status=pb.TrialStatus(
            start_time=stamp,
            completion_time=stamp,
            condition=pb.TrialStatus.SUCCEEDED,
            observation=pb.Observation(metrics=[pb.Metric(name=k, value=repr(v)) for k, v in metrics.items()]),
        ),
    )


def katib_calls(
    stub: pb_grpc.SuggestionStub,
    experiment: pb.Experiment,
    context: ExperimentContext,
    trials: list[pb.Trial],
    calls: int,
) -> list[float]:
    """Seconds of each of `calls` GetSuggestions for one suggestion, Katib's way: every trial each time, the
    previous suggestion back as a succeeded trial."""
    trials, rng, found = list(trials), random.Random(len(trials)), []
    for _ in range(calls):
        request = pb.GetSuggestionsRequest(
            experiment=experiment, trials=trials, current_request_number=1, total_request_number=len(trials) + 1
        )
        started = time.perf_counter()
        reply = stub.GetSuggestions(request, timeout=60)
        found.append(time.perf_counter() - started)
        (proposal,) = reply.parameter_assignments
        assignment = {a.name: a.value for a in proposal.assignments}
        trials.append(succeeded_trial(context, len(trials), assignment, rng))
    return found


def timed(call: Callable[[], object], repeats: int) -> list[float]:
    found = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        found.append(time.perf_counter() - started)
    return found


def p95(samples: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def optuna_ask(context: ExperimentContext, experiment: pb.Experiment, trials: list[pb.Trial]) -> Callable[[], object]:
    """Optuna's own ask (+ the same suggest) on an in-memory study already holding the trials; each asked trial
    is told FAIL afterwards, which no sampler reads, so every ask sees the same study."""
    study = optuna_view(context, request_records(context, trials), seed=1)
    sampler = build_sampler(context.algorithm, context.space, seed=1, parallel=True)
    study.sampler = sampler

    def ask() -> None:
        trial = study.ask()
        suggest(trial, context.space)
        study.tell(trial, state=TrialState.FAIL)

    return ask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--repeats", type=int, default=None, help="calls per case (default: 21, 11 at 5,000)")
    args = parser.parse_args()
    server, port = create_server("127.0.0.1", 0, workers=2)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    grpc.channel_ready_future(channel).result(timeout=10)
    stub = pb_grpc.SuggestionStub(channel)
    print(
        f"{'case':7} {'trials':>6} {'request':>8} | {'first call':>10} | {'GetSuggestions p50':>18} {'p95':>7} | "
        f"{'Optuna ask p50':>14} {'p95':>7} | {'p50 ratio':>9}"
    )
    misses = []
    try:
        for name, (study, target, sampler) in CASES.items():
            for size in args.sizes:
                experiment = experiment_for(study, target, sampler)
                experiment.name = f"{experiment.name}-{size}"  # a fresh Experiment: its first call builds the study
                context = experiment_context(experiment)
                repeats = args.repeats or (11 if size >= 5000 else 21)
                trials = completed_trials(context, size)
                megabytes = pb.GetSuggestionsRequest(experiment=experiment, trials=trials).ByteSize() / 1e6
                first, *service = katib_calls(stub, experiment, context, trials, repeats + 1)
                ask = optuna_ask(context, experiment, trials)
                ask()
                own = timed(ask, repeats)
                ratio = statistics.median(service) / statistics.median(own)
                print(
                    f"{name:7} {size:>6} {megabytes:>6.2f}MB | {first:>8.3f} s | {statistics.median(service):>16.3f} s "
                    f"{p95(service):>5.3f} s | {statistics.median(own):>12.3f} s {p95(own):>5.3f} s | {ratio:>8.1f}x",
                    flush=True,
                )
                if size in (1000, 5000) and ratio > 2:
                    misses.append(f"{name} at {size}: p50 {ratio:.1f}x ask (aim: at most 2x)")
                if size == 5000 and p95(service) >= 1:
                    misses.append(f"{name} at {size}: p95 {p95(service):.3f} s (aim: under 1 s)")
        print("aims (p50 within 2x ask at 1,000 and 5,000 trials, p95 under 1 s at 5,000): ", end="")
        print("met" if not misses else "missed: " + "; ".join(misses))
    finally:
        channel.close()
        stop_server(server, grace=1)


if __name__ == "__main__":
    main()
