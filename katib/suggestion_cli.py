"""`hpoctl suggestion serve`: the hpoctl-optuna suggestion service Katib runs per Experiment."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import Annotated

import typer

app = typer.Typer(
    name="suggestion",
    help="The hpoctl-optuna Katib suggestion service (gRPC).",
    no_args_is_help=True,
)


@app.command("serve")
def serve(
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port (0: any free one).")] = 6789,
    host: Annotated[str, typer.Option("--host", help="Address to listen on ([::]: every address).")] = "[::]",
    workers: Annotated[int, typer.Option("--workers", min=1, help="gRPC worker threads.")] = 4,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every sampler warning too.")] = False,
) -> None:
    """Serve Katib's Suggestion API (GetSuggestions, ValidateAlgorithmSettings) and the gRPC health service.

    Katib runs the image registered as hpoctl-optuna (`hpoctl katib register`) per Experiment, on port
    6789. It keeps each Experiment's study in memory and needs no volume: a restarted pod rebuilds it from
    Katib's request. Logs go to stderr; SIGTERM stops it gracefully.

    Examples:
        hpoctl suggestion serve
        hpoctl suggestion serve --port 16789 --host 127.0.0.1 -v
    """
    from hpoctl.katib.suggestion_service import create_server, stop_server

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        logging.getLogger("optuna").setLevel(logging.WARNING)
    server, bound = create_server(host, port, workers=workers)
    logging.getLogger("hpoctl.katib.suggestion").info("hpoctl-optuna listening on %s:%d", host, bound)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stop_server(server)
        logging.getLogger("hpoctl.katib.suggestion").info("hpoctl-optuna stopped")
