#!/usr/bin/env bash
# Local Kafka (KRaft, one combined broker+controller), Redis and PostgreSQL (the case store) on
# 127.0.0.1, for development, the demo, the tests and the benchmarks. Stops only the PIDs it wrote; never kills by name.
#
#   deploy/services.sh install | up | down [--purge] | status
#
# Settings (environment, all optional):
#   TXMON_RUN_DIR                pid files, logs, Kafka data, generated configs   (<repo>/.run)
#   TXMON_CACHE_DIR              Kafka jars, in kafka-libs/<version>-<pom hash>/  (<repo>/.cache)
#   TXMON_KAFKA_PORT             client listener                                  (9092)
#   TXMON_KAFKA_CONTROLLER_PORT  KRaft controller listener                        (9093)
#   TXMON_REDIS_PORT             Redis                                            (6379)
#   TXMON_POSTGRES_PORT          PostgreSQL (database and user `txmon`)           (5432)
#   TXMON_POSTGRES_DATA          its data folder; as root, one the postgres user can reach
#                                                       (<run dir>/postgres/data, as root /tmp/txmon-pg-<hash>)
#   TXMON_KAFKA_HEAP             broker -Xms/-Xmx                                 (512m)
#   TXMON_KAFKA_SASL_SSL_PORT    optional SASL_SSL listener, SCRAM-SHA-512        (none)
#   TXMON_KAFKA_MTLS_PORT        optional SSL listener requiring client certificates (none)
#   TXMON_KAFKA_TLS_DIR          for either: ca.pem (the CA that signs clients' and the server's
#                                certificates) and server.pem (PKCS#8 key + certificate chain)
#   TXMON_KAFKA_SCRAM_USER       SCRAM-SHA-512 user created when the storage is formatted (txmon)
#   TXMON_KAFKA_SCRAM_PASSWORD   its password (required with TXMON_KAFKA_SASL_SSL_PORT)
#   TXMON_START_TIMEOUT          seconds `up` waits for both to answer            (60)
#   PYTHON                       interpreter with kafka-python for the readiness check
#                                                                                 (<repo>/.venv/bin/python)
# Two instances coexist when they differ in TXMON_RUN_DIR and all four ports.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN_DIR="${TXMON_RUN_DIR:-$ROOT/.run}"
CACHE_DIR="${TXMON_CACHE_DIR:-$ROOT/.cache}"
# Absolute: the servers write there after changing their own working directory.
mkdir -p "$RUN_DIR" "$CACHE_DIR"
RUN_DIR="$(cd "$RUN_DIR" && pwd)"
CACHE_DIR="$(cd "$CACHE_DIR" && pwd)"
KAFKA_PORT="${TXMON_KAFKA_PORT:-9092}"
CONTROLLER_PORT="${TXMON_KAFKA_CONTROLLER_PORT:-9093}"
REDIS_PORT="${TXMON_REDIS_PORT:-6379}"
PG_PORT="${TXMON_POSTGRES_PORT:-5432}"
HEAP="${TXMON_KAFKA_HEAP:-512m}"
START_TIMEOUT="${TXMON_START_TIMEOUT:-60}"
SASL_SSL_PORT="${TXMON_KAFKA_SASL_SSL_PORT:-}"
MTLS_PORT="${TXMON_KAFKA_MTLS_PORT:-}"
TLS_DIR="${TXMON_KAFKA_TLS_DIR:-}"
SCRAM_USER="${TXMON_KAFKA_SCRAM_USER:-txmon}"
SCRAM_PASSWORD="${TXMON_KAFKA_SCRAM_PASSWORD:-}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
POM="$ROOT/deploy/kafka/pom.xml"
LOG4J_CONFIG="$ROOT/deploy/kafka/log4j2.properties"
# One folder of jars per pom version: a broker keeps running on its own jars when the pom changes.
KAFKA_VERSION="$(grep -o '<kafka.version>[^<]*' "$POM" | cut -d'>' -f2 || true)"
POM_HASH="$(sha256sum "$POM" | cut -c1-16)"
LIBS_ROOT="$CACHE_DIR/kafka-libs"
LIBS="$LIBS_ROOT/$KAFKA_VERSION-$POM_HASH"
KAFKA_DIR="$RUN_DIR/kafka"
KAFKA_PID="$KAFKA_DIR/kafka.pid"
KAFKA_CONF="$KAFKA_DIR/server.properties"
KAFKA_LOG="$KAFKA_DIR/logs/broker.log"
KAFKA_OUT="$KAFKA_DIR/logs/stdout.log"
REDIS_DIR="$RUN_DIR/redis"
REDIS_PID="$REDIS_DIR/redis.pid"
REDIS_CONF="$REDIS_DIR/redis.conf"
REDIS_LOG="$REDIS_DIR/redis.log"
PG_DIR="$RUN_DIR/postgres"
PG_PID="$PG_DIR/postgres.pid"
PG_LOG="$PG_DIR/postgres.log"
# PostgreSQL refuses to run as root: as root it runs as the `postgres` user, whose data folder must
# not sit below a folder only root may enter (pytest's temporary folders are 0700).
if ((EUID == 0)); then
  PG_DATA="${TXMON_POSTGRES_DATA:-/tmp/txmon-pg-$(printf '%s' "$RUN_DIR" | sha256sum | cut -c1-12)}"
