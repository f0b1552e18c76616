#!/usr/bin/env bash
# Installs what Gantry and its test suite need, skipping whatever is already there.
#   scripts/ensure-deps.sh          npm packages only (enough to run Gantry)
#   scripts/ensure-deps.sh --test   also Debian packages the test suite uses
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) && return 0
  echo "gantry: installing Debian packages: ${missing[*]}" >&2
  local sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# bubblewrap is the local sandbox; Gantry refuses to run workloads without it (unless allowed).
if ! command -v bwrap >/dev/null 2>&1; then
  apt_install bubblewrap || echo "gantry: could not install bubblewrap; the local sandbox will be unavailable" >&2
fi

if ((want_test)); then
  # time, compilers and a JDK: the graded-submission tests run real programs in five languages.
  # redis-server: the Cloudemy Redis-mode tests start a real one.
  apt_install bubblewrap postgresql util-linux procps time curl gcc g++ openjdk-17-jdk-headless redis-server
fi

# npm packages: reinstall when package-lock.json changed since the last install.
stamp=node_modules/.gantry-lock-stamp
if [[ ! -f "$stamp" ]] || ! cmp -s package-lock.json "$stamp"; then
  echo "gantry: installing npm packages" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
  cp package-lock.json "$stamp"
fi
