#!/usr/bin/env bash
# Starts and stops a throwaway clickhouse-server (Debian's 18.16) on loopback for tests.
#   scripts/ch-server.sh start DIR   -> prints the HTTP URL; server state lives in DIR
#   scripts/ch-server.sh stop DIR
#   scripts/ch-server.sh prepare DIR -> writes DIR's config (free ports: DIR/url, DIR/tcp_port)
#                                       without starting; XML files in DIR/config.d/ are merged
#                                       into the config at start (scripts/ch-cluster.sh uses it)
# Starting again on a stopped DIR reuses its ports and data (tests stop and restart a server).
# No system service is used: the server runs as a child of this script's caller, with its
# own config, data and logs under DIR, on free ports chosen at start.
set -euo pipefail
cmd=${1:?usage: ch-server.sh start|stop DIR}
dir=${2:?usage: ch-server.sh start|stop DIR}
bin=${CLICKHOUSE_SERVER_BIN:-$(command -v clickhouse-server || echo /usr/bin/clickhouse-server)}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Writes DIR's config on free ports, unless it has one already.
prepare() {
  mkdir -p "$dir"/{data,tmp,user_files,format_schemas,log,config.d}
  dir=$(cd "$dir" && pwd)
  if [ -f "$dir/config.xml" ] && [ -f "$dir/url" ]; then return; fi
  http_port=$(free_port); tcp_port=$(free_port); inter_port=$(free_port)
  cat > "$dir/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$dir/log/server.log</log><errorlog>$dir/log/server.err.log</errorlog><size>10M</size><count>2</count></logger>
  <http_port>$http_port</http_port>
  <tcp_port>$tcp_port</tcp_port>
  <interserver_http_port>$inter_port</interserver_http_port>
  <listen_host>127.0.0.1</listen_host>
  <max_connections>256</max_connections>
  <keep_alive_timeout>30</keep_alive_timeout>
  <max_concurrent_queries>100</max_concurrent_queries>
  <mark_cache_size>268435456</mark_cache_size>
  <path>$dir/data/</path>
  <tmp_path>$dir/tmp/</tmp_path>
  <user_files_path>$dir/user_files/</user_files_path>
  <format_schema_path>$dir/format_schemas/</format_schema_path>
  <users_config>$dir/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mlock_executable>false</mlock_executable>
</yandex>
XML
  cat > "$dir/users.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
XML
  echo "http://127.0.0.1:$http_port" > "$dir/url"
  echo "$tcp_port" > "$dir/tcp_port"
  echo "$inter_port" > "$dir/interserver_port"
}

case "$cmd" in
prepare)
  prepare
  ;;
start)
  prepare
  url=$(cat "$dir/url")
  nohup "$bin" --config-file="$dir/config.xml" >"$dir/log/stdout.log" 2>&1 &
  echo $! > "$dir/pid"
  for _ in $(seq 1 150); do
    if curl -sf "$url/ping" >/dev/null 2>&1; then echo "$url"; exit 0; fi
    if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
      echo "clickhouse-server exited during start; see $dir/log" >&2; tail -20 "$dir/log/stdout.log" "$dir/log/server.err.log" >&2 2>/dev/null || true; exit 1
    fi
    sleep 0.2
  done
  echo "clickhouse-server did not answer on $url within 30 s" >&2; exit 1
  ;;
stop)
  if [ -f "$dir/pid" ]; then
    pid=$(cat "$dir/pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/pid"
  fi
  ;;
*) echo "unknown command $cmd" >&2; exit 2;;
esac
