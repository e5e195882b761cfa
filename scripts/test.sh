#!/usr/bin/env bash
# `make test`: installs what is missing, starts a throwaway clickhouse-server on a free loopback
# port, runs lints and every test (each test in its own process: chDB allows one data directory
# per process), and stops the server whatever happens. The cluster test (larder/tests/cli/cluster.rs)
# starts and stops its own ZooKeeper and two shards with scripts/ch-cluster.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup.sh test

ch_dir=$(mktemp -d "${TMPDIR:-/tmp}/larder-ch.XXXXXX")
cleanup() { scripts/ch-server.sh stop "$ch_dir"; rm -rf "$ch_dir"; }
trap cleanup EXIT
LARDER_TEST_CLICKHOUSE_URL=$(scripts/ch-server.sh start "$ch_dir")
export LARDER_TEST_CLICKHOUSE_URL

echo "test: clickhouse-server $(curl -s "$LARDER_TEST_CLICKHOUSE_URL/?query=SELECT%20version()") at $LARDER_TEST_CLICKHOUSE_URL" >&2
cargo fmt --all --check
cargo clippy --quiet --workspace --all-targets -- -D warnings
cargo nextest run --workspace --no-fail-fast --status-level fail --final-status-level slow "$@"
(cd tracker-js && npm run --silent size && LARDER_BIN="$root/target/debug/larder" npm test --silent)
(cd dashboard && npm run --silent size && LARDER_BIN="$root/target/debug/larder" npm test --silent)
