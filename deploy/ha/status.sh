#!/usr/bin/env bash
# The nodes and their roles as the monitor sees them, and how the primary commits.
set -euo pipefail
source "$(dirname "$0")/cluster.sh"

[[ -d $HA_DIR/monitor ]] || die "no cluster in $HA_DIR: make ha-up"
[[ -n $(running_group monitor) ]] || die "the monitor is not running: make ha-up"
as_node monitor pg_autoctl show state --pgdata "$(pgdata_of monitor)"
for node in $(node_names); do
    state=running
    [[ -n $(running_group "$node") ]] || state="not running"
    echo "$node (port $(node_port "$node")): pg_autoctl $state"
done
primary=$(primary_node)
if [[ -z $primary ]]; then
    echo "no primary right now"
    exit 0
fi
echo
echo "on the primary, $primary:"
node_sql "$primary" "SELECT format('  %s = %s', name, quote_literal(setting)) FROM pg_settings
    WHERE name IN ('synchronous_standby_names', 'synchronous_commit') ORDER BY name" 2>/dev/null ||
    echo "  (it does not answer)"
node_sql "$primary" "SELECT format('  standby %s: %s, sync_state %s', application_name, state,
    sync_state) FROM pg_stat_replication ORDER BY application_name" 2>/dev/null || true
echo
echo "DATABASE_URL=$(database_url)"
