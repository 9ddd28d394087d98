#!/usr/bin/env bash
# Starts the cluster (creating it on first use), waits for a primary and a synchronous standby,
# and prints the service's DATABASE_URL alone on its last line. Run again after a node was lost:
# it starts every node that is not running, and the lost one comes back as a standby.
set -euo pipefail
source "$(dirname "$0")/cluster.sh"

WAIT_SECONDS=${HA_WAIT_SECONDS:-180}

install_packages() {
    command -v pg_autoctl >/dev/null && [[ -x $PG_BIN/pg_ctl ]] && return 0
    echo "ha: installing pg_auto_failover (Debian packages)" >&2
    apt-get update -qq
    apt-get install -y -qq postgresql-15-auto-failover pg-auto-failover-cli >&2
}

# PostgreSQL refuses to run as root. The postgres group gives write access to
# /var/run/postgresql, where the postmaster keeps its socket's lock file; the group HA_USER
# shares the data directories among the cluster's users.
create_users() {
    local node user
    getent group "$HA_USER" >/dev/null || groupadd --system "$HA_USER"
    for node in monitor $(node_names); do
        user=$(user_of "$node")
        id "$user" >/dev/null 2>&1 && continue
        useradd --system --gid "$HA_USER" --groups postgres --no-create-home \
            --home-dir /nonexistent --shell /usr/sbin/nologin "$user"
    done
}

prepare_directories() {
    local node
    mkdir -p "$HA_DIR"
    for node in monitor $(node_names); do
        mkdir -p "$HA_DIR/$node"/{config,share,run}
        chown -R "$(user_of "$node"):$HA_USER" "$HA_DIR/$node"
        chmod 700 "$HA_DIR/$node"
    done
}

create_monitor() {
    [[ -f $(pgdata_of monitor)/PG_VERSION ]] && return 0
    as_node monitor pg_autoctl create monitor --pgctl "$PG_BIN/pg_ctl" \
        --pgdata "$(pgdata_of monitor)" --pgport "$HA_MONITOR_PORT" --listen "$HA_HOST" \
        --hostname "$HA_HOST" --auth trust --no-ssl >>"$HA_DIR/monitor/pg_autoctl.log" 2>&1
    local setting
    for setting in "${MONITOR_SETTINGS[@]}"; do
        echo "${setting%%=*} = ${setting#*=}" >>"$(pgdata_of monitor)/postgresql.conf"
    done
}

create_node() {
    local node=$1
    [[ -f $HA_DIR/$node/config/pg_autoctl/$(pgdata_of "$node")/pg_autoctl.cfg ]] && return 0
    # A standby's base backup waits for a spread checkpoint on the primary (about 95 s here);
    # right after a forced one there is nothing left for it to spread.
    local primary
    primary=$(primary_node)
    if [[ -n $primary ]]; then
        wait_for "$primary answering" "node_sql $primary 'SELECT 1' >/dev/null 2>&1"
        # The standby's keeper connects to its copy of the primary as its own user: initdb made
        # only the first node's.
        node_sql "$primary" "DO \$\$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$(user_of "$node")') THEN
                CREATE ROLE \"$(user_of "$node")\" SUPERUSER LOGIN;
            END IF; END \$\$" >/dev/null
        node_sql "$primary" "CHECKPOINT" >/dev/null
    fi
    as_node "$node" pg_autoctl create postgres --pgctl "$PG_BIN/pg_ctl" \
        --pgdata "$(pgdata_of "$node")" --pgport "$(node_port "$node")" --listen "$HA_HOST" \
        --hostname "$HA_HOST" --name "$node" --dbname "$HA_DBNAME" --monitor "$MONITOR_URI" \
        --auth trust --no-ssl >>"$HA_DIR/$node/pg_autoctl.log" 2>&1
    as_node "$node" pg_autoctl config set timeout.network_partition_timeout \
        "$KEEPER_NETWORK_PARTITION_TIMEOUT" >/dev/null
    as_node "$node" pg_autoctl config set timeout.prepare_promotion_walreceiver \
        "$KEEPER_PREPARE_PROMOTION_WALRECEIVER" >/dev/null
}

wait_for() {
    local what=$1 check=$2 deadline=$((SECONDS + WAIT_SECONDS))
    until eval "$check"; do
        ((SECONDS < deadline)) || { tail -n 15 "$HA_DIR"/*/pg_autoctl.log >&2
            die "no $what after ${WAIT_SECONDS} s; see $HA_DIR/*/pg_autoctl.log"; }
        sleep 0.5
    done
}

monitor_ready() { monitor_sql "SELECT 1" >/dev/null 2>&1; }

# A primary whose commits wait for a standby, and that standby in sync.
synchronous_pair() {
    [[ -n $(monitor_sql "SELECT 1 FROM pgautofailover.node p JOIN pgautofailover.node s
        ON s.formationid = p.formationid AND s.nodeid <> p.nodeid
        WHERE p.reportedstate = 'primary' AND p.goalstate = 'primary'
          AND s.reportedstate = 'secondary' AND s.goalstate = 'secondary'" 2>/dev/null) ]] || \
        return 1
    local primary
    primary=$(primary_node)
    [[ -n $primary ]] && [[ $(node_sql "$primary" "SELECT count(*) FROM pg_stat_replication
        WHERE sync_state IN ('sync', 'quorum')" 2>/dev/null) -ge 1 ]]
}

app_role() {
    local primary
    primary=$(primary_node)
    node_sql "$primary" "DO \$\$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$HA_APP_USER') THEN
            CREATE ROLE $HA_APP_USER LOGIN CREATEDB;
        END IF; END \$\$;
        ALTER DATABASE $HA_DBNAME OWNER TO $HA_APP_USER" >/dev/null
}

[[ $(id -u) -eq 0 ]] || die "run as root: it creates the users $HA_USER* and runs the servers as them"
install_packages
create_users
prepare_directories
create_monitor
start_keeper monitor
wait_for "monitor" monitor_ready
for node in $(node_names); do
    create_node "$node"
    start_keeper "$node"
    # A primary (single, wait_primary or primary) before the next node is created from it.
    wait_for "primary" '[[ -n $(primary_node) ]]'
done
wait_for "primary with a synchronous standby" synchronous_pair
app_role
echo "ha: primary $(primary_node), synchronous standby in place; data in $HA_DIR" >&2
database_url
