#!/usr/bin/env bash
# `make bench`: builds the benchmarks in release mode, starts a throwaway clickhouse-server on a
# free loopback port, runs every benchmark and prints their Markdown tables (for the README).
# BENCHES="ingest" runs only some; `ingest` drives the release `larder` binary, built here too.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup.sh test
cargo build --quiet --release -p larder -p larder-benches
ch_dir=$(mktemp -d "${TMPDIR:-/tmp}/larder-bench-ch.XXXXXX")
cleanup() { scripts/ch-server.sh stop "$ch_dir"; rm -rf "$ch_dir"; }
trap cleanup EXIT
LARDER_BENCH_CLICKHOUSE_URL=$(scripts/ch-server.sh start "$ch_dir")
LARDER_BENCH_CLICKHOUSE_PID=$(cat "$ch_dir/pid")
export LARDER_BENCH_CLICKHOUSE_URL LARDER_BENCH_CLICKHOUSE_PID
echo "# Larder benchmarks, $(date -u +%Y-%m-%d)"
# `dashboard` (the first numbers on screen, in Chromium) reuses the 10M data set `queries` makes.
for bench in ${BENCHES:-insert-formats ingest queries dashboard}; do
  echo
  case "$bench" in
  dashboard) node benches/dashboard/first-data.mjs ;;
  *) "target/release/$bench" ;;
  esac
done
