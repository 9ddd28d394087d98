"""The scenarios of a run: what each drives, the wallets it needs, its wrk or pgbench script."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from wallet_api.bench import pgbench
from wallet_api.bench.fill import WalletSet

OPERATION_PATH = "/api/v1/wallets/{wallet_id}/operation"
TRANSFERS_PATH = "/api/v1/transfers"
DEPOSIT = '{"operation_type":"DEPOSIT","amount":"0.01"}'
WITHDRAW = '{"operation_type":"WITHDRAW","amount":"0.01"}'

READ_WALLET = WalletSet(group=1, count=1, balance_minor=100_00)
HOT_WALLET = WalletSet(group=2, count=1)
# Far more than a run can withdraw at 0.01 a request: a withdrawal is never short of funds.
HOT_MIXED_WALLET = WalletSet(group=3, count=1, balance_minor=1_000_000_000_00)
SPREAD_WALLETS = WalletSet(group=4, count=10_000)
TRANSFER_WALLETS = WalletSet(group=5, count=1_000, balance_minor=1_000_000_00)
DB_CEILING_WALLET = WalletSet(group=6, count=1)
PAYER_WALLETS = WalletSet(group=7, count=1_000, balance_minor=1_000_000_00)
MERCHANT_WALLET = WalletSet(group=8, count=1)
# Holds of 0.01 for a whole run never come near its available balance.
HOLD_WALLET = WalletSet(group=9, count=1, balance_minor=1_000_000_000_00)
HOLDS_PATH = "/api/v1/wallets/{wallet_id}/holds"
HOLD = '{"amount":"0.01","expires_in_seconds":3600}'

HOT_CONNECTIONS_AT_SCALE = (1, 8, 64, 256)


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    summary: str
    tool: str
    script: str
    wallets: tuple[WalletSet, ...] = ()
    connections: int | None = None  # None: the run's --connections
    requires_path: str | None = None  # skipped, with a note, when the API lacks this route
    # Run on a database of its own, by a service that publishes every event to this broker.
    publishes_to: str | None = None


# Each wrk thread has its own Lua state: setup() runs once per thread in the main state and
# hands each thread a distinct seed, so the threads do not draw the same "random" wallets.
_SEEDED = """
local threads = 0
function setup(thread)
   threads = threads + 1
   thread:set("seed", threads)
end
"""


# What makes every key of a keyed scenario unique, across threads, runs and the warm-up: each
# thread's Lua state loads the script on its own and draws 12 random bytes as it does, then
# numbers its requests after them. A key reused would be replayed and move no money.
_KEYS = """
local urandom = assert(io.open("/dev/urandom", "rb"))
local key_prefix = string.format(string.rep("%02x", 12), urandom:read(12):byte(1, -1))
urandom:close()
local keys_sent = 0
local function keyed(headers)
   keys_sent = keys_sent + 1
   headers["Idempotency-Key"] = key_prefix .. "-" .. keys_sent
   return headers
end
"""


def _static(method: str, path: str, body: str | None = None) -> str:
    """One request sent over and over: wrk builds it once, the cheapest script there is."""
    lines = [f'wrk.method = "{method}"', f'wrk.path = "{path}"']
    if body is not None:
        lines += [f"wrk.body = '{body}'", 'wrk.headers["Content-Type"] = "application/json"']
    return "\n".join(lines) + "\n"


def _alternating(path: str, bodies: tuple[str, ...]) -> str:
    built = "\n".join(
        f'   requests[{n}] = wrk.format("POST", "{path}", headers, \'{body}\')'
        for n, body in enumerate(bodies, start=1)
    )
    return f"""
local requests = {{}}
local turn = 0
function init(args)
   local headers = {{["Content-Type"] = "application/json"}}
{built}
end
function request()
   turn = turn % {len(bodies)} + 1
   return requests[turn]
end
"""


def _prefix(wallets: WalletSet) -> str:
    """The id of a group's wallet n is this prefix and n as 12 hex digits."""
    return str(wallets.id(0))[: -len("000000000000")]


