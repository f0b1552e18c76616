#!/usr/bin/env bash
# Starts the Gantry test control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler and the kwok controller with fake nodes) on 127.0.0.1, building the pinned binaries
# first if they are not cached, and prints the kubeconfig path as the LAST line of stdout.
# Progress goes to stderr. When the cluster is already up and healthy, it only prints the path.
# See test/k8s/README.md. Stop it with test/k8s/down.sh.
#
# Environment: GANTRY_K8S_RUN_DIR (cluster state, default test/k8s/.run), GANTRY_K8S_NODES (fake
# nodes, default 2), GANTRY_K8S_READY_TIMEOUT (seconds, default 180), plus those of build.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=versions.sh
source "$here/versions.sh"
# shellcheck source=lib.sh
source "$here/lib.sh"

nodes="${GANTRY_K8S_NODES:-2}"
ready_timeout="${GANTRY_K8S_READY_TIMEOUT:-180}"
[[ "$nodes" =~ ^[1-9][0-9]*$ ]] || die "GANTRY_K8S_NODES must be a positive number, got '$nodes'"

mkdir -p "$RUN_DIR"
# Concurrent callers (test files run in parallel) take turns; the later ones find it healthy.
exec 8>"$RUN_DIR/.up.lock"
if ! flock -n 8; then
  log "another up.sh is starting the cluster; waiting for it"
  flock -w 1800 8 || die "waited 30 minutes for another up.sh (lock $RUN_DIR/.up.lock)"
fi

t0=$(date +%s)
bin="$(bash "$here/build.sh" | tail -1)"
[[ -x "$bin/kwokctl" ]] || die "build.sh did not produce $bin/kwokctl"
t_built=$(date +%s)
kubectl=("$bin/kubectl" --kubeconfig "$KUBECONFIG_PATH" --request-timeout=10s)

# What the running cluster was made from; a change (new versions, stages, node count) recreates it.
want_stamp="$K8S_KEY config=$(sha256sum "$here/kwok/config.yaml" | cut -c1-16) nodes=$nodes"

nodes_ready() {
  local n
  n="$("${kubectl[@]}" get nodes -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' 2>/dev/null | grep -c '^True$')" || return 1
  ((n >= nodes))
}

healthy() {
  [[ -f "$KUBECONFIG_PATH" && -f "$RUN_DIR/stamp" && "$(cat "$RUN_DIR/stamp")" == "$want_stamp" ]] || return 1
  components_running || return 1
  "${kubectl[@]}" get --raw /readyz >/dev/null 2>&1 || return 1
  nodes_ready
}

if healthy; then
  log "cluster $CLUSTER_NAME is already up"
  echo "$KUBECONFIG_PATH"
  exit 0
fi

# Anything else (a process died, a reboot, other versions or Stages) starts afresh: creating takes
# seconds, while a restarted controller manager or scheduler waits ~20 s for its old leader lease.
if [[ -d "$CLUSTER_DIR" || -f "$RUN_DIR/stamp" ]]; then
  log "cluster $CLUSTER_NAME is not healthy or was made from something else (want: $want_stamp); recreating it"
  delete_cluster
fi

if [[ ! -d "$CLUSTER_DIR" ]]; then
  rm -f "$RUN_DIR/stamp" "$KUBECONFIG_PATH"
  mkdir -p "$RUN_DIR/exec" "$RUN_DIR/pod-logs"
  : >"$RUN_DIR/empty.log"
  echo "1970-01-01T00:00:00.000000000Z stdout F gantry-test: no logs configured for this pod" >"$RUN_DIR/default-previous.log"
  # Exec runs commands on this host: as nobody when we are root, as ourselves otherwise.
  security_context=""
  if (($(id -u) == 0)); then
    security_context=$'        securityContext:\n          runAsUser: 65534\n          runAsGroup: 65534'
    chown 65534:65534 "$RUN_DIR/exec"
  fi
  config="$RUN_DIR/kwok-config.yaml"
  while IFS= read -r line; do
    if [[ "$line" == "@EXEC_SECURITY_CONTEXT@" ]]; then
      [[ -z "$security_context" ]] || printf '%s\n' "$security_context"
    else
      printf '%s\n' "${line//@RUN_DIR@/$RUN_DIR}"
    fi
  done <"$here/kwok/config.yaml" >"$config"

  log "creating cluster $CLUSTER_NAME (Kubernetes $K8S_VERSION, kwok $KWOK_VERSION, etcd $ETCD_VERSION) in $CLUSTER_DIR"
  kwokctl_ --config "$config" create cluster \
    --runtime binary \
    --kube-apiserver-binary "$bin/kube-apiserver" \
    --kube-controller-manager-binary "$bin/kube-controller-manager" \
    --kube-scheduler-binary "$bin/kube-scheduler" \
    --kwok-controller-binary "$bin/kwok" \
    --etcd-binary "$bin/etcd" \
    --kube-authorization \
    --kube-admission \
    --extra-args etcd=unsafe-no-fsync=true \
    --kubeconfig "" \
    --wait 0 \
    --timeout "${ready_timeout}s" >&2 ||
    die "kwokctl could not create the cluster; component logs are in $CLUSTER_DIR/logs (run test/k8s/down.sh before retrying)"
fi

# A self-contained kubeconfig (certificates embedded) for clients and tests.
deadline=$(($(date +%s) + ready_timeout))
until "$bin/kubectl" --kubeconfig "$CLUSTER_DIR/kubeconfig.yaml" --request-timeout=5s get --raw /readyz >/dev/null 2>&1; do
  (($(date +%s) < deadline)) || die "kube-apiserver not ready after ${ready_timeout}s; see $CLUSTER_DIR/logs/kube-apiserver.log"
  sleep 0.5
done
"$bin/kubectl" --kubeconfig "$CLUSTER_DIR/kubeconfig.yaml" config view --raw --flatten >"$KUBECONFIG_PATH.tmp"
mv "$KUBECONFIG_PATH.tmp" "$KUBECONFIG_PATH"

have="$("${kubectl[@]}" get nodes -o name 2>/dev/null | grep -c .)" || have=0
if ((have < nodes)); then
  log "creating $nodes fake nodes"
  kwokctl_ scale node --replicas "$nodes" >&2 || die "kwokctl could not create fake nodes"
fi

log "waiting for the nodes and the default service account"
until nodes_ready && "${kubectl[@]}" -n default get serviceaccount default >/dev/null 2>&1; do
  (($(date +%s) < deadline)) || die "cluster not ready after ${ready_timeout}s (nodes or service accounts); logs in $CLUSTER_DIR/logs"
  sleep 0.5
done

# Details for harness.ts (log and exec directories) next to the kubeconfig.
cat >"$RUN_DIR/cluster.json" <<EOF
{
  "name": "$CLUSTER_NAME",
  "kubernetesVersion": "$K8S_VERSION",
  "kwokVersion": "$KWOK_VERSION",
  "etcdVersion": "$ETCD_VERSION",
  "runDir": "$RUN_DIR",
  "podLogsDir": "$RUN_DIR/pod-logs",
  "execDir": "$RUN_DIR/exec",
  "clusterDir": "$CLUSTER_DIR"
}
EOF
echo "$want_stamp" >"$RUN_DIR/stamp"
t_ready=$(date +%s)
log "cluster $CLUSTER_NAME ready in $((t_ready - t_built))s (total $((t_ready - t0))s); kubeconfig: $KUBECONFIG_PATH"
echo "$KUBECONFIG_PATH"
