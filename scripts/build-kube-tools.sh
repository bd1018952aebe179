#!/usr/bin/env bash
# Builds the real Kubernetes tier of the tests from Go modules at pinned versions (no downloaded binaries):
# kube-apiserver and kubectl (k8s.io/kubernetes v1.34.0), etcd (go.etcd.io/etcd/server/v3 v3.6.4) and
# katib-admission (Katib v0.19.0's own admission code, tools/katib-admission), plus Katib's CRDs and
# katib-config copied out of the katib module. The result is cached in KUBE_TOOLS, a folder keyed by the
# hash of the tools' sources, so a warm run is a no-op.
#
#   scripts/build-kube-tools.sh          prints the tools folder on stdout
#
# Without Go it prints the reason on stderr and exits 0 (the real tier then skips), unless
# HPOCTL_REQUIRE_KUBE=1 (set by CI), which turns it into a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v go >/dev/null; then
  echo "build-kube-tools: no Go toolchain: the real Kubernetes tier of the tests will skip (install Go >= 1.24)" >&2
  [[ ${HPOCTL_REQUIRE_KUBE:-} == 1 ]] && exit 1
  exit 0
fi
key=$(cat tools/kube-testenv/go.mod tools/kube-testenv/go.sum tools/katib-admission/go.mod tools/katib-admission/go.sum \
  tools/katib-admission/*.go scripts/build-kube-tools.sh | sha256sum | cut -c1-16)
out=${KUBE_TOOLS:-$PWD/.cache/kube-tools/$key}
if [[ -f $out/.complete ]]; then
  echo "$out"
  exit 0
fi
export GOTOOLCHAIN=local GOFLAGS=-mod=readonly
start=$(date +%s)
rm -rf "$out" && mkdir -p "$out/bin" "$out/katib"
[[ -z ${KUBE_TOOLS:-} ]] && find "$(dirname "$out")" -mindepth 1 -maxdepth 1 ! -name "$key" -exec rm -rf {} + # older builds
echo "build-kube-tools: building kube-apiserver, kubectl, etcd and katib-admission into $out (cold: minutes)" >&2
# The version the binaries report (as Kubernetes' own build stamps it): Helm's kubeVersion checks and kubectl's
# version skew read it.
k8s=$(cd tools/kube-testenv && go list -m -f '{{.Version}}' k8s.io/kubernetes)
minor=$(echo "$k8s" | cut -d. -f2)
stamp="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  stamp+=" -X $pkg.gitVersion=$k8s -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
(cd tools/kube-testenv && go build -trimpath -ldflags="$stamp" -o "$out/bin/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver &&
  go build -trimpath -ldflags="$stamp" -o "$out/bin/kubectl" k8s.io/kubernetes/cmd/kubectl &&
  go build -trimpath -ldflags='-s -w' -o "$out/bin/etcd" go.etcd.io/etcd/server/v3) >&2
(cd tools/katib-admission && go build -trimpath -ldflags='-s -w' -o "$out/bin/katib-admission" . &&
  katib=$(go list -m -f '{{.Dir}}' github.com/kubeflow/katib) &&
  cp "$katib"/manifests/v1beta1/components/crd/{experiment,suggestion,trial}.yaml "$out/katib/" &&
  cp "$katib"/manifests/v1beta1/installs/katib-standalone/katib-config.yaml "$out/katib/katib-config.yaml") >&2
chmod -R u+w "$out/katib"
touch "$out/.complete"
echo "build-kube-tools: built in $(($(date +%s) - start)) s" >&2
echo "$out"
