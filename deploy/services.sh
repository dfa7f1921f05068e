#!/usr/bin/env bash
# Local Kafka (KRaft, one combined broker+controller) and Redis on 127.0.0.1, for the demo,
# the tests and the benchmarks. Stops only the PIDs it wrote; never kills by name.
#
#   deploy/services.sh install | up | down [--purge] | status
#
# Settings (environment): TXMON_RUN_DIR (pid files, logs, data; default .run),
# TXMON_CACHE_DIR (Kafka jars; default .cache), TXMON_KAFKA_PORT (9092),
# TXMON_KAFKA_CONTROLLER_PORT (9093), TXMON_REDIS_PORT (6379), TXMON_KAFKA_HEAP (512m).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN_DIR="${TXMON_RUN_DIR:-$ROOT/.run}"
CACHE_DIR="${TXMON_CACHE_DIR:-$ROOT/.cache}"
KAFKA_PORT="${TXMON_KAFKA_PORT:-9092}"
CONTROLLER_PORT="${TXMON_KAFKA_CONTROLLER_PORT:-9093}"
REDIS_PORT="${TXMON_REDIS_PORT:-6379}"
HEAP="${TXMON_KAFKA_HEAP:-512m}"
POM="$ROOT/deploy/kafka/pom.xml"
LIBS="$CACHE_DIR/kafka-libs"
KAFKA_DIR="$RUN_DIR/kafka"
REDIS_DIR="$RUN_DIR/redis"

say() { printf '[services] %s\n' "$*"; }
die() { printf '[services] error: %s\n' "$*" >&2; exit 1; }

