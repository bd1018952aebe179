# syntax=docker/dockerfile:1
# The hpoctl trainer image: `python -m hpoctl.trainers.<name> --target T --epochs E --<param>=<value> ...`, the
# same command a Katib trial pod, an Apptainer container (docker/hpoctl.def) and a local child process run.
#
#   docker build -f docker/trainer.Dockerfile -t ghcr.io/hpoctl/trainer:0.1.0 .
#
# Two stages: the builder installs hpoctl[train,tracking] (tracking: W&B and MLflow clients for a spec's
# `tracking:`) and a CUDA build of torch into /opt/venv; the final stage is the
# CUDA runtime with Python and that venv only (no compiler, no pip). torch wheels bring their own CUDA libraries;
# keep TORCH_INDEX_URL's CUDA version at or below the base image's so the host driver requirement is the same.

ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

FROM ${CUDA_IMAGE} AS builder
# torch is pinned as in pyproject's `train` extra; lightning takes the extra's range.
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128
ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
RUN pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY hpoctl ./hpoctl
COPY cli ./cli
COPY katib ./katib
COPY slurm ./slurm
COPY trainers ./trainers
RUN pip install --no-cache-dir "hpoctl[train,tracking] @ file:///src" "torch==${TORCH_VERSION}" "lightning>=2.5,<2.7" \
    && python -c "import torch, lightning, hpoctl.trainers, wandb, mlflow" \
    && pip uninstall -y pip

FROM ${CUDA_IMAGE}
ARG TORCH_VERSION=2.13.0
LABEL org.opencontainers.image.title="hpoctl-trainer" \
      org.opencontainers.image.description="hpoctl trainers (PyTorch Lightning) on CUDA: python -m hpoctl.trainers.<name>" \
      org.opencontainers.image.source="https://github.com/hpoctl/hpoctl" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="0.1.0" \
      io.hpoctl.torch-version="${TORCH_VERSION}"
ENV DEBIAN_FRONTEND=noninteractive
# Python only (the venv's interpreter); a fixed non-root user; the mount points of the chart's claims.
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 hpoctl \
    && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/hpoctl --shell /usr/sbin/nologin hpoctl \
    && mkdir -p /data /cache /results \
    && chown 10001:10001 /data /cache /results
COPY --from=builder /opt/venv /opt/venv
# Unbuffered output: Katib's StdOut metrics collector reads the per-epoch `name=value` lines as they come.
# Writable places are /tmp (an emptyDir under a read-only root filesystem) and the mounted claims.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/home/hpoctl \
    HPOCTL_CACHE_DIR=/cache \
    HPOCTL_OUTPUT_DIR=/tmp/trainer-output \
    MPLCONFIGDIR=/tmp/matplotlib
WORKDIR /home/hpoctl
USER 10001:10001
ENTRYPOINT ["python", "-m"]
CMD ["hpoctl.trainers.everest", "--help"]
