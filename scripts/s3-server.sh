#!/usr/bin/env bash
# Starts and stops a throwaway S3-compatible server (moto's, `pip install 'moto[server]==5.2.1'`,
# which scripts/setup.sh test installs) on loopback for the backup tests.
#   scripts/s3-server.sh start DIR [BUCKET...] -> prints the endpoint URL; creates the buckets
#   scripts/s3-server.sh stop DIR
# The server keeps its objects in memory; DIR holds its pid, port, endpoint and log. It accepts
# any credentials (the tests give some, as a real bucket needs). No system service is used: the
# server runs as a child of this script's caller, and stop kills only the process whose id start
# wrote down.
set -euo pipefail
cmd=${1:?usage: s3-server.sh start DIR [BUCKET...] | stop DIR}
dir=${2:?usage: s3-server.sh start DIR [BUCKET...] | stop DIR}
bin=${MOTO_SERVER_BIN:-$(command -v moto_server || true)}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

case "$cmd" in
start)
  shift 2
  [ -n "$bin" ] || { echo "s3-server: moto_server missing; run scripts/setup.sh test (pip install 'moto[server]==5.2.1')" >&2; exit 1; }
  mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
  [ -f "$dir/port" ] || free_port > "$dir/port"
  port=$(cat "$dir/port")
  url="http://127.0.0.1:$port"
  echo "$url" > "$dir/url"
  nohup "$bin" -H 127.0.0.1 -p "$port" >"$dir/server.log" 2>&1 &
  echo $! > "$dir/pid"
  for _ in $(seq 1 150); do
    if curl -sf "$url/moto-api/" >/dev/null 2>&1; then
      for bucket in "$@"; do
        curl -sf -X PUT "$url/$bucket" >/dev/null || { echo "s3-server: cannot create bucket $bucket" >&2; exit 1; }
      done
      echo "$url"; exit 0
    fi
    if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
      echo "moto_server exited during start; see $dir/server.log" >&2; tail -20 "$dir/server.log" >&2 || true; exit 1
    fi
    sleep 0.2
  done
  echo "moto_server did not answer on $url within 30 s" >&2; exit 1
  ;;
stop)
  # ch-server.sh's stop is a plain stop by DIR/pid (TERM, wait up to 10 s, KILL): moto's too.
  "$(dirname "$0")/ch-server.sh" stop "$dir"
  ;;
*) echo "unknown command $cmd" >&2; exit 2;;
esac
