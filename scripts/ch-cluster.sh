#!/usr/bin/env bash
# Starts and stops a throwaway ClickHouse cluster on loopback: one ZooKeeper node (Debian's
# `zookeeper` package) and SHARDS clickhouse-servers (scripts/ch-server.sh), one replica each,
# forming the cluster `larder` (CLUSTER=name to change it).
#   scripts/ch-cluster.sh start DIR SHARDS -> prints each shard's HTTP URL, one a line, in shard order
#   scripts/ch-cluster.sh stop DIR
# Everything lives under DIR: zookeeper/ (config, data, log, port) and shard-N/ (as ch-server.sh
# keeps it, plus config.d/cluster.xml: remote_servers, macros, zookeeper, distributed DDL). No
# system service is used; stop kills only the processes whose ids start wrote down.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cmd=${1:?usage: ch-cluster.sh start DIR SHARDS | stop DIR}
dir=${2:?usage: ch-cluster.sh start DIR SHARDS | stop DIR}
cluster=${CLUSTER:-larder}
zk_jar=${ZOOKEEPER_JAR:-/usr/share/java/zookeeper.jar}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

zk_ok() {
  python3 - "$1" <<'PY' 2>/dev/null
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
s.sendall(b"ruok")
sys.exit(0 if s.recv(4) == b"imok" else 1)
PY
}

start_zookeeper() {
  local zk=$dir/zookeeper port
  mkdir -p "$zk/data" "$zk/log"
  if [ ! -f "$zk/port" ]; then
    port=$(free_port)
    cat > "$zk/zoo.cfg" <<CFG
tickTime=500
initLimit=10
syncLimit=5
dataDir=$zk/data
clientPort=$port
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=ruok
CFG
    echo "$port" > "$zk/port"
  fi
  port=$(cat "$zk/port")
  [ -f "$zk_jar" ] || { echo "ch-cluster: $zk_jar missing; run scripts/setup.sh test (installs zookeeper)" >&2; exit 1; }
  nohup java -Xmx256m -Dzookeeper.log.dir="$zk/log" -cp "$zk_jar" \
    org.apache.zookeeper.server.quorum.QuorumPeerMain "$zk/zoo.cfg" >"$zk/log/stdout.log" 2>&1 &
  echo $! > "$zk/pid"
  for _ in $(seq 1 300); do
    if zk_ok "$port"; then return; fi
    if ! kill -0 "$(cat "$zk/pid")" 2>/dev/null; then
      echo "zookeeper exited during start; see $zk/log" >&2; tail -20 "$zk/log/stdout.log" >&2 || true; exit 1
    fi
    sleep 0.1
  done
  echo "zookeeper did not answer on 127.0.0.1:$port within 30 s" >&2; exit 1
}

# The part of each server's config that makes the cluster: every shard's TCP port, this
# server's macros, the ZooKeeper node, and where distributed DDL (ON CLUSTER) is queued.
write_cluster_config() {
  local shards=$1 zk_port i j shard_xml=""
  zk_port=$(cat "$dir/zookeeper/port")
  for i in $(seq 1 "$shards"); do
    shard_xml+="<shard><internal_replication>true</internal_replication><replica><host>127.0.0.1</host><port>$(cat "$dir/shard-$i/tcp_port")</port></replica></shard>"
  done
  for j in $(seq 1 "$shards"); do
    cat > "$dir/shard-$j/config.d/cluster.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <remote_servers><$cluster>$shard_xml</$cluster></remote_servers>
  <macros><shard>$j</shard><replica>node$j</replica></macros>
  <zookeeper><node><host>127.0.0.1</host><port>$zk_port</port></node><session_timeout_ms>30000</session_timeout_ms></zookeeper>
  <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>
</yandex>
XML
  done
}

case "$cmd" in
start)
  shards=${3:?usage: ch-cluster.sh start DIR SHARDS}
  case "$shards" in ''|*[!0-9]*|0) echo "SHARDS must be a positive number, got $shards" >&2; exit 2;; esac
  mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
  start_zookeeper
  for i in $(seq 1 "$shards"); do "$here/ch-server.sh" prepare "$dir/shard-$i"; done
  write_cluster_config "$shards"
  pids=()
  for i in $(seq 1 "$shards"); do
    "$here/ch-server.sh" start "$dir/shard-$i" >/dev/null &
    pids+=($!)
  done
  failed=0
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  if [ "$failed" = 1 ]; then echo "ch-cluster: a shard did not start; stop it with: $0 stop $dir" >&2; exit 1; fi
  for i in $(seq 1 "$shards"); do cat "$dir/shard-$i/url"; done
  ;;
stop)
  [ -d "$dir" ] || exit 0
  # The shards at once (each may take seconds to shut down), then ZooKeeper.
  for shard in "$dir"/shard-*; do
    [ -d "$shard" ] && "$here/ch-server.sh" stop "$shard" &
  done
  wait
  # ch-server.sh's stop is a plain stop by DIR/pid (TERM, wait up to 10 s, KILL): ZooKeeper's too.
  "$here/ch-server.sh" stop "$dir/zookeeper"
  ;;
*) echo "unknown command $cmd" >&2; exit 2;;
esac