alive() {  # alive PIDFILE: the PID in it runs
  [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

port_open() {  # port_open PORT: something listens on 127.0.0.1:PORT
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

install_kafka() {
  local stamp="$LIBS/.pom-$(sha256sum "$POM" | cut -c1-16)"
  if [[ -f "$stamp" ]]; then return; fi
  command -v mvn >/dev/null || die "mvn not found: install Maven (apt-get install maven)"
  say "resolving Kafka broker jars from Maven Central into $LIBS"
  rm -rf "$LIBS"
  mvn -q -B -f "$POM" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$LIBS"
  touch "$stamp"
}

install_redis() {
  if command -v redis-server >/dev/null; then return; fi
  say "installing Debian's redis-server"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  # Debian's package starts a system instance on 6379 where an init system runs; ours is separate.
}

install() {
  install_kafka
  install_redis
}

write_kafka_config() {
  mkdir -p "$KAFKA_DIR/data" "$KAFKA_DIR/logs"
  cat >"$KAFKA_DIR/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_DIR/data
num.partitions=8
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
log.retention.hours=24
log.segment.bytes=268435456
EOF
}

start_kafka() {
  local pidfile="$KAFKA_DIR/kafka.pid"
  if alive "$pidfile"; then say "kafka already up (pid $(cat "$pidfile"), port $KAFKA_PORT)"; return; fi
  port_open "$KAFKA_PORT" && die "port $KAFKA_PORT is taken by another process; set TXMON_KAFKA_PORT"
  port_open "$CONTROLLER_PORT" && die "port $CONTROLLER_PORT is taken; set TXMON_KAFKA_CONTROLLER_PORT"
  write_kafka_config
  local java=(java -Xms"$HEAP" -Xmx"$HEAP" -XX:+UseG1GC -Djava.awt.headless=true
    -Dkafka.logs.dir="$KAFKA_DIR/logs" -Dlog4j2.configurationFile="$ROOT/deploy/kafka/log4j2.properties"
    -cp "$LIBS/*")
  if [[ ! -f "$KAFKA_DIR/data/meta.properties" ]]; then
    local cluster_id
    cluster_id="$("${java[@]}" kafka.tools.StorageTool random-uuid)"
    "${java[@]}" kafka.tools.StorageTool format --standalone -t "$cluster_id" \
      -c "$KAFKA_DIR/server.properties" >"$KAFKA_DIR/logs/format.log" 2>&1 \
      || { cat "$KAFKA_DIR/logs/format.log" >&2; die "kafka storage format failed"; }
  fi
  setsid nohup "${java[@]}" kafka.Kafka "$KAFKA_DIR/server.properties" \
    >"$KAFKA_DIR/logs/stdout.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  say "kafka starting (pid $!, 127.0.0.1:$KAFKA_PORT)"
}

start_redis() {
  local pidfile="$REDIS_DIR/redis.pid"
  if alive "$pidfile"; then say "redis already up (pid $(cat "$pidfile"), port $REDIS_PORT)"; return; fi
  port_open "$REDIS_PORT" && die "port $REDIS_PORT is taken by another process; set TXMON_REDIS_PORT"
  mkdir -p "$REDIS_DIR"
  cat >"$REDIS_DIR/redis.conf" <<EOF
bind 127.0.0.1
port $REDIS_PORT
protected-mode yes
daemonize no
save ""
appendonly no
dir $REDIS_DIR
logfile $REDIS_DIR/redis.log
maxmemory-policy noeviction
EOF
  setsid nohup redis-server "$REDIS_DIR/redis.conf" >/dev/null 2>&1 </dev/null &
  echo $! >"$pidfile"
  say "redis starting (pid $!, 127.0.0.1:$REDIS_PORT)"
}

wait_ready() {
  local deadline=$((SECONDS + 90))
  until redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; do
    alive "$REDIS_DIR/redis.pid" || { tail -n 20 "$REDIS_DIR/redis.log" >&2; die "redis exited"; }
    ((SECONDS < deadline)) || die "redis not ready after 90 s"
    sleep 0.2
  done
  # The broker is ready when the PLAINTEXT listener answers and the log says the server started.
  until port_open "$KAFKA_PORT" && grep -q "Kafka Server started\|started (kafka.server" "$KAFKA_DIR/logs/broker.log" 2>/dev/null; do
    alive "$KAFKA_DIR/kafka.pid" || { tail -n 40 "$KAFKA_DIR/logs/stdout.log" "$KAFKA_DIR/logs/broker.log" >&2; die "kafka exited"; }
    ((SECONDS < deadline)) || { tail -n 40 "$KAFKA_DIR/logs/broker.log" >&2; die "kafka not ready after 90 s"; }
    sleep 0.3
  done
  say "ready: kafka 127.0.0.1:$KAFKA_PORT, redis 127.0.0.1:$REDIS_PORT"
}

stop_pid() {  # stop_pid NAME PIDFILE
  local pidfile="$2" pid
  [[ -f "$pidfile" ]] || return 0
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then say "$1 did not stop in 20 s; killing pid $pid"; kill -KILL "$pid"; fi
    say "$1 stopped (pid $pid)"
  fi
  rm -f "$pidfile"
}

status() {
  local rc=0
  if alive "$KAFKA_DIR/kafka.pid"; then say "kafka up (pid $(cat "$KAFKA_DIR/kafka.pid"), 127.0.0.1:$KAFKA_PORT)"
  else say "kafka down"; rc=1; fi
  if alive "$REDIS_DIR/redis.pid"; then say "redis up (pid $(cat "$REDIS_DIR/redis.pid"), 127.0.0.1:$REDIS_PORT)"
  else say "redis down"; rc=1; fi
  return $rc
}

case "${1:-}" in
  install) install ;;
  up) install; start_redis; start_kafka; wait_ready ;;
  down)
    stop_pid kafka "$KAFKA_DIR/kafka.pid"
    stop_pid redis "$REDIS_DIR/redis.pid"
    if [[ "${2:-}" == "--purge" ]]; then rm -rf "$KAFKA_DIR" "$REDIS_DIR"; say "removed run data in $RUN_DIR"; fi
    ;;
  status) status ;;
  *) echo "usage: $0 install|up|down [--purge]|status" >&2; exit 2 ;;
esac
