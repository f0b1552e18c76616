#!/usr/bin/env bash
# Builds the pinned control-plane binaries from the Go module proxy into a cache directory outside
# the repository, keyed by their versions, and prints that bin directory as the last line of stdout.
# A second run finds them there and builds nothing. Progress goes to stderr.
#
#   bash test/k8s/build.sh            build what is missing, print the bin directory
#   bash test/k8s/build.sh --print    print the bin directory only (builds nothing)
#
# Environment: GANTRY_CACHE_DIR (default ~/.cache/gantry), GO (default: go on PATH, else
# /usr/local/go/bin/go), GANTRY_K8S_BUILD_P (go build -p, default: number of CPUs).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=versions.sh
source "$here/versions.sh"

log() { printf '[k8s build] %s\n' "$*" >&2; }
die() {
  printf '[k8s build] error: %s\n' "$*" >&2
  exit 1
}

if [[ "${1:-}" == "--print" ]]; then
  echo "$K8S_BIN_DIR"
  exit 0
fi

GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"

have_all() {
  local b
  for b in "${K8S_BINARIES[@]}"; do
    [[ -x "$K8S_BIN_DIR/$b" ]] || return 1
  done
}

if have_all; then
  echo "$K8S_BIN_DIR"
  exit 0
fi

[[ -x "$GO" ]] || die "no Go toolchain found (tried '$GO'); install Go >= 1.26 or set GO=/path/to/go"
gover="$("$GO" env GOVERSION)"
case "$gover" in
  go1.2[6-9]* | go1.[3-9]*) ;;
  *) die "Go $gover is too old: Kubernetes $K8S_VERSION and kwok $KWOK_VERSION need Go >= 1.26 (set GO=/path/to/go)" ;;
esac

mkdir -p "$K8S_CACHE_ROOT"
# One builder at a time; others wait and then find the binaries.
exec 9>"$K8S_CACHE_ROOT/.build.lock"
if ! flock -n 9; then
  log "another build is running; waiting for it (lock $K8S_CACHE_ROOT/.build.lock)"
  flock 9
fi
if have_all; then
  echo "$K8S_BIN_DIR"
  exit 0
fi

stage="$K8S_CACHE_ROOT/.stage-$K8S_KEY-$$"
rm -rf "$stage"
mkdir -p "$stage/bin"
trap 'rm -rf "$stage"' EXIT

export CGO_ENABLED=0 GOFLAGS= GOTOOLCHAIN=local
p="${GANTRY_K8S_BUILD_P:-$(nproc)}"
start=$(date +%s)

kube_missing=()
for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  [[ -x "$K8S_BIN_DIR/$b" ]] || kube_missing+=("k8s.io/kubernetes/cmd/$b")
done
if ((${#kube_missing[@]} > 0)); then
  log "building ${kube_missing[*]##*/} $K8S_VERSION with $gover (-p $p; a cold build takes minutes)"
  vpkg=k8s.io/component-base/version
  minor="${K8S_VERSION#v1.}"
  minor="${minor%%.*}"
  ldflags="-s -w -X $vpkg.gitVersion=$K8S_VERSION -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$minor"
  ldflags+=" -X $vpkg.gitTreeState=clean -X $vpkg.buildDate=1970-01-01T00:00:00Z"
  (
    cd "$here/build"
    # build/go.mod and go.sum pin every module; -mod=readonly makes a missing pin an error
    # instead of a silent change.
    "$GO" build -mod=readonly -p "$p" -trimpath -tags notest -ldflags "$ldflags" \
      -o "$stage/bin/" "${kube_missing[@]}"
  ) || die "building Kubernetes $K8S_VERSION failed (see the go output above); check access to the Go module proxy (GOPROXY=$("$GO" env GOPROXY)) and free memory (a link needs ~2 GiB; try GANTRY_K8S_BUILD_P=1)"
  log "kubernetes binaries built in $(($(date +%s) - start))s"
fi

if [[ ! -x "$K8S_BIN_DIR/kwok" || ! -x "$K8S_BIN_DIR/kwokctl" ]]; then
  t=$(date +%s)
  log "building kwok, kwokctl $KWOK_VERSION (with build/kwok-exec.patch)"
  # The released module, built with its own go.mod/go.sum, plus one small patch: exec reports a
  # command's exit code the way a kubelet does (see README.md).
  src="$(cd "$stage" && "$GO" mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -d "$src" ]] || die "could not download sigs.k8s.io/kwok@$KWOK_VERSION from the Go module proxy"
  cp -R "$src" "$stage/kwok-src"
  chmod -R u+w "$stage/kwok-src"
  patch -s -d "$stage/kwok-src" -p1 <"$here/build/kwok-exec.patch" ||
    die "build/kwok-exec.patch does not apply to kwok $KWOK_VERSION; update the patch"
  kv="sigs.k8s.io/kwok/pkg/consts"
  (
    cd "$stage/kwok-src"
    "$GO" build -mod=readonly -p "$p" -trimpath \
      -ldflags "-s -w -X $kv.Version=${KWOK_VERSION#v} -X $kv.KubeVersion=${K8S_VERSION#v}" \
      -o "$stage/bin/" ./cmd/kwok ./cmd/kwokctl
  ) || die "building kwok $KWOK_VERSION failed (see the go output above); check access to the Go module proxy"
  log "kwok binaries built in $(($(date +%s) - t))s"
fi

if [[ ! -x "$K8S_BIN_DIR/etcd" ]]; then
  t=$(date +%s)
  log "building etcd $ETCD_VERSION"
  (
    cd "$here/build/etcd"
    "$GO" build -mod=readonly -p "$p" -trimpath -ldflags "-s -w" -o "$stage/bin/etcd" go.etcd.io/etcd/server/v3
  ) || die "building etcd $ETCD_VERSION failed (see the go output above); check access to the Go module proxy"
  log "etcd built in $(($(date +%s) - t))s"
fi

mkdir -p "$K8S_BIN_DIR"
for f in "$stage/bin/"*; do
  mv -f "$f" "$K8S_BIN_DIR/"
done
log "binaries ready in $K8S_BIN_DIR ($(($(date +%s) - start))s)"
echo "$K8S_BIN_DIR"
