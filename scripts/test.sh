#!/usr/bin/env bash
# The whole test suite, as a newcomer and CI run it: installs what it needs, checks lint, format
# and types, starts a real PostgreSQL (and the Kubernetes control plane of test/k8s/ when present),
# runs every test against them, and stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-deps.sh --test

echo "== lint, format, types" >&2
npx eslint .
npx prettier --check . >/dev/null || { npx prettier --list-different .; echo "run: npm run format" >&2; exit 1; }
npx tsc --noEmit

cleanup() {
  local rc=$?
  [[ -n "${PG_URL:-}" ]] && bash scripts/test-postgres.sh stop "${PG_URL##*pgdir=}"
  [[ -n "${K8S_STARTED:-}" ]] && bash test/k8s/down.sh >/dev/null 2>&1 || true
  exit $rc
}
trap cleanup EXIT

echo "== starting PostgreSQL" >&2
PG_URL=$(bash scripts/test-postgres.sh start | tail -1)
export GANTRY_TEST_DATABASE_URL="${PG_URL%%\?*}"

if [[ -f test/k8s/up.sh && -z "${GANTRY_SKIP_K8S:-}" ]]; then
  echo "== starting the Kubernetes test control plane (test/k8s)" >&2
  K8S_STARTED=1
  GANTRY_TEST_KUBECONFIG=$(bash test/k8s/up.sh | tail -1)
  export GANTRY_TEST_KUBECONFIG
fi

echo "== tests" >&2
bash scripts/run-node-tests.sh
