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

# True when the process exists and is not a zombie (an exited child nobody reaped yet, e.g. when
# PID 1 does not reap orphans: kill -0 still succeeds on it).
alive() {
  local state
  state="$(ps -o stat= -p "$1" 2>/dev/null)" || return 1
  [[ -n "$state" && "$state" != Z* ]]
}

# True when every expected component has a live process.
components_running() {
  local pid name n=0
  while read -r pid name; do
    alive "$pid" || return 1
    n=$((n + 1))
  done < <(component_pids)
  ((n >= 5)) # etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok-controller
}

# Stops the cluster's processes (by the pids kwokctl recorded) and removes its state.
delete_cluster() {
  local pids pid name alive i
  pids="$(component_pids)"
  if [[ -x "$K8S_BIN_DIR/kwokctl" && -d "$CLUSTER_DIR" ]]; then
    # kwokctl edits the kubeconfig it is given; give it a throwaway one, not ~/.kube/config.
    kwokctl_ delete cluster --kubeconfig "$RUN_DIR/kwokctl-kubeconfig" >&2 ||
      log "kwokctl delete cluster failed; stopping the processes directly"
    rm -f "$RUN_DIR/kwokctl-kubeconfig"
  fi
  for i in $(seq 100); do
    alive=""
    while read -r pid name; do
      [[ -n "$pid" ]] && alive "$pid" && alive+="$pid:$name "
    done <<<"$pids"
    [[ -n "$alive" ]] || break
    for pid in $alive; do
      ((i == 1)) && kill -TERM "${pid%%:*}" 2>/dev/null
      ((i == 50)) && kill -KILL "${pid%%:*}" 2>/dev/null
    done
    sleep 0.1
  done
  [[ -z "$alive" ]] || die "still running after SIGKILL: $alive; stop them by hand (kill -9 <pid>)"
  rm -rf "$CLUSTER_DIR" "$RUN_DIR/stamp" "$KUBECONFIG_PATH" "$RUN_DIR/cluster.json"
}
