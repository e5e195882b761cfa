#!/usr/bin/env bash
# `make bench`: builds the benchmarks in release mode, starts a throwaway clickhouse-server on a
# free loopback port, runs every benchmark and prints their Markdown tables (for the README).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup.sh test
cargo build --quiet --release -p larder-benches
ch_dir=$(mktemp -d "${TMPDIR:-/tmp}/larder-bench-ch.XXXXXX")
cleanup() { scripts/ch-server.sh stop "$ch_dir"; rm -rf "$ch_dir"; }
trap cleanup EXIT
LARDER_BENCH_CLICKHOUSE_URL=$(scripts/ch-server.sh start "$ch_dir")
export LARDER_BENCH_CLICKHOUSE_URL
echo "# Larder benchmarks, $(date -u +%Y-%m-%d)"
for bench in ${BENCHES:-insert-formats}; do
  echo
  "target/release/$bench"
done
