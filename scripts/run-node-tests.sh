#!/usr/bin/env bash
# Runs every *.test.ts under src/ and test/ (or the files given) with node's test runner.
set -euo pipefail
cd "$(dirname "$0")/.."
if (($# > 0)); then
  files=("$@")
else
  mapfile -t files < <(find src test -name '*.test.ts' -not -path '*/node_modules/*' | sort)
fi
exec node --import tsx --test --test-concurrency="${GANTRY_TEST_CONCURRENCY:-2}" \
  --test-timeout="${GANTRY_TEST_TIMEOUT_MS:-600000}" "${files[@]}"