def _spread(wallets: WalletSet) -> str:
    path = OPERATION_PATH.format(wallet_id=_prefix(wallets) + "%012x")
    return (
        _SEEDED
        + f"""
local requests = {{}}
function init(args)
   math.randomseed(seed * 7919 + os.time())
   local headers = {{["Content-Type"] = "application/json"}}
   for n = 1, {wallets.count} do
      requests[n] = wrk.format("POST", string.format("{path}", n), headers, '{DEPOSIT}')
   end
end
function request()
   return requests[math.random({wallets.count})]
end
"""
    )


def _hot_keyed(wallet: uuid.UUID) -> str:
    path = OPERATION_PATH.format(wallet_id=wallet)
    return (
        _KEYS
        + f"""
local headers = {{["Content-Type"] = "application/json"}}
function request()
   return wrk.format("POST", "{path}", keyed(headers), '{DEPOSIT}')
end
"""
    )


def _spread_keyed(wallets: WalletSet) -> str:
    path = OPERATION_PATH.format(wallet_id=_prefix(wallets) + "%012x")
    return (
        _SEEDED
        + _KEYS
        + f"""
local headers = {{["Content-Type"] = "application/json"}}
local paths = {{}}
function init(args)
   math.randomseed(seed * 7919 + os.time())
   for n = 1, {wallets.count} do
      paths[n] = string.format("{path}", n)
   end
end
function request()
   return wrk.format("POST", paths[math.random({wallets.count})], keyed(headers), '{DEPOSIT}')
end
"""
    )


def _transfers(wallets: WalletSet) -> str:
    wallet = _prefix(wallets) + "%012x"
    body = f'{{"from_wallet_id":"{wallet}","to_wallet_id":"{wallet}","amount":"0.01"}}'
    draw = f"""
   local from = math.random({wallets.count})
   local to = math.random({wallets.count - 1})
   if to >= from then to = to + 1 end"""
    return _random_transfers(draw, body, "from, to")


def _payments(payers: WalletSet, merchant: uuid.UUID) -> str:
    payer = _prefix(payers) + "%012x"
    body = f'{{"from_wallet_id":"{payer}","to_wallet_id":"{merchant}","amount":"0.01"}}'
    return _random_transfers(f"\n   local from = math.random({payers.count})", body, "from")


def _random_transfers(draw: str, body: str, numbers: str) -> str:
    """POST /transfers with `body`, its wallet numbers (`numbers`) drawn by the Lua `draw`."""
    return (
        _SEEDED
        + f"""
local headers = {{["Content-Type"] = "application/json"}}
function init(args)
   math.randomseed(seed * 7919 + os.time())
end
function request(){draw}
   return wrk.format("POST", "{TRANSFERS_PATH}", headers, string.format('{body}', {numbers}))
end
"""
    )


def _hot(name: str, connections: int | None, publishes_to: str | None = None) -> Scenario:
    path = OPERATION_PATH.format(wallet_id=HOT_WALLET.id())
    summary = "deposits of 0.01 into one wallet"
    if connections is not None:
        summary += f", {connections} connection{'s' if connections > 1 else ''}"
    if publishes_to is not None:
        summary += f", every event published to {publishes_to.upper()} (confirmed)"
    script = _static("POST", path, DEPOSIT)
    return Scenario(
        name, summary, "wrk", script, (HOT_WALLET,), connections, publishes_to=publishes_to
    )


