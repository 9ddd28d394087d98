#!/usr/bin/env bash
# What synchronous replication costs: `hot` and `spread` of `wallet-api bench` on the running
# cluster and on one PostgreSQL server, alternating round by round in one run (the machine's speed
# drifts), then each round's cluster/single ratio. Reports go to bench/results/ha/ (git-ignored).
set -euo pipefail
source "$(dirname "$0")/cluster.sh"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ROUNDS=${HA_BENCH_ROUNDS:-3}
DURATION=${HA_BENCH_DURATION:-10}
# The machine's own PostgreSQL 15, as CI's second test run uses it; its user needs CREATEDB.
SINGLE_URL=${HA_BENCH_SINGLE_URL:-postgresql://postgres@127.0.0.1:5432/test}
OUT=$ROOT/bench/results/ha/$(date -u +%Y%m%dT%H%M%SZ)

[[ -n $(primary_node) ]] || die "no cluster running: make ha-up"
CLUSTER_URL=$(database_url)
mkdir -p "$OUT"
for round in $(seq "$ROUNDS"); do
    for target in cluster single; do
        url=$CLUSTER_URL
        [[ $target == single ]] && url=$SINGLE_URL
        echo "ha-bench: round $round, $target" >&2
        DATABASE_URL=$url "$ROOT/.venv/bin/wallet-api" bench --duration "$DURATION" \
            --scenarios hot,spread --output "$OUT/$target-$round" >"$OUT/$target-$round.log" 2>&1 \
            || die "the bench failed; see $OUT/$target-$round.log"
    done
done
"$ROOT/.venv/bin/python" - "$OUT" "$ROUNDS" <<'PY'
import json, statistics, sys
from pathlib import Path

out, rounds = Path(sys.argv[1]), int(sys.argv[2])

def rate(target: str, n: int, scenario: str) -> float:
    run = json.loads((out / f"{target}-{n}" / "latest.json").read_text())
    return next(s["requests_per_second"] for s in run["scenarios"] if s["name"] == scenario)

print(f"requests per second, cluster / single, {rounds} rounds, reports in {out}")
for scenario in ("hot", "spread"):
    rows = [(rate("cluster", n, scenario), rate("single", n, scenario)) for n in range(1, rounds + 1)]
    ratios = [c / s for c, s in rows]
    each = ", ".join(f"{c:.0f}/{s:.0f} = {c / s:.2f}" for c, s in rows)
    print(f"{scenario}: {each}; median {statistics.median(ratios):.2f}, "
          f"spread {min(ratios):.2f}-{max(ratios):.2f}")
PY
