# Pinned versions of the test control plane, and where their binaries are cached (sourced by the
# scripts here). Changing a version changes the cache key, so the next `npm run k8s:up` rebuilds.
# Kubernetes and etcd: also update build/go.mod or build/etcd/go.mod (README.md, "Changing versions").
K8S_VERSION=v1.36.3
KWOK_VERSION=v0.8.0
# Built from go.etcd.io/etcd/server/v3 (build/etcd/go.mod); see README.md for why not Debian's 3.4.
ETCD_VERSION=v3.6.16

# kwok is built with build/kwok-exec.patch; its hash is part of the key.
KWOK_PATCH_ID="$(sha256sum "$(dirname "${BASH_SOURCE[0]}")/build/kwok-exec.patch" | cut -c1-8)"
K8S_KEY="$K8S_VERSION-kwok-$KWOK_VERSION-p$KWOK_PATCH_ID-etcd-$ETCD_VERSION"
K8S_CACHE_ROOT="${GANTRY_CACHE_DIR:-${HOME:?HOME is not set}/.cache/gantry}/k8s"
K8S_BIN_DIR="$K8S_CACHE_ROOT/$K8S_KEY/bin"
K8S_BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubectl kwok kwokctl etcd)
