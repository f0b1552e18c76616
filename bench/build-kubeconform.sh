#!/usr/bin/env bash
# Builds kubeconform from the Go module proxy into a cache outside the repository
# (default ~/.cache/gantry/bin), for bench/validate.ts. Usage: bench/build-kubeconform.sh [tag]
set -euo pipefail
tag="${1:-v0.8.0}"
bin_dir="${GANTRY_CACHE_DIR:-$HOME/.cache/gantry}/bin"
mkdir -p "$bin_dir"
if [[ -x "$bin_dir/kubeconform" ]] && "$bin_dir/kubeconform" -v 2>/dev/null | grep -q .; then
  echo "kubeconform already built: $bin_dir/kubeconform"
  exit 0
fi
GOBIN="$bin_dir" go install "github.com/yannh/kubeconform/cmd/kubeconform@$tag"
echo "built $bin_dir/kubeconform ($tag)"
