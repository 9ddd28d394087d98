#!/usr/bin/env bash
# What synchronous replication costs: `hot` and `spread` of `wallet-api bench` on the running
# cluster, and on its primary alone (the standby stopped, so commits wait for no one: one server,
# same configuration, same machine), alternating round by round in one run (the machine's speed
# drifts), then each round's cluster/single ratio. Reports go to bench/results/ha/ (git-ignored).
set -euo pipefail
source "$(dirname "$0")/cluster.sh"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ROUNDS=${HA_BENCH_ROUNDS:-3}
DURATION=${HA_BENCH_DURATION:-10}
OUT=$ROOT/bench/results/ha/$(date -u +%Y%m%dT%H%M%SZ)

[[ -n $(primary_node) ]] || die "no cluster running: make ha-up"
URL=$(database_url)

# The primary alone: with its standby gone the monitor turns synchronous replication off.
standby_stopped() {
    local primary standby
    primary=$(primary_node)
    for standby in $(node_names); do
        [[ $standby == "$primary" ]] || stop_keeper "$standby"
    done
    for _ in $(seq 120); do
        [[ -z $(node_sql "$(primary_node)" "SHOW synchronous_standby_names" 2>/dev/null) ]] && \
            [[ -n $(primary_node) ]] && return 0
        sleep 0.5
    done
    die "synchronous replication stayed on without the standby"
}

mkdir -p "$OUT"
for round in $(seq "$ROUNDS"); do
    for target in cluster single; do
        if [[ $target == single ]]; then standby_stopped; else bash "$(dirname "$0")/up.sh" >/dev/null; fi
        echo "ha-bench: round $round, $target: $(bash "$(dirname "$0")/status.sh" | grep "synchronous_standby_names")" >&2
        DATABASE_URL=$URL "$ROOT/.venv/bin/wallet-api" bench --duration "$DURATION" \
            --scenarios hot,spread --output "$OUT/$target-$round" >"$OUT/$target-$round.log" 2>&1 \
            || die "the bench failed; see $OUT/$target-$round.log"
    done
done
bash "$(dirname "$0")/up.sh" >/dev/null
"$ROOT/.venv/bin/python" - "$OUT" "$ROUNDS" <<'PY'
import json, statistics, sys
from pathlib import Path

out, rounds = Path(sys.argv[1]), int(sys.argv[2])

def rate(target: str, n: int, scenario: str) -> float:
    run = json.loads((out / f"{target}-{n}" / "latest.json").read_text())
    return next(s["requests_per_second"] for s in run["scenarios"] if s["name"] == scenario)

print(f"requests per second, cluster / primary alone, {rounds} rounds, reports in {out}")
for scenario in ("hot", "spread"):
    rows = [(rate("cluster", n, scenario), rate("single", n, scenario)) for n in range(1, rounds + 1)]
    ratios = [c / s for c, s in rows]
    each = ", ".join(f"{c:.0f}/{s:.0f} = {c / s:.2f}" for c, s in rows)
    print(f"{scenario}: {each}; median {statistics.median(ratios):.2f}, "
          f"spread {min(ratios):.2f}-{max(ratios):.2f}")
PY
