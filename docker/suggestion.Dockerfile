# syntax=docker/dockerfile:1
# The hpoctl-optuna suggestion service Katib runs per Experiment (katib-config `runtime.suggestions`): a gRPC
# server on port 6789. The light client install: no torch, no CUDA.
#
#   docker build -f docker/suggestion.Dockerfile -t ghcr.io/hpoctl/suggestion:0.1.0 .

ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY hpoctl ./hpoctl
COPY cli ./cli
COPY katib ./katib
COPY slurm ./slurm
COPY trainers ./trainers
RUN pip install --no-cache-dir "hpoctl @ file:///src" \
    && python -c "import hpoctl.katib" \
    && pip uninstall -y pip

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="hpoctl-suggestion" \
      org.opencontainers.image.description="hpoctl-optuna: Optuna-backed Katib suggestion service (gRPC :6789)" \
      org.opencontainers.image.source="https://github.com/hpoctl/hpoctl" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="0.1.0"
RUN groupadd --gid 10001 hpoctl \
    && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/hpoctl --shell /usr/sbin/nologin hpoctl
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/home/hpoctl
WORKDIR /home/hpoctl
USER 10001:10001
EXPOSE 6789
ENTRYPOINT ["hpoctl", "suggestion", "serve"]
