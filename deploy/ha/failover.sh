#!/usr/bin/env bash
# Loses the primary's machine: SIGKILL, in one call, of its pg_autoctl processes, its postmaster
# and every server process, so that nothing restarts it (the postmaster alone would be restarted
# by its keeper within seconds). Returns at once; the monitor then promotes the standby.
set -euo pipefail
source "$(dirname "$0")/cluster.sh"

primary=$(primary_node)
[[ -n $primary ]] || die "no primary to lose (make ha-status)"
group=$(running_group "$primary")
[[ -n $group ]] || die "$primary is the primary but its pg_autoctl is not running"
postmaster=$(head -1 "$(pgdata_of "$primary")/postmaster.pid" 2>/dev/null || true)
# Server processes put themselves in process groups of their own: the postmaster's children are
# named one by one.
children=()
[[ -n $postmaster ]] && mapfile -t children < <(pgrep -P "$postmaster" || true)
kill -KILL -- "-$group" ${postmaster:+"$postmaster"} "${children[@]}" 2>/dev/null || true
echo "ha: killed $primary (pg_autoctl group $group, postmaster ${postmaster:-none}) at $(date -u +%T.%3N)"
