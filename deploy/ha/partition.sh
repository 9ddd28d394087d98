#!/usr/bin/env bash
# Cuts a node off the network, or heals every cut: `partition.sh cut [NODE]` (default: the
# primary), `partition.sh heal`. The node's processes keep running; what leaves them is dropped
# (they run as a user of their own: iptables' owner match), and so is what is sent to its port,
# on loopback as on any interface. Its keeper then loses the monitor and its standby, as on a
# machine whose network is gone. The rules live in a chain of their own, which `heal` and
# `make ha-down` remove.
set -euo pipefail
source "$(dirname "$0")/cluster.sh"

CHAIN="wallet-ha-$HA_MONITOR_PORT"

cut() {
    local node=${1:-$(primary_node)}
    [[ -n $node ]] || die "no primary to cut off (make ha-status)"
    command -v iptables >/dev/null || die "iptables is not installed (make test-ha installs it)"
    iptables -w -N "$CHAIN" 2>/dev/null || true
    iptables -w -C OUTPUT -j "$CHAIN" 2>/dev/null || iptables -w -I OUTPUT -j "$CHAIN"
    iptables -w -A "$CHAIN" -m owner --uid-owner "$(user_of "$node")" -j DROP
    iptables -w -A "$CHAIN" -p tcp --dport "$(node_port "$node")" -j DROP
    echo "ha: cut $node off the network at $(date -u +%T.%3N)"
}

heal() {
    command -v iptables >/dev/null || return 0
    iptables -w -D OUTPUT -j "$CHAIN" 2>/dev/null || true
    iptables -w -F "$CHAIN" 2>/dev/null || true
    iptables -w -X "$CHAIN" 2>/dev/null || true
}

case ${1:-} in
    cut) cut "${2:-}" ;;
    heal) heal ;;
    *) die "usage: $0 cut [NODE] | heal" ;;
esac
