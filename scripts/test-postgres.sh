#!/usr/bin/env bash
# Starts (start) or stops (stop DIR) a throwaway PostgreSQL server on 127.0.0.1 for the tests.
# start prints the connection URL as its last line.
set -euo pipefail
cmd=${1:?usage: test-postgres.sh start | stop DIR}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -x "$bindir/initdb" ]] || { echo "PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }
as_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "$cmd" in
start)
  dir=$(mktemp -d /tmp/gantry-pg.XXXXXX)
  [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$dir"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  as_pg "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >/dev/null
  as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" start >/dev/null
  echo "$dir" >"$dir/dir"
  echo "postgres://postgres@127.0.0.1:$port/postgres?pgdir=$dir"
  ;;
stop)
  dir=${2:?stop needs the directory}
  as_pg "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
  ;;
esac
