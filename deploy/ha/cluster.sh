# The cluster's layout and the helpers every deploy/ha script shares; sourced, never run.
# One pg_auto_failover monitor and two data nodes on loopback, each run as an ordinary user of its
# own (wallet-ha, wallet-ha-node1, ...: PostgreSQL refuses root, and a user per node lets
# partition.sh cut one node off the network), with all their data, configuration and logs under
# HA_DIR (git-ignored; `make ha-down` removes it).

HA_DIR=${HA_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/.ha-data}
HA_USER=${HA_USER:-wallet-ha}
HA_HOST=127.0.0.1
# Clear of the system PostgreSQL (5432), NATS (4222), RabbitMQ (5672) and the service (8000).
HA_MONITOR_PORT=${HA_MONITOR_PORT:-6300}
HA_NODE_PORTS=(${HA_NODE_PORTS:-6301 6302})
HA_DBNAME=wallet
HA_APP_USER=wallet
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
MONITOR_URI="postgres://autoctl_node@${HA_HOST}:${HA_MONITOR_PORT}/pg_auto_failover?sslmode=disable"

# The monitor's timeouts (milliseconds), tuned from the defaults for a small recovery time; see
# docs/high-availability.md for what each trades away. Defaults in brackets.
MONITOR_SETTINGS=(
    "pgautofailover.health_check_period=1000"             # [5000] how often it probes each node
    "pgautofailover.health_check_timeout=1000"            # [5000] connect timeout of a probe
    "pgautofailover.health_check_max_retries=1"           # [2] failed probes before "bad"
    "pgautofailover.health_check_retry_delay=500"         # [2000]
    "pgautofailover.node_considered_unhealthy_timeout=3000" # [20000] keeper silence before failing
    "pgautofailover.primary_demote_timeout=6000"          # [30000] wait for the old primary to stop
)
# The keepers' side: a primary that reaches neither the monitor nor its standby for this long
# stops itself (see docs/high-availability.md for when pg_auto_failover 2.0 does not notice).
KEEPER_NETWORK_PARTITION_TIMEOUT=3      # [20] seconds
KEEPER_PREPARE_PROMOTION_WALRECEIVER=2  # [5] seconds

user_of() { if [[ $1 == monitor ]]; then echo "$HA_USER"; else echo "$HA_USER-$1"; fi; }
node_names() { local n; for n in "${!HA_NODE_PORTS[@]}"; do echo "node$((n + 1))"; done; }
node_port() { echo "${HA_NODE_PORTS[${1#node} - 1]}"; }
pgdata_of() { echo "$HA_DIR/$1/pgdata"; }

# Runs a command as HA_USER with the node's own XDG directories, where pg_autoctl keeps its
# configuration, state and pid files, so that everything of the node lives under HA_DIR.
as_node() {
    local node=$1
    shift
    setpriv --reuid="$(user_of "$node")" --regid="$HA_USER" --init-groups \
        env HOME="$HA_DIR/$node" XDG_CONFIG_HOME="$HA_DIR/$node/config" \
        XDG_DATA_HOME="$HA_DIR/$node/share" XDG_RUNTIME_DIR="$HA_DIR/$node/run" \
        PATH="$PG_BIN:$PATH" PGDATA="$(pgdata_of "$node")" "$@"
}

# A node cut off the network does not refuse a connection, it never answers: give up soon.
monitor_sql() {
    as_node monitor env PGCONNECT_TIMEOUT=3 psql -X -qAt -h "$HA_HOST" -p "$HA_MONITOR_PORT" -d pg_auto_failover \
        -v ON_ERROR_STOP=1 -c "$1"
}

node_sql() {
    as_node "$1" env PGCONNECT_TIMEOUT=3 psql -X -qAt -h "$HA_HOST" -p "$(node_port "$1")" -d postgres \
        -v ON_ERROR_STOP=1 -c "$2"
}

# The process group of a node's `pg_autoctl run` (its keeper, its postmaster and every backend),
# recorded at start; empty when it is not running.
running_group() {
    local pidfile="$HA_DIR/$1/group.pid" pid
    [[ -f $pidfile ]] || return 0
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then echo "$pid"; fi
}

# A postmaster killed with SIGKILL leaves its socket's lock file in /var/run/postgresql. The next
# one removes it only when no process has the pid written in it, and pids are reused on a busy
# machine: removed here while the node's own postmaster is known dead.
clear_stale_socket_lock() {
    local port pid
    port=$([[ $1 == monitor ]] && echo "$HA_MONITOR_PORT" || node_port "$1")
    pid=$(head -1 "$(pgdata_of "$1")/postmaster.pid" 2>/dev/null || true)
    if [[ -z $pid ]] || ! kill -0 "$pid" 2>/dev/null || \
        [[ $(stat -c %U "/proc/$pid" 2>/dev/null) != "$(user_of "$1")" ]]; then
        rm -f "/var/run/postgresql/.s.PGSQL.$port.lock"
    fi
}

# Starts `pg_autoctl run` for a node in a session of its own, in the background; its log goes to
# HA_DIR/<node>/pg_autoctl.log.
start_keeper() {
    local node=$1
    [[ -n $(running_group "$node") ]] && return 0
    clear_stale_socket_lock "$node"
    setsid bash -c 'echo $$ > "$1"; shift; exec "$@"' _ "$HA_DIR/$node/group.pid" \
        setpriv --reuid="$(user_of "$node")" --regid="$HA_USER" --init-groups \
        env HOME="$HA_DIR/$node" XDG_CONFIG_HOME="$HA_DIR/$node/config" \
        XDG_DATA_HOME="$HA_DIR/$node/share" XDG_RUNTIME_DIR="$HA_DIR/$node/run" \
        PATH="$PG_BIN:$PATH" PGDATA="$(pgdata_of "$node")" \
        pg_autoctl run >>"$HA_DIR/$node/pg_autoctl.log" 2>&1 </dev/null &
    local waited=0
    until [[ -s "$HA_DIR/$node/group.pid" ]]; do
        sleep 0.1
        ((++waited < 50)) || { echo "ha: $node did not start" >&2; return 1; }
    done
}

# Stops a node's pg_autoctl, which stops its PostgreSQL first (a fast shutdown).
stop_keeper() {
    local group
    group=$(running_group "$1")
    [[ -n $group ]] || return 0
    kill -TERM -- "-$group" 2>/dev/null || true
    for _ in $(seq 300); do
        kill -0 "$group" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL -- "-$group" 2>/dev/null || true
}

# The primary's node name (node1, node2...), from the monitor; empty while there is none.
primary_node() {
    monitor_sql "SELECT nodename FROM pgautofailover.node
                 WHERE reportedstate IN ('primary', 'wait_primary', 'single')
                   AND goalstate = reportedstate ORDER BY nodeid LIMIT 1" 2>/dev/null || true
}

database_url() {
    local hosts=() port
    for port in "${HA_NODE_PORTS[@]}"; do hosts+=("$HA_HOST:$port"); done
    local joined
    joined=$(IFS=,; echo "${hosts[*]}")
    echo "postgresql://${HA_APP_USER}@${joined}/${HA_DBNAME}?target_session_attrs=read-write"
}

die() { echo "ha: $*" >&2; exit 1; }