else
  PG_DATA="${TXMON_POSTGRES_DATA:-$PG_DIR/data}"
fi

say() { printf '[services] %s\n' "$*"; }
die() { printf '[services] error: %s\n' "$*" >&2; exit 1; }

[[ -n "$KAFKA_VERSION" ]] || die "no <kafka.version> in $POM"

for n in "$KAFKA_PORT" "$CONTROLLER_PORT" "$REDIS_PORT" "$PG_PORT"; do
  [[ "$n" =~ ^[0-9]+$ ]] && ((n > 0 && n < 65536)) || die "not a port number: '$n'"
done
[[ "$KAFKA_PORT" != "$CONTROLLER_PORT" && "$KAFKA_PORT" != "$REDIS_PORT" && "$CONTROLLER_PORT" != "$REDIS_PORT" ]] \
  || die "TXMON_KAFKA_PORT, TXMON_KAFKA_CONTROLLER_PORT and TXMON_REDIS_PORT must differ"
[[ "$PG_PORT" != "$KAFKA_PORT" && "$PG_PORT" != "$CONTROLLER_PORT" && "$PG_PORT" != "$REDIS_PORT" ]] \
  || die "TXMON_POSTGRES_PORT must differ from the Kafka and Redis ports"
SECURED_PORTS=()
[[ -z "$SASL_SSL_PORT" ]] || SECURED_PORTS+=("$SASL_SSL_PORT")
[[ -z "$MTLS_PORT" ]] || SECURED_PORTS+=("$MTLS_PORT")
for n in "${SECURED_PORTS[@]}"; do
  [[ "$n" =~ ^[0-9]+$ ]] && ((n > 0 && n < 65536)) || die "not a port number: '$n'"
  [[ "$n" != "$KAFKA_PORT" && "$n" != "$CONTROLLER_PORT" && "$n" != "$REDIS_PORT" ]] \
    || die "TXMON_KAFKA_SASL_SSL_PORT and TXMON_KAFKA_MTLS_PORT must differ from the other ports"
done
[[ -z "$SASL_SSL_PORT" || "$SASL_SSL_PORT" != "$MTLS_PORT" ]] \
  || die "TXMON_KAFKA_SASL_SSL_PORT and TXMON_KAFKA_MTLS_PORT must differ"
if ((${#SECURED_PORTS[@]})); then
  [[ -n "$TLS_DIR" && -f "$TLS_DIR/ca.pem" && -f "$TLS_DIR/server.pem" ]] \
    || die "the secured listeners need TXMON_KAFKA_TLS_DIR with ca.pem and server.pem"
fi
[[ -z "$SASL_SSL_PORT" || -n "$SCRAM_PASSWORD" ]] || die "TXMON_KAFKA_SASL_SSL_PORT needs TXMON_KAFKA_SCRAM_PASSWORD"

# --- processes, by PID only ------------------------------------------------------------------

pid_of() { [[ -s "$1" ]] && cat "$1"; }

redis_conf_port() { awk '$1 == "port" {print $2}' "$REDIS_CONF" 2>/dev/null || true; }

# ours PIDFILE: the PID in it runs and is the process this run folder started (a PID that the
# system has since reused for something else does not count).
ours() {
  local pid cmd port
  pid="$(pid_of "$1")" || return 1
  cmd="$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline")" || return 1
  case "$1" in
    "$KAFKA_PID") [[ "$cmd" == *"$KAFKA_CONF"* ]] ;;
    "$REDIS_PID")  # redis rewrites its argv to "redis-server 127.0.0.1:PORT"
      port="$(redis_conf_port)"
      [[ -n "$port" && "$(cat "/proc/$pid/comm" 2>/dev/null)" == redis-server* && "$cmd" == *":$port"* ]] ;;
    "$PG_PID") [[ "$cmd" == *"-D $PG_DATA "* ]] ;;
    *) return 1 ;;
  esac
}

