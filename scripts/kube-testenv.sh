#!/usr/bin/env bash
# A real Kubernetes API server for the tests, on loopback only: etcd, kube-apiserver (RBAC, Pod Security
# Admission, admission webhooks) and Katib v0.19.0's own admission code (katib-admission, registered as
# Katib registers it), with Katib's CRDs and the katib-config ConfigMap in namespace kubeflow. No kubelet,
# no scheduler, no controllers: objects are stored and admitted, pods never run. Self-signed certificates,
# an admin kubeconfig, everything under one folder, stopped by the PIDs it started.
#
#   scripts/kube-testenv.sh up|down|restart-katib|wipe|status|env     (KUBE_TESTENV_ROOT: the state folder, default
#                                                       /tmp/hpoctl-kube; KUBE_TOOLS: scripts/build-kube-tools.sh's folder)
#   export KUBECONFIG=$KUBE_TESTENV_ROOT/kubeconfig     (`env` prints this line)
set -euo pipefail
R=${KUBE_TESTENV_ROOT:-/tmp/hpoctl-kube}
NAME=kube-testenv
# shellcheck source=scripts/daemons.sh
source "$(dirname "$0")/daemons.sh"
PIDS="run/katib-admission.pid run/kube-apiserver.pid run/etcd.pid"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

tools() {
  T=${KUBE_TOOLS:-$(bash "$(dirname "$0")/build-kube-tools.sh")}
  if [[ -z $T || ! -x $T/bin/kube-apiserver ]]; then
    echo "kube-testenv: no built tools (scripts/build-kube-tools.sh needs Go)" >&2
    exit 3
  fi
}