STANDARD: tuple[Scenario, ...] = (
    Scenario(
        "ceiling",
        "GET /health/live: the framework's own limit on this machine",
        "wrk",
        _static("GET", "/health/live"),
    ),
    Scenario(
        "db-ceiling",
        "pgbench: the single-row balance UPDATE ... RETURNING on one hot row",
        "pgbench",
        pgbench.SCRIPT.format(wallet_id=DB_CEILING_WALLET.id()),
        (DB_CEILING_WALLET,),
    ),
    Scenario(
        "read",
        "GET one wallet's balance",
        "wrk",
        _static("GET", f"/api/v1/wallets/{READ_WALLET.id()}"),
        (READ_WALLET,),
    ),
    _hot("hot", None),
    Scenario(
        "hot-keyed",
        "deposits of 0.01 into one wallet, each with an Idempotency-Key of its own",
        "wrk",
        _hot_keyed(HOT_WALLET.id()),
        (HOT_WALLET,),
    ),
    _hot("hot-events", None, publishes_to="nats"),
    Scenario(
        "hot-mixed",
        "deposits and withdrawals of 0.01, in turn, on one pre-funded wallet",
        "wrk",
        _alternating(OPERATION_PATH.format(wallet_id=HOT_MIXED_WALLET.id()), (DEPOSIT, WITHDRAW)),
        (HOT_MIXED_WALLET,),
    ),
    Scenario(
        "spread",
        f"deposits of 0.01 into {SPREAD_WALLETS.count:,} wallets at random",
        "wrk",
        _spread(SPREAD_WALLETS),
        (SPREAD_WALLETS,),
    ),
    Scenario(
        "spread-keyed",
        f"deposits of 0.01 into {SPREAD_WALLETS.count:,} wallets at random, each with an "
        "Idempotency-Key of its own",
        "wrk",
        _spread_keyed(SPREAD_WALLETS),
        (SPREAD_WALLETS,),
    ),
    Scenario(
        "transfer",
        f"transfers of 0.01 between {TRANSFER_WALLETS.count:,} pre-funded wallets at random",
        "wrk",
        _transfers(TRANSFER_WALLETS),
        (TRANSFER_WALLETS,),
        requires_path=TRANSFERS_PATH,
    ),
    Scenario(
        "hot-transfer",
        f"transfers of 0.01 from {PAYER_WALLETS.count:,} pre-funded wallets at random into one",
        "wrk",
        _payments(PAYER_WALLETS, MERCHANT_WALLET.id()),
        (PAYER_WALLETS, MERCHANT_WALLET),
        requires_path=TRANSFERS_PATH,
    ),
    Scenario(
        "hot-hold",
        "holds of 0.01 (for an hour) on one pre-funded wallet",
        "wrk",
        _static("POST", HOLDS_PATH.format(wallet_id=HOLD_WALLET.id()), HOLD),
        (HOLD_WALLET,),
        requires_path=HOLDS_PATH,
    ),
)

SCALE_ONLY_NAMES = (
    *(f"hot@{connections}" for connections in HOT_CONNECTIONS_AT_SCALE),
    "history-first",
    "history-deep",
    "history-with-balance",
    "as-of",
)
NAMES = (*(s.name for s in STANDARD), *SCALE_ONLY_NAMES)


def hot_sweep() -> list[Scenario]:
    """The hot scenario at each connection count of --scale mode."""
    return [_hot(f"hot@{connections}", connections) for connections in HOT_CONNECTIONS_AT_SCALE]


def _one_of(paths: Sequence[str]) -> str:
    """GET one of `paths` at random, each request."""
    listed = ",\n".join(f'   "{path}"' for path in paths)
    return (
        _SEEDED
        + f"""
local paths = {{
{listed}
}}
function init(args)
   math.randomseed(seed * 7919 + os.time())
end
function request()
   return wrk.format("GET", paths[math.random(#paths)])
end
"""
    )


def history_probe(
    wallet: uuid.UUID,
    deep_cursor: str,
    operations: int,
    cursors: Sequence[str] = (),
    instants: Sequence[str] = (),
) -> list[Scenario]:
    """The first and the last history page of a wallet with `operations` operations; pages
    from random points of its history, each item with its balance after; and its balance as
    of random instants of its history."""
    path = f"/api/v1/wallets/{wallet}/operations"
    probes = []
    if cursors:
        probes.append(
            Scenario(
                "history-with-balance",
                f"GET a page of the same {operations:,} operations from a random point, each "
                "item with its balance_after",
                "wrk",
                _one_of([f"{path}?cursor={cursor}" for cursor in cursors]),
            )
        )
    if instants:
        probes.append(
            Scenario(
                "as-of",
                "GET the balance of the same wallet as of a random instant of its history",
                "wrk",
                _one_of([f"/api/v1/wallets/{wallet}?as_of={instant}" for instant in instants]),
            )
        )
    first = Scenario(
        "history-first",
        f"GET the newest page of a wallet's {operations:,} operations",
        "wrk",
        _static("GET", path),
    )
    deepest = Scenario(
        "history-deep",
        f"GET the oldest page of the same {operations:,} operations, by its cursor",
        "wrk",
        _static("GET", f"{path}?cursor={deep_cursor}"),
    )
    return [first, deepest, *probes]
