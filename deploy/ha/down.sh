#!/usr/bin/env bash
# Stops every node and the monitor, and removes their data (HA_DIR).
set -euo pipefail
source "$(dirname "$0")/cluster.sh"

[[ -d $HA_DIR ]] || exit 0
for node in $(node_names) monitor; do
    group=$(running_group "$node")
    [[ -n $group ]] || continue
    # pg_autoctl stops its Postgres on SIGTERM; a fast shutdown does not wait for clients.
    kill -TERM -- "-$group" 2>/dev/null || true
done
for node in $(node_names) monitor; do
    group=$(running_group "$node")
    for _ in $(seq 100); do
        [[ -n $group ]] && kill -0 "$group" 2>/dev/null || break
        sleep 0.1
    done
    [[ -n $group ]] && kill -KILL -- "-$group" 2>/dev/null || true
    # A postmaster that outlived its keeper (its keeper was killed, say), and its children.
    postmaster=$(head -1 "$(pgdata_of "$node")/postmaster.pid" 2>/dev/null || true)
    if [[ -n $postmaster ]] && kill -0 "$postmaster" 2>/dev/null; then
        mapfile -t children < <(pgrep -P "$postmaster" || true)
        kill -KILL "$postmaster" "${children[@]}" 2>/dev/null || true
    fi
done
rm -rf "$HA_DIR"
echo "ha: stopped and removed $HA_DIR"
