#!/usr/bin/env bash
# Stops the Gantry test control plane started by up.sh and removes its state; nothing is left
# running. Safe to run when nothing is up. The cached binaries stay (see build.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=versions.sh
source "$here/versions.sh"
# shellcheck source=lib.sh
source "$here/lib.sh"

if [[ ! -d "$CLUSTER_DIR" && ! -f "$RUN_DIR/stamp" ]]; then
  log "no cluster $CLUSTER_NAME in $RUN_DIR"
  exit 0
fi
mkdir -p "$RUN_DIR"
exec 8>"$RUN_DIR/.up.lock"
flock -w 300 8 || die "an up.sh still holds $RUN_DIR/.up.lock after 5 minutes"
log "stopping cluster $CLUSTER_NAME"
delete_cluster
rm -rf "$RUN_DIR/pod-logs" "$RUN_DIR/exec" "$RUN_DIR/empty.log" "$RUN_DIR/default-previous.log" "$RUN_DIR/kwok-config.yaml"
log "stopped"
