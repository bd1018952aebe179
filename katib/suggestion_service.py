"""hpoctl-optuna: the Katib suggestion service (`api.v1.beta1.Suggestion` on port 6789) that gives Katib
multi-objective optimisation, warm starts and every sampler of hpoctl's, and survives a pod restart.

Katib's controller calls `ValidateAlgorithmSettings` once when an Experiment starts and `GetSuggestions`
whenever it wants trials, each time sending the Experiment and all its trials; it gives a call 60 s. The
service keeps each Experiment's study in memory and takes in only what changed (`hpoctl.katib.suggestion_study`);
the request alone is enough to rebuild it (`hpoctl.katib.suggestion_request`), so a restarted pod recovers
from Katib's trials and nothing needs a volume. Bad settings or requests are INVALID_ARGUMENT with a message
naming the setting; the server never goes down on a bad request. The standard gRPC health service answers
SERVING for "" and for `manager.v1beta1.Suggestion`, the service name Katib's probes ask for.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import warnings
from collections import OrderedDict
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from kubeflow.katib import katib_api_pb2 as pb
from kubeflow.katib import katib_api_pb2_grpc as pb_grpc

from hpoctl.katib.suggestion_request import ExperimentContext, check_request, experiment_context
from hpoctl.katib.suggestion_settings import SettingsError
from hpoctl.katib.suggestion_study import KeptStudies

log = logging.getLogger("hpoctl.katib.suggestion")

DEFAULT_PORT = 6789
#: The service name Katib's readiness and liveness probes check (Katib's DefaultGRPCService).
HEALTH_SERVICE = "manager.v1beta1.Suggestion"
SUGGESTION_SERVICE = pb.DESCRIPTOR.services_by_name["Suggestion"].full_name  # api.v1.beta1.Suggestion
#: Katib sends every trial of the Experiment in each request: thousands of trials exceed gRPC's 4 MiB default.
MAX_MESSAGE = 256 * 1024 * 1024
CACHE_SIZE = 32


class SuggestionService(pb_grpc.SuggestionServicer):
    """Answers Katib's Suggestion calls. It caches each Experiment's parsed settings and search space (keyed by
    a hash of the Experiment spec) and keeps its study between calls (`hpoctl.katib.suggestion_study`), taking
    in only the trials that are new or changed and remembering the proposals Katib has not made trials of yet."""

    def __init__(self, cache_size: int = CACHE_SIZE) -> None:
        self._cache: OrderedDict[bytes, ExperimentContext] = OrderedDict()
        self._cache_size = cache_size
        self.studies = KeptStudies()
        # One call at a time, as Katib makes them: Optuna's samplers and `warnings` are not for threads.
        self._lock = threading.Lock()

    def context(self, experiment: pb.Experiment) -> ExperimentContext:
        key = hashlib.sha256(
            experiment.name.encode() + b"\0" + experiment.spec.SerializeToString(deterministic=True)
        ).digest()
        found = self._cache.get(key)
        if found is None:
            found = experiment_context(experiment)
            self._cache[key] = found
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return found

    def ValidateAlgorithmSettings(self, request, context):
        with self._lock:
            try:
                if not request.HasField("experiment") or not request.experiment.HasField("spec"):
                    raise SettingsError(["the request has no experiment spec"])
                self.context(request.experiment)
            except SettingsError as e:
                return _invalid(context, request.experiment.name, e)
            except Exception as e:
                return _internal(context, request.experiment.name, "ValidateAlgorithmSettings", e)
        return pb.ValidateAlgorithmSettingsReply()

    def GetSuggestions(self, request, context):
        name = request.experiment.name
        with self._lock:
            started = time.perf_counter()
            try:
                check_request(request)
                experiment = self.context(request.experiment)
                kept = self.studies.of(experiment)
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    try:
                        proposals = kept.suggest(request)
                    except Exception:
                        self.studies.forget(experiment)
                        raise
                for warning in {str(w.message) for w in caught}:
                    log.debug("%s: %s", name, warning)
            except SettingsError as e:
                return _invalid(context, name, e)
            except Exception as e:
                return _internal(context, name, "GetSuggestions", e)
            log.info(
                "%s: %d suggestions from %d trials (%d handed out earlier, not yet trials; %d warm start) in %.3f s",
                name,
                len(proposals),
                len(request.trials),
                len(kept.pending) - len(proposals),
                len(experiment.warm_trials),
                time.perf_counter() - started,
            )
        return pb.GetSuggestionsReply(
            parameter_assignments=[
                pb.GetSuggestionsReply.ParameterAssignments(
                    assignments=[pb.ParameterAssignment(name=k, value=v) for k, v in proposal.items()]
                )
                for proposal in proposals
            ]
        )


def _invalid(context: grpc.ServicerContext, experiment: str, error: SettingsError):
    message = f"hpoctl-optuna: {error}"
    log.warning("%s: %s", experiment or "?", message)
    context.abort(grpc.StatusCode.INVALID_ARGUMENT, message)


def _internal(context: grpc.ServicerContext, experiment: str, call: str, error: Exception):
    log.exception("%s: %s failed", experiment or "?", call)
    context.abort(grpc.StatusCode.INTERNAL, f"hpoctl-optuna: {call} failed: {type(error).__name__}: {error}")


def create_server(host: str = "[::]", port: int = DEFAULT_PORT, *, workers: int = 4) -> tuple[grpc.Server, int]:
    """A started server with the Suggestion and health services (its `suggestion` and `health` attributes);
    returns it and the port it bound (pass port 0 for an ephemeral one)."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="suggestion"),
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE),
            ("grpc.max_send_message_length", MAX_MESSAGE),
        ],
    )
    suggestion = SuggestionService()
    pb_grpc.add_SuggestionServicer_to_server(suggestion, server)
    health_servicer = health.HealthServicer()
    for service in ("", HEALTH_SERVICE, SUGGESTION_SERVICE):
        health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot listen on {host}:{port}")
    server.start()
    server.health = health_servicer  # type: ignore[attr-defined]
    server.suggestion = suggestion  # type: ignore[attr-defined]
    return server, bound


def stop_server(server: grpc.Server, grace: float = 5.0) -> None:
    """Report NOT_SERVING, then stop, letting calls under way finish within `grace` seconds."""
    health_servicer = getattr(server, "health", None)
    if health_servicer is not None:
        health_servicer.enter_graceful_shutdown()
    server.stop(grace).wait()