certs() { # a CA, serving certificates for the API server and the webhook, an admin client, the SA key
  local p=$R/pki
  mkdir -p "$p/webhook"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7 -subj /CN=hpoctl-test-ca \
    -keyout "$p/ca.key" -out "$p/ca.crt" 2>/dev/null
  issue() { # <name> <subject> <extensions>
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "$2" \
      -keyout "$p/$1.key" -out "$p/$1.csr" 2>/dev/null
    openssl x509 -req -in "$p/$1.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial -days 7 \
      -extfile <(printf '%s\n' "$3") -out "$p/$1.crt" 2>/dev/null
  }
  issue apiserver /CN=kube-apiserver \
    "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc"$'\n'"extendedKeyUsage=serverAuth"
  issue webhook /CN=katib-admission "subjectAltName=IP:127.0.0.1"$'\n'"extendedKeyUsage=serverAuth"
  issue admin "/O=system:masters/CN=hpoctl-admin" "extendedKeyUsage=clientAuth"
  cp "$p/webhook.crt" "$p/webhook/tls.crt" && cp "$p/webhook.key" "$p/webhook/tls.key"
  openssl ecparam -name prime256v1 -genkey -noout -out "$p/sa.key" 2>/dev/null
  openssl ec -in "$p/sa.key" -pubout -out "$p/sa.pub" 2>/dev/null
  chmod 600 "$p"/*.key
}

kubeconfig() {
  cat >"$R/kubeconfig" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: hpoctl-test
  cluster: {server: "https://127.0.0.1:$API_PORT", certificate-authority: "$R/pki/ca.crt"}
users:
- name: hpoctl-admin
  user: {client-certificate: "$R/pki/admin.crt", client-key: "$R/pki/admin.key"}
contexts:
- name: hpoctl-test
  context: {cluster: hpoctl-test, user: hpoctl-admin}
current-context: hpoctl-test
YAML
  chmod 600 "$R/kubeconfig"
}

webhooks() { # the webhooks of Katib's manifests/v1beta1/components/webhook, at the local katib-admission
  local ca url
  ca=$(base64 -w0 <"$R/pki/ca.crt")
  url=https://127.0.0.1:$WEBHOOK_PORT
  cat <<YAML
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: katib.kubeflow.org}
webhooks:
- name: validator.experiment.katib.kubeflow.org
  sideEffects: None
  admissionReviewVersions: [v1]
  clientConfig: {url: "$url/validate-experiment", caBundle: "$ca"}
  rules: [{apiGroups: [kubeflow.org], apiVersions: [v1beta1], operations: [CREATE, UPDATE], resources: [experiments]}]
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: katib.kubeflow.org}
webhooks:
- name: defaulter.experiment.katib.kubeflow.org
  sideEffects: None
  admissionReviewVersions: [v1]
  clientConfig: {url: "$url/mutate-experiment", caBundle: "$ca"}
  rules: [{apiGroups: [kubeflow.org], apiVersions: [v1beta1], operations: [CREATE, UPDATE], resources: [experiments]}]
- name: mutator.pod.katib.kubeflow.org
  sideEffects: None
  admissionReviewVersions: [v1]
  clientConfig: {url: "$url/mutate-pod", caBundle: "$ca"}
  namespaceSelector: {matchLabels: {katib.kubeflow.org/metrics-collector-injection: enabled}}
  matchConditions:
  - name: exclude-katib-controller
    expression: 'request.userInfo.username != "system:serviceaccount:kubeflow:katib-controller"'
  rules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods]}]
YAML
}

start_katib() { # katib-admission with the katib-config the cluster holds now, as katib-controller reads it at start
  local port
  port=$(cat "$R/run/webhook-port")
  "$T/bin/kubectl" --kubeconfig "$R/kubeconfig" get configmap katib-config -n kubeflow \
    -o 'jsonpath={.data.katib-config\.yaml}' >"$R/katib-config.yaml"
  setsid "$T/bin/katib-admission" serve --kubeconfig "$R/kubeconfig" --cert-dir "$R/pki/webhook" \
    --port "$port" --katib-config "$R/katib-config.yaml" </dev/null >>"$R/log/katib-admission.log" 2>&1 &
  echo $! >"$R/run/katib-admission.pid"
  wait_for 600 bash -c "echo > /dev/tcp/127.0.0.1/$port"
}

restart_katib() { # what `kubectl rollout restart deployment/katib-controller` does in a cluster
  tools
  local pids=$PIDS
  PIDS=run/katib-admission.pid down
  PIDS=$pids
  start_katib
}

up() {
  tools
  down 2>/dev/null || true
  rm -rf "$R"
  mkdir -p "$R"/{run,log,etcd}
  ETCD_PORT=$(free_port) PEER_PORT=$(free_port) API_PORT=$(free_port) WEBHOOK_PORT=$(free_port)
  certs
  kubeconfig
  local kc=("$T/bin/kubectl" --kubeconfig "$R/kubeconfig")

  setsid "$T/bin/etcd" --name hpoctl --data-dir "$R/etcd" --log-level warn --unsafe-no-fsync \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$PEER_PORT" \
    --initial-cluster "hpoctl=http://127.0.0.1:$PEER_PORT" --listen-metrics-urls "" \
    </dev/null >"$R/log/etcd.log" 2>&1 &
  echo $! >"$R/run/etcd.pid"
  wait_for 300 bash -c "echo > /dev/tcp/127.0.0.1/$ETCD_PORT"

  setsid "$T/bin/kube-apiserver" --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$API_PORT" \
    --tls-cert-file "$R/pki/apiserver.crt" --tls-private-key-file "$R/pki/apiserver.key" \
    --client-ca-file "$R/pki/ca.crt" --authorization-mode RBAC \
    --service-account-issuer https://kubernetes.default.svc --service-account-key-file "$R/pki/sa.pub" \
    --service-account-signing-key-file "$R/pki/sa.key" --service-cluster-ip-range 10.96.0.0/24 \
    --allow-privileged=false --profiling=false --cert-dir "$R/run/apiserver-certs" \
    </dev/null >"$R/log/kube-apiserver.log" 2>&1 &
  echo $! >"$R/run/kube-apiserver.pid"
  wait_for 1200 "${kc[@]}" get --raw /readyz

  "${kc[@]}" apply -f "$T/katib/experiment.yaml" -f "$T/katib/suggestion.yaml" -f "$T/katib/trial.yaml" >/dev/null
  "${kc[@]}" wait --for condition=established --timeout 60s crd/experiments.kubeflow.org crd/suggestions.kubeflow.org \
    crd/trials.kubeflow.org >/dev/null
  "${kc[@]}" create namespace kubeflow >/dev/null
  "${kc[@]}" create configmap katib-config -n kubeflow --from-file "katib-config.yaml=$T/katib/katib-config.yaml" >/dev/null

  echo "$WEBHOOK_PORT" >"$R/run/webhook-port"
  start_katib
  webhooks | "${kc[@]}" apply -f - >/dev/null
  echo "export KUBECONFIG=$R/kubeconfig"
}


case "${1:-}" in
up) up ;;
down) down ;;
restart-katib) restart_katib ;;
wipe) down && rm -rf "$R" ;;
status) tools && "$T/bin/kubectl" --kubeconfig "$R/kubeconfig" get --raw /readyz && echo ;;
env) echo "export KUBECONFIG=$R/kubeconfig" ;;
*)
  echo "usage: $0 up|down|restart-katib|wipe|status|env   (KUBE_TESTENV_ROOT=$R)" >&2
  exit 2
  ;;
esac
