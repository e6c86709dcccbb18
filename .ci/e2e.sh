#!/usr/bin/env bash
# End-to-end tests on real infrastructure, all on this machine (loopback only): a Docker engine and
# image registry, a Python base image, a Kubernetes cluster with a real kubelet, and an AWS emulator.
# Runs tests/e2e against them, then stops everything it started, also when something fails.
# Needs root (as the infra scripts do). Usage: .ci/e2e.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
INFRA=${MLSERVE_INFRA:-$(cd .. && pwd)/shared/infra}
PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || command -v python3)}
[ -x "$INFRA/start-cluster.sh" ] || { echo "no infra scripts in $INFRA: set MLSERVE_INFRA" >&2; exit 1; }
DOCKER_STATE=${DOCKER_STATE:-/tmp/mlserve-docker}
CLUSTER_STATE=${CLUSTER_STATE:-/tmp/mlserve-e2e-cluster}
MOTO_PORT=${MOTO_PORT:-5055}
BASE_IMAGE=${BASE_IMAGE:-local/debian-python:bookworm}
# build-k8s.sh lists the patches its API server carries here ($OUT/bin/PATCHES of that script)
K8S_PATCHES=${K8S_PATCHES:-/var/cache/k8s-build/out/bin/PATCHES}

stop_all() {
  # By name as well as by pid file: a start that failed halfway through removing the cluster's
  # folder loses the pid files, and the processes then go on (the kubelet remounting its volumes).
  local ours="$CLUSTER_STATE/|moto.server -H 127.0.0.1 -p $MOTO_PORT\$"
  pkill -f -- "$ours" || true
  for _ in $(seq 1 20); do pgrep -f -- "$ours" >/dev/null || break; sleep 0.5; done
  pkill -9 -f -- "$ours" || true
  STATE=$CLUSTER_STATE "$INFRA/stop-cluster.sh" || true
  STATE=$DOCKER_STATE "$INFRA/stop-docker.sh" || true
  # dockerd removes its pid file once it has shut down; a start before that would fail
  for _ in $(seq 1 60); do [ -e /var/run/docker.pid ] || break; sleep 0.5; done
}
teardown() {
  local rc=$?
  stop_all
  exit $rc
}
step() { echo "== $(date +%T) $*"; }
# A run killed before its teardown (SIGKILL) leaves processes, containers and the real kubelet's
# mounts behind; start-cluster.sh cannot remove a state folder with mounts in it, so clear them first.
step "leftovers of an earlier run"; stop_all
trap teardown EXIT INT TERM

step "docker engine + registry";  STATE=$DOCKER_STATE "$INFRA/start-docker.sh"
step "base image $BASE_IMAGE";    TAG=$BASE_IMAGE "$INFRA/make-base-image.sh"
step "kubernetes binaries";       "$INFRA/build-k8s.sh"   # cached in /var/cache/k8s-build after the first run
# Hollow nodes take the replicas the autoscaler adds (they run nothing); tests pin what must run for
# real to MLSERVE_TEST_NODE.
step "cluster with a real node + 2 hollow nodes"
NODES=2 REAL_NODE=1 STATE=$CLUSTER_STATE "$INFRA/start-cluster.sh"
step "AWS emulator on 127.0.0.1:$MOTO_PORT"
"$PY" -m moto.server -H 127.0.0.1 -p "$MOTO_PORT" > "$CLUSTER_STATE/logs/moto.log" 2>&1 &   # stop_all stops it by name
for _ in $(seq 1 100); do curl -sf "127.0.0.1:$MOTO_PORT/moto-api/data.json" >/dev/null && break; sleep 0.2; done

export MLSERVE_TEST_KUBECONFIG=$CLUSTER_STATE/kubeconfig
export MLSERVE_TEST_REGISTRY=127.0.0.1:5000
export MLSERVE_TEST_BASE_IMAGE=$BASE_IMAGE
export MLSERVE_TEST_NODE=real-node-1        # no pod network here: pods use the node's, we POST to 127.0.0.1
export MLSERVE_TEST_AWS_ENDPOINT=http://127.0.0.1:$MOTO_PORT
# Custom resources (Istio's VirtualService, the Prometheus Operator's ServiceMonitor) crash an API
# server before 1.24 built with Go 1.18+, unless it carries reflect2's map-iteration fix: then the
# CRD-backed tests run; elsewhere they skip and say why (tests/e2e/custom_resources.py).
if grep -qwF reflect2-go1.18-map-iteration "$K8S_PATCHES" 2>/dev/null; then
  export MLSERVE_TEST_CUSTOM_RESOURCES=${MLSERVE_TEST_CUSTOM_RESOURCES:-1}
  step "custom resources: on (the API server has reflect2-go1.18-map-iteration, $K8S_PATCHES)"
else
  step "custom resources: not known to be safe ($K8S_PATCHES lacks reflect2-go1.18-map-iteration): CRD tests skip"
fi
step "pytest tests/e2e"
"$PY" -m pytest tests/e2e -q -rs "$@"
