#!/usr/bin/env bash
# Stops every node and the monitor, and removes their data (HA_DIR).
set -euo pipefail
source "$(dirname "$0")/cluster.sh"

bash "$(dirname "$0")/partition.sh" heal
[[ -d $HA_DIR ]] || exit 0
for node in $(node_names) monitor; do
    stop_keeper "$node"
    # A postmaster that outlived its keeper (its keeper was killed, say), and its children.
    postmaster=$(head -1 "$(pgdata_of "$node")/postmaster.pid" 2>/dev/null || true)
    if [[ -n $postmaster ]] && kill -0 "$postmaster" 2>/dev/null; then
        mapfile -t children < <(pgrep -P "$postmaster" || true)
        kill -KILL "$postmaster" "${children[@]}" 2>/dev/null || true
    fi
done
for node in monitor $(node_names); do
    clear_stale_socket_lock "$node"
done
rm -rf "$HA_DIR"
echo "ha: stopped and removed $HA_DIR"
