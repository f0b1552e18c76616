# Shared by up.sh and down.sh (sourced after versions.sh): where the test cluster lives and how to
# drive kwokctl against it without touching ~/.kwok or ~/.kube/config.
RUN_DIR="${GANTRY_K8S_RUN_DIR:-$here/.run}"
CLUSTER_NAME=gantry-test
# kwokctl keeps its clusters and reads its default config under KWOK_WORKDIR (default ~/.kwok).
export KWOK_WORKDIR="$RUN_DIR/kwok"
CLUSTER_DIR="$KWOK_WORKDIR/clusters/$CLUSTER_NAME"
KUBECONFIG_PATH="$RUN_DIR/kubeconfig"

log() { printf '[k8s] %s\n' "$*" >&2; }
die() {
  printf '[k8s] error: %s\n' "$*" >&2
  exit 1
}

# fd 8 holds up.sh's lock: the processes kwokctl starts must not inherit it.
kwokctl_() { "$K8S_BIN_DIR/kwokctl" --name "$CLUSTER_NAME" -v "${GANTRY_K8S_LOG_LEVEL:-WARN}" "$@" 8>&-; }

# The control-plane processes kwokctl started, from its pid files: "pid name" lines.
component_pids() {
  local f pid
  for f in "$CLUSTER_DIR"/pids/*.pid; do
    [[ -f "$f" ]] || continue
    pid="$(cat "$f")"
    [[ "$pid" =~ ^[0-9]+$ ]] && printf '%s %s\n' "$pid" "$(basename "$f" .pid)"
  done
}

# True when every expected component has a live process.
components_running() {
  local pid name n=0
  while read -r pid name; do
    kill -0 "$pid" 2>/dev/null || return 1
    n=$((n + 1))
  done < <(component_pids)
  ((n >= 5)) # etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok-controller
}

# Stops the cluster's processes (by the pids kwokctl recorded) and removes its state.
delete_cluster() {
  local pids pid name i
  pids="$(component_pids)"
  if [[ -x "$K8S_BIN_DIR/kwokctl" && -d "$CLUSTER_DIR" ]]; then
    kwokctl_ delete cluster --kubeconfig "" >&2 || log "kwokctl delete cluster failed; stopping the processes directly"
  fi
  while read -r pid name; do
    [[ -n "$pid" ]] || continue
    for i in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      ((i == 1)) && kill -TERM "$pid" 2>/dev/null
      ((i == 30)) && kill -KILL "$pid" 2>/dev/null
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      die "$name (pid $pid) is still running; stop it with: kill -9 $pid"
    fi
  done <<<"$pids"
  rm -rf "$CLUSTER_DIR" "$RUN_DIR/stamp" "$KUBECONFIG_PATH" "$RUN_DIR/cluster.json"
}