port_open() {  # port_open PORT: something accepts connections on 127.0.0.1:PORT
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

port_free_or_die() {  # port_free_or_die PORT VARIABLE
  if port_open "$1"; then
    local who=""
    command -v ss >/dev/null && who="$(ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'users:.*' | head -n1 || true)"
    die "port $1 is taken by another process${who:+ ($who)}; stop it or set $2 to a free port"
  fi
}

# start_bg PIDFILE LOGFILE CMD...: run CMD in its own session and process group, detached from
# this shell, and write its exact PID (the wrapper writes $$, then execs CMD in the same process).
start_bg() {
  local pidfile="$1" log="$2"
  shift 2
  rm -f "$pidfile"
  setsid nohup bash -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$pidfile" "$@" \
    >>"$log" 2>&1 </dev/null &
  for _ in $(seq 1 100); do [[ -s "$pidfile" ]] && return 0; sleep 0.05; done
  die "could not start $1"
}

stop_pid() {  # stop_pid NAME PIDFILE
  local name="$1" pidfile="$2" pid
  pid="$(pid_of "$pidfile")" || { rm -f "$pidfile"; return 0; }
  if ! ours "$pidfile"; then
    if kill -0 "$pid" 2>/dev/null; then
      say "$name: pid $pid now belongs to another process; left alone, pid file removed"
    else
      say "$name not running (pid $pid had exited)"
    fi
    rm -f "$pidfile"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    say "$name did not stop within 20 s of SIGTERM; sending SIGKILL to pid $pid"
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$pidfile"
  say "$name stopped (pid $pid)"
}

# --- install -----------------------------------------------------------------------------------

in_use() {  # in_use DIR: a running process has DIR/* on its classpath
  local f cmd
  for f in /proc/[0-9]*/cmdline; do
    cmd="$(tr '\0' ' ' 2>/dev/null <"$f")" || continue
    [[ "$cmd" == *"$1/*"* ]] && return 0
  done
  return 1
}

install_kafka() {
  local stamp="$LIBS/.pom-$POM_HASH"
  [[ -f "$stamp" ]] && return 0
  mkdir -p "$LIBS_ROOT"
  exec 8>"$LIBS_ROOT/.lock"
  flock 8  # two `up`s at once (say, the tests and `make up`) resolve once
  if [[ ! -f "$stamp" ]]; then
    command -v java >/dev/null || die "java not found: install a JDK 17+ (apt-get install openjdk-17-jre-headless)"
    if ! command -v mvn >/dev/null; then
      say "installing Debian's maven"
      apt_install maven
    fi
    say "resolving the Kafka $KAFKA_VERSION broker jars from Maven Central into $LIBS"
    local tmp="$LIBS_ROOT/.tmp.$$"
    rm -rf "$tmp"
    mvn -q -B -f "$POM" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" \
      >"$LIBS_ROOT/mvn.log" 2>&1 \
      || { rm -rf "$tmp"; tail -n 40 "$LIBS_ROOT/mvn.log" >&2; die "mvn could not resolve $POM (log: $LIBS_ROOT/mvn.log)"; }
    touch "$tmp/.pom-$POM_HASH"
    rm -rf "$LIBS"
    mv "$tmp" "$LIBS"
    # Drop jars of earlier poms that no running broker uses (a folder per pom; loose jars are the
    # layout before that).
    local d
    for d in "$LIBS_ROOT"/*/; do
      d="${d%/}"
      [[ "$d" == "$LIBS" ]] || in_use "$d" || rm -rf "$d"
    done
    if compgen -G "$LIBS_ROOT/*.jar" >/dev/null && ! in_use "$LIBS_ROOT"; then
      rm -f "$LIBS_ROOT"/*.jar "$LIBS_ROOT"/.pom-*
    fi
  fi
  exec 8>&-
}

apt_install() {  # apt_install PKG...: Debian packages, without starting their system services
  local sudo=""
  ((EUID == 0)) || { command -v sudo >/dev/null && sudo="sudo"; } || die "need root (or sudo) to install $*"
  local policy=/usr/sbin/policy-rc.d made_policy=""
  if [[ ! -e "$policy" ]]; then  # keep the package from starting a system redis on 6379
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod +x "$policy" && made_policy=1
  fi
  local rc=0
  { $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "$@" >/dev/null; } || rc=$?
  [[ -z "$made_policy" ]] || $sudo rm -f "$policy"
  ((rc == 0)) || die "apt-get install $* failed"
}

install_redis() {
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null && return 0
  say "installing Debian's redis-server"
  apt_install redis-server redis-tools
}

pg_bin() {  # the newest installed PostgreSQL server's bin folder (Debian: /usr/lib/postgresql/N/bin)
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [[ -n "$d" && -x "$d/postgres" ]] && printf '%s' "$d"
}

install_postgres() {
  pg_bin >/dev/null && return 0
  say "installing Debian's postgresql"
  apt_install postgresql
}

install() {
  install_kafka
  install_redis
  install_postgres
}

# --- Kafka ---------------------------------------------------------------------------------------

java_cmd() {  # the JVM command line shared by the broker and the storage tool
  JAVA=(java -Xms"$HEAP" -Xmx"$HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true
    -Dkafka.logs.dir="$KAFKA_DIR/logs" -Dlog4j2.configurationFile="$LOG4J_CONFIG" -cp "$LIBS/*")
}

write_kafka_config() {
  mkdir -p "$KAFKA_DIR/data" "$KAFKA_DIR/logs"
  local listeners="PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT"
  local protocols="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
  [[ -z "$SASL_SSL_PORT" ]] || { listeners+=",SASL_SSL://127.0.0.1:$SASL_SSL_PORT"; protocols+=",SASL_SSL:SASL_SSL"; }
  [[ -z "$MTLS_PORT" ]] || { listeners+=",SSL://127.0.0.1:$MTLS_PORT"; protocols+=",SSL:SSL"; }
  cat >"$KAFKA_CONF" <<EOF
# Generated by deploy/services.sh on each start; edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$CONTROLLER_PORT
listeners=$listeners
advertised.listeners=$listeners
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$protocols
log.dirs=$KAFKA_DIR/data
num.partitions=8
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=8
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
# Retention by size, never by time: tests, the demo and the quality report replay histories with
# record timestamps days old, and a time limit deleted their segments before they were read.
log.retention.ms=-1
log.retention.bytes=268435456
log.retention.check.interval.ms=60000
log.segment.bytes=67108864
log.cleaner.dedupe.buffer.size=33554432
EOF
  if ((${#SECURED_PORTS[@]})); then  # PEM files straight from TXMON_KAFKA_TLS_DIR (Kafka 2.7+)
    cat >>"$KAFKA_CONF" <<EOF
ssl.keystore.type=PEM
ssl.keystore.location=$TLS_DIR/server.pem
ssl.truststore.type=PEM
ssl.truststore.location=$TLS_DIR/ca.pem
EOF
  fi
  if [[ -n "$SASL_SSL_PORT" ]]; then
    cat >>"$KAFKA_CONF" <<EOF
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
EOF
  fi
  [[ -z "$MTLS_PORT" ]] || echo "listener.name.ssl.ssl.client.auth=required" >>"$KAFKA_CONF"
}

kafka_ready() {  # a client can list topics: a real request through the broker
  if [[ -x "$PYTHON" ]] && "$PYTHON" -c 'import kafka' 2>/dev/null; then
    "$PYTHON" - "127.0.0.1:$KAFKA_PORT" "$1" <<'EOF'
import sys, time
from kafka import KafkaAdminClient
bootstrap, deadline = sys.argv[1], time.monotonic() + float(sys.argv[2])
while True:
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="txmon-services-check",
                                 request_timeout_ms=5000, bootstrap_timeout_ms=5000)
        try:
            admin.list_topics()
            sys.exit(0)
        finally:
            admin.close()
    except Exception as exc:  # noqa: BLE001 - not ready yet: retry until the deadline
        if time.monotonic() > deadline:
            print(f"kafka-python check: {exc!r}", file=sys.stderr)
            sys.exit(1)
        time.sleep(0.3)
EOF
  else  # no kafka-python (the venv is not made yet): the broker's own start line
    local until=$((SECONDS + ${1%.*}))
    until port_open "$KAFKA_PORT" && grep -q "Kafka Server started" "$KAFKA_LOG" 2>/dev/null; do
      ((SECONDS < until)) || return 1
      sleep 0.3
    done
  fi
}

start_kafka() {  # sets STARTED_KAFKA=1 when it started a broker
  if ours "$KAFKA_PID"; then
    local running
    running="$(grep -o '^listeners=PLAINTEXT://127.0.0.1:[0-9]*' "$KAFKA_CONF" | grep -o '[0-9]*$' || true)"
    [[ -z "$running" || "$running" == "$KAFKA_PORT" ]] \
      || die "kafka of $RUN_DIR already runs on port $running, not $KAFKA_PORT: run down first"
    say "kafka already up (pid $(pid_of "$KAFKA_PID"), 127.0.0.1:$KAFKA_PORT)"
    return 0
  fi
  rm -f "$KAFKA_PID"
  [[ -f "$LIBS/kafka-clients-$KAFKA_VERSION.jar" ]] || die "Kafka jars missing in $LIBS: run services.sh install"
  write_kafka_config
  java_cmd
  local version="$KAFKA_VERSION" formatted
  if [[ ! -f "$KAFKA_DIR/data/meta.properties" ]]; then
    local cluster_id
    cluster_id="$("${JAVA[@]}" kafka.tools.StorageTool random-uuid 2>&1)" \
      || { printf '%s\n' "$cluster_id" | tail -n 30 >&2; die "kafka storage tool failed"; }
    cluster_id="$(printf '%s\n' "$cluster_id" | tail -n 1)"
    local scram=()
    [[ -z "$SASL_SSL_PORT" ]] || scram=(--add-scram "SCRAM-SHA-512=[name=$SCRAM_USER,password=$SCRAM_PASSWORD]")
    "${JAVA[@]}" kafka.tools.StorageTool format --standalone -t "$cluster_id" -c "$KAFKA_CONF" "${scram[@]}" \
      >"$KAFKA_DIR/logs/format.log" 2>&1 \
      || { tail -n 30 "$KAFKA_DIR/logs/format.log" >&2; die "kafka storage format failed"; }
    echo "$version" >"$KAFKA_DIR/formatted-by"
  else
    formatted="$(cat "$KAFKA_DIR/formatted-by" 2>/dev/null || echo "$version")"
    [[ "$formatted" == "$version" ]] || say "note: $KAFKA_DIR/data was formatted by Kafka $formatted, the broker is $version (a newer broker reads it; if it refuses, run 'down --purge')"
  fi
  # A fresh log per start, so what `up` shows on failure is this start's.
  [[ -f "$KAFKA_LOG" ]] && mv -f "$KAFKA_LOG" "$KAFKA_LOG.prev"
  [[ -f "$KAFKA_OUT" ]] && mv -f "$KAFKA_OUT" "$KAFKA_OUT.prev"
  start_bg "$KAFKA_PID" "$KAFKA_OUT" "${JAVA[@]}" kafka.Kafka "$KAFKA_CONF"
  STARTED_KAFKA=1
  say "kafka $version starting (pid $(pid_of "$KAFKA_PID"), 127.0.0.1:$KAFKA_PORT, controller $CONTROLLER_PORT)"
}

# --- Redis ---------------------------------------------------------------------------------------

start_redis() {  # sets STARTED_REDIS=1 when it started a server
  if ours "$REDIS_PID"; then
    local running
    running="$(redis_conf_port)"
    [[ -z "$running" || "$running" == "$REDIS_PORT" ]] \
      || die "redis of $RUN_DIR already runs on port $running, not $REDIS_PORT: run down first"
    say "redis already up (pid $(pid_of "$REDIS_PID"), 127.0.0.1:$REDIS_PORT)"
    return 0
  fi
  rm -f "$REDIS_PID"
  mkdir -p "$REDIS_DIR"
  cat >"$REDIS_CONF" <<EOF
# Generated by deploy/services.sh on each start; edit the script, not this file.
bind 127.0.0.1
port $REDIS_PORT
protected-mode yes
daemonize no
save ""
appendonly no
dir $REDIS_DIR
logfile $REDIS_LOG
loglevel warning
maxmemory-policy noeviction
EOF
  [[ -f "$REDIS_LOG" ]] && mv -f "$REDIS_LOG" "$REDIS_LOG.prev"
  start_bg "$REDIS_PID" /dev/null redis-server "$REDIS_CONF"
  STARTED_REDIS=1
  say "redis starting (pid $(pid_of "$REDIS_PID"), 127.0.0.1:$REDIS_PORT)"
}

redis_ready() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

# --- PostgreSQL (the case store) ------------------------------------------------------------------

as_pg() {  # as_pg CMD...: as root, run CMD as the postgres user (setpriv execs: the PID stays CMD's)
  if ((EUID == 0)); then
    setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
  else
    "$@"
  fi
}

start_postgres() {  # sets STARTED_PG=1 when it started a server
  if ours "$PG_PID"; then
    say "postgres already up (pid $(pid_of "$PG_PID"), 127.0.0.1:$PG_PORT)"
    return 0
  fi
  rm -f "$PG_PID"
  local bin
  bin="$(pg_bin)" || die "PostgreSQL not found: run services.sh install"
  mkdir -p "$PG_DIR"
  if [[ ! -f "$PG_DATA/PG_VERSION" ]]; then
    mkdir -p "$PG_DATA"
    chmod 700 "$PG_DATA"
    ((EUID != 0)) || chown postgres:postgres "$PG_DATA"
    # Local development only: trust on 127.0.0.1 like the local Redis; a bank's own server is
    # reached through TXMON_POSTGRES_URL with its password and TLS settings.
    as_pg "$bin/initdb" -D "$PG_DATA" -U txmon --auth=trust -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 \
      || { tail -n 30 "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
  fi
  [[ -f "$PG_LOG" ]] && mv -f "$PG_LOG" "$PG_LOG.prev"
  touch "$PG_LOG"
  ((EUID != 0)) || chown postgres:postgres "$PG_LOG"
  local cmd=("$bin/postgres" -D "$PG_DATA" -h 127.0.0.1 -p "$PG_PORT" -c unix_socket_directories=
    -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=256MB
    -c max_connections=100 -c log_min_messages=warning)
  ((EUID != 0)) || cmd=(setpriv --reuid=postgres --regid=postgres --init-groups -- "${cmd[@]}")
  start_bg "$PG_PID" "$PG_LOG" "${cmd[@]}"
  STARTED_PG=1
  say "postgres starting (pid $(pid_of "$PG_PID"), 127.0.0.1:$PG_PORT, data $PG_DATA)"
}

pg_ready() {  # answers, and the txmon database exists
  local bin
  bin="$(pg_bin)"
  "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U txmon -d postgres || return 1
  [[ "$("$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U txmon -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'txmon'")" == 1 ]] \
    || "$bin/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U txmon -d postgres -c "CREATE DATABASE txmon" >/dev/null
}

# --- commands ------------------------------------------------------------------------------------

STARTED_KAFKA="" STARTED_REDIS="" STARTED_PG=""

fail_up() {  # fail_up MESSAGE LOG...: show the logs and exit 1 (the EXIT trap stops what `up` started)
  local msg="$1" f
  shift
  for f in "$@"; do
    [[ -s "$f" ]] && { printf -- '--- last lines of %s\n' "$f" >&2; tail -n 40 "$f" >&2; }
  done
  die "$msg"
}

undo_failed_up() {  # EXIT trap of `up`: a failed start leaves nothing of its own running
  local rc=$?
  ((rc == 0)) && return 0
  [[ -z "$STARTED_KAFKA" ]] || stop_pid kafka "$KAFKA_PID" >&2
  [[ -z "$STARTED_REDIS" ]] || stop_pid redis "$REDIS_PID" >&2
  [[ -z "$STARTED_PG" ]] || stop_pid postgres "$PG_PID" >&2
  exit "$rc"
}

up() {
  local t0=$EPOCHREALTIME
  install
  # Every port is checked before anything starts, so a conflict leaves nothing behind.
  if ! ours "$REDIS_PID"; then port_free_or_die "$REDIS_PORT" TXMON_REDIS_PORT; fi
  if ! ours "$PG_PID"; then port_free_or_die "$PG_PORT" TXMON_POSTGRES_PORT; fi
  if ! ours "$KAFKA_PID"; then
    port_free_or_die "$KAFKA_PORT" TXMON_KAFKA_PORT
    port_free_or_die "$CONTROLLER_PORT" TXMON_KAFKA_CONTROLLER_PORT
    [[ -z "$SASL_SSL_PORT" ]] || port_free_or_die "$SASL_SSL_PORT" TXMON_KAFKA_SASL_SSL_PORT
    [[ -z "$MTLS_PORT" ]] || port_free_or_die "$MTLS_PORT" TXMON_KAFKA_MTLS_PORT
  fi
  trap undo_failed_up EXIT
  start_redis
  start_postgres
  start_kafka
  local deadline=$((SECONDS + START_TIMEOUT))
  until redis_ready; do
    ours "$REDIS_PID" || fail_up "redis exited during start-up" "$REDIS_LOG"
    ((SECONDS < deadline)) || fail_up "redis did not answer PING within $START_TIMEOUT s" "$REDIS_LOG"
    sleep 0.1
  done
  until pg_ready 2>/dev/null; do
    ours "$PG_PID" || fail_up "postgres exited during start-up" "$PG_LOG"
    ((SECONDS < deadline)) || fail_up "postgres did not answer within $START_TIMEOUT s" "$PG_LOG"
    sleep 0.2
  done
  until port_open "$KAFKA_PORT"; do
    ours "$KAFKA_PID" || fail_up "kafka exited during start-up" "$KAFKA_OUT" "$KAFKA_LOG"
    ((SECONDS < deadline)) || fail_up "kafka did not listen on $KAFKA_PORT within $START_TIMEOUT s" "$KAFKA_OUT" "$KAFKA_LOG"
    sleep 0.2
  done
  local left=$((deadline - SECONDS))
  ((left > 1)) || left=1
  kafka_ready "$left" || fail_up "kafka did not answer a client within $START_TIMEOUT s" "$KAFKA_OUT" "$KAFKA_LOG"
  trap - EXIT
  say "ready in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}') s: kafka 127.0.0.1:$KAFKA_PORT, redis 127.0.0.1:$REDIS_PORT, postgres 127.0.0.1:$PG_PORT (run dir $RUN_DIR)"
}

down() {
  stop_pid kafka "$KAFKA_PID"
  stop_pid redis "$REDIS_PID"
  stop_pid postgres "$PG_PID"
  if [[ "${1:-}" == "--purge" ]]; then
    rm -rf "$KAFKA_DIR" "$REDIS_DIR" "$PG_DIR" "$PG_DATA"
    rmdir "$RUN_DIR" 2>/dev/null || true
    say "removed Kafka, Redis and PostgreSQL data under $RUN_DIR${PG_DATA:+ and $PG_DATA}"
  fi
}

status() {  # exit 0 only when both run
  local rc=0 state
  if ours "$KAFKA_PID"; then
    port_open "$KAFKA_PORT" && state="answering" || state="not listening yet"
    say "kafka up   pid $(pid_of "$KAFKA_PID")  127.0.0.1:$KAFKA_PORT ($state; controller $CONTROLLER_PORT)"
  else say "kafka down (127.0.0.1:$KAFKA_PORT)"; rc=1; fi
  if ours "$REDIS_PID"; then
    redis_ready && state="answering" || state="not answering"
    say "redis up   pid $(pid_of "$REDIS_PID")  127.0.0.1:$REDIS_PORT ($state)"
  else say "redis down (127.0.0.1:$REDIS_PORT)"; rc=1; fi
  if ours "$PG_PID"; then
    pg_ready 2>/dev/null && state="answering" || state="not answering"
    say "postgres up pid $(pid_of "$PG_PID")  127.0.0.1:$PG_PORT ($state)"
  else say "postgres down (127.0.0.1:$PG_PORT)"; rc=1; fi
  say "run dir $RUN_DIR"
  return $rc
}

case "${1:-}" in
  install) install; say "installed: Kafka $KAFKA_VERSION jars in $LIBS, $(command -v redis-server), $(pg_bin)/postgres" ;;
  up) up ;;
  down)
    [[ -z "${2:-}" || "${2:-}" == "--purge" ]] || die "usage: $0 down [--purge]"
    down "${2:-}"
    ;;
  status) status ;;
  *) echo "usage: $0 install | up | down [--purge] | status" >&2; exit 2 ;;
esac
