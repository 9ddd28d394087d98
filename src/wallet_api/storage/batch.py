"""The statements of one engine batch: lock what it touches, claim its keys, write what it decided.

A batch is one transaction on the driver's own connection: one statement locks every wallet the
batch touches (in id order, the one order every writer follows) and claims its idempotency keys,
one loads the holds it needs (when it needs any), and one writes everything the rules accepted.
The statements decide nothing: every value they write was computed by `ledger/rules.py`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg

from wallet_api.events.outbox import EventRow
from wallet_api.storage.errors import StorageConflict
from wallet_api.storage.events import event_columns


@dataclass(frozen=True, slots=True)
class BatchWallet:
    """A wallet's row as a batch locks and writes it."""

    id: uuid.UUID
    currency: str
    balance_minor: int
    held_minor: int
    next_expiry: datetime | None


@dataclass(frozen=True, slots=True)
class BatchHold:
    """A hold's row as a batch loads and writes it."""

    id: uuid.UUID
    wallet_id: uuid.UUID
    amount_minor: int
    status: str
    captured_minor: int | None
    expires_at: datetime
    created_at: datetime
    placed_seq: int | None = None  # the numbers of the decisions that placed it and ended it
    settled_seq: int | None = None
    reference: str | None = None
    metadata: str | None = None  # JSON


@dataclass(frozen=True, slots=True)
class BatchEntry:
    """An operation row as a batch writes it."""

    id: int
    wallet_id: uuid.UUID
    operation_type: str
    amount_minor: int
    balance_after: int
    transfer_id: uuid.UUID | None = None
    hold_id: uuid.UUID | None = None
    reverses_id: int | None = None
    reference: str | None = None
    metadata: str | None = None  # JSON


@dataclass(frozen=True, slots=True)
class Original:
    """An operation or a transfer a batch reverses, and how much of it is reversed already.
    For a transfer, `id` is the transfer's and the legs' operation ids come with it."""

    id: int | uuid.UUID
    wallet_id: uuid.UUID  # a transfer's payer
    other_wallet_id: uuid.UUID | None  # a transfer's payee
    operation_type: str  # TRANSFER for a transfer
    amount_minor: int
    reversed_minor: int
    transfer_id: uuid.UUID | None
    out_operation_id: int | None
    in_operation_id: int | None


@dataclass(frozen=True, slots=True)
class Locked:
    """What a batch holds once its wallets are locked: the transaction's time (every row it
    writes carries it), ids for the operations it may append, and the wallets that exist."""

    now: datetime
    operation_ids: list[int]
    wallets: list[BatchWallet]
    claimed: set[tuple[int, str]]  # the keys now this transaction's


@dataclass(frozen=True, slots=True)
class StoredKey:
    caller: int
    key: str
    fingerprint: bytes
    outcome: str


@dataclass(slots=True)
class Writes:
    """Everything a batch writes, as rows in the order they were decided."""

    opened: list[BatchWallet] = field(default_factory=list)
    updated: list[BatchWallet] = field(default_factory=list)
    # (id, from, to, amount, reference, metadata JSON)
    transfers: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, int, str | None, str | None]] = field(
        default_factory=list
    )
    placed: list[BatchHold] = field(default_factory=list)
    settled: list[BatchHold] = field(default_factory=list)
    entries: list[BatchEntry] = field(default_factory=list)
    answers: list[tuple[int, str, str]] = field(default_factory=list)  # caller, key, outcome
    released: list[tuple[int, str]] = field(default_factory=list)  # caller, key
    events: list[EventRow] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any(
            (
                self.opened,
                self.updated,
                self.placed,
                self.settled,
                self.entries,
                self.answers,
                self.released,
                self.events,
            )
        )


# One statement locks the batch's wallets (in id order), then claims its idempotency keys (the
# INSERT's sub-select makes the locks come first, the order every batch follows), and draws
# numbers from the operations' sequence: one for the batch, one per command, one per operation it
# may append. Drawn after the locks, they follow the order in which the ledger decided on each
# wallet; the rules' outcomes (and the answers stored under the keys) are complete before the one
# statement that writes them. The answer is one row.
#
# A key still being answered by another transaction makes the INSERT wait for it (the unique
# index), so a concurrent retry sees the finished answer, never a half-done one. Keys are
# claimed in one order, so two batches never wait on each other's keys. An expired key is taken
# over as if it were new; a key the INSERT did not take stays locked by it.
_LOCK = """
    WITH locked AS (
        SELECT id, currency, balance_minor, held_minor, holds_expire_at FROM wallets
        WHERE id = ANY($1::uuid[])
        ORDER BY id
        FOR UPDATE
    ), claimed AS (
        INSERT INTO idempotency_keys AS k (caller, key, fingerprint, expires_at)
        SELECT c.caller, c.key, c.fingerprint, now() + $6::interval
        FROM unnest($3::bigint[], $4::text[], $5::bytea[]) AS c(caller, key, fingerprint)
        WHERE (SELECT count(*) FROM locked) >= 0
        ORDER BY c.caller, c.key
        ON CONFLICT (caller, key) DO UPDATE
            SET fingerprint = EXCLUDED.fingerprint, outcome = NULL, created_at = now(),
                expires_at = EXCLUDED.expires_at
            WHERE k.expires_at <= now()
        RETURNING k.caller, k.key
    )
    SELECT now() AS now,
           ARRAY(
               SELECT nextval('operations_id_seq') FROM generate_series(1, $2::int)
               WHERE (SELECT count(*) FROM locked) >= 0
           ) AS ids,
           ARRAY(SELECT id FROM locked) AS wallet_ids,
           ARRAY(SELECT currency FROM locked) AS currencies,
           ARRAY(SELECT balance_minor FROM locked) AS balances,
           ARRAY(SELECT held_minor FROM locked) AS helds,
           ARRAY(SELECT holds_expire_at FROM locked) AS expiries,
           ARRAY(SELECT caller FROM claimed) AS claimed_callers,
           ARRAY(SELECT key FROM claimed) AS claimed_keys
    """

# The holds a batch captures or voids, and those past their expiry on the wallets it locked
# whose `holds_expire_at` has passed. Every writer of a hold locks its wallet first.
_HOLDS = """
    SELECT id, wallet_id, amount_minor, status, captured_minor, expires_at, created_at,
           placed_seq, settled_seq, reference, metadata::text
    FROM holds
    WHERE id = ANY($1::uuid[])
       OR (wallet_id = ANY($2::uuid[]) AND status = 'ACTIVE' AND expires_at <= now())
    """

# The new lower bound of the expiries of the holds that stay ACTIVE, for wallets whose bound
# had passed; on a snapshot taken under the wallets' locks, so it is exact.
_NEXT_EXPIRIES = """
    SELECT w.id, (
        SELECT min(h.expires_at) FROM holds h
        WHERE h.wallet_id = w.id AND h.status = 'ACTIVE' AND h.expires_at > now()
    )
    FROM unnest($1::uuid[]) AS w(id)
    """

# The references a batch's writes would take, and who holds each already. Every writer of an
# operation or a hold locks its wallet first, so under the batch's locks these stay true; two
# transfers between other wallets could still take one transfer reference at once: the unique
# index refuses the second, and its batch runs again.
_REFERENCES = """
    SELECT 'operation', o.wallet_id, o.reference, o.id::text
    FROM operations o JOIN unnest($1::uuid[], $2::text[]) AS r(wallet_id, reference)
      ON o.wallet_id = r.wallet_id AND o.reference = r.reference
    WHERE o.transfer_id IS NULL AND o.hold_id IS NULL AND o.reverses_id IS NULL
    UNION ALL
    SELECT 'hold', h.wallet_id, h.reference, h.id::text
    FROM holds h JOIN unnest($3::uuid[], $4::text[]) AS r(wallet_id, reference)
      ON h.wallet_id = r.wallet_id AND h.reference = r.reference
    UNION ALL
    SELECT 'transfer', NULL, t.reference, t.id::text
    FROM transfers t WHERE t.reference = ANY($5::text[])
    """

# The operations and transfers a batch reverses, with what their reversals took so far; read
# under the locks of their wallets, which every reversal takes.
_ORIGINALS = """
    SELECT o.id::text, o.wallet_id, NULL::uuid, o.operation_type, o.amount_minor,
           COALESCE((SELECT sum(r.amount_minor) FROM operations r WHERE r.reverses_id = o.id), 0),
           o.transfer_id, NULL::bigint, NULL::bigint
    FROM operations o WHERE o.id = ANY($1::bigint[])
    UNION ALL
    SELECT t.id::text, t.from_wallet_id, t.to_wallet_id, 'TRANSFER', t.amount_minor,
           COALESCE((SELECT sum(r.amount_minor) FROM operations r WHERE r.reverses_id = i.id), 0),
           t.id, o.id, i.id
    FROM transfers t
    JOIN operations o ON o.transfer_id = t.id AND o.operation_type = 'TRANSFER_OUT'
    JOIN operations i ON i.transfer_id = t.id AND i.operation_type = 'TRANSFER_IN'
    WHERE t.id = ANY($2::uuid[])
    """

# A new statement, so a new snapshot: it sees the answers committed while the claim waited.
_STORED = """
    SELECT k.caller, k.key, k.fingerprint, k.outcome::text
    FROM idempotency_keys k JOIN unnest($1::bigint[], $2::text[]) AS s(caller, key)
      ON k.caller = s.caller AND k.key = s.key
    """

# A hold placed and settled in one batch is inserted as it ends up (a sibling of the INSERT could
# not see its row); wallets opened by a batch likewise.
_WRITE = """
    WITH opened AS (
        INSERT INTO wallets (id, currency, balance_minor, held_minor, holds_expire_at)
        SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::bigint[],
                             $5::timestamptz[])
    ), updated AS (
        UPDATE wallets w
        SET balance_minor = u.balance, held_minor = u.held, holds_expire_at = u.next_expiry,
            updated_at = now()
        FROM unnest($6::uuid[], $7::bigint[], $8::bigint[], $9::timestamptz[])
             AS u(id, balance, held, next_expiry)
        WHERE w.id = u.id
    ), transferred AS (
        INSERT INTO transfers (id, from_wallet_id, to_wallet_id, amount_minor, reference,
                               metadata)
        SELECT t.id, t.from_id, t.to_id, t.amount, t.reference, t.metadata::jsonb
        FROM unnest($10::uuid[], $11::uuid[], $12::uuid[], $13::bigint[], $45::text[],
                    $46::text[]) AS t(id, from_id, to_id, amount, reference, metadata)
    ), placed AS (
        INSERT INTO holds (id, wallet_id, amount_minor, status, captured_minor, expires_at,
                           placed_seq, settled_seq, reference, metadata)
        SELECT h.id, h.wallet_id, h.amount, h.status, h.captured, h.expires_at, h.placed_seq,
               h.settled_seq, h.reference, h.metadata::jsonb
        FROM unnest($14::uuid[], $15::uuid[], $16::bigint[], $17::text[], $18::bigint[],
                    $19::timestamptz[], $20::bigint[], $21::bigint[], $47::text[], $48::text[])
             AS h(id, wallet_id, amount, status, captured, expires_at, placed_seq, settled_seq,
                  reference, metadata)
    ), settled AS (
        UPDATE holds h
        SET status = s.status, captured_minor = s.captured, settled_seq = s.settled_seq,
            updated_at = now()
        FROM unnest($22::uuid[], $23::text[], $24::bigint[], $25::bigint[])
             AS s(id, status, captured, settled_seq)
        WHERE h.id = s.id
    ), entries AS (
        INSERT INTO operations (id, wallet_id, operation_type, amount_minor, transfer_id, hold_id,
                                reverses_id, balance_after, reference, metadata)
        OVERRIDING SYSTEM VALUE
        SELECT e.id, e.wallet_id, e.operation_type, e.amount, e.transfer_id, e.hold_id,
               e.reverses_id, e.balance_after, e.reference, e.metadata::jsonb
        FROM unnest($26::bigint[], $27::uuid[], $28::text[], $29::bigint[], $30::uuid[],
                    $31::uuid[], $49::bigint[], $50::bigint[], $51::text[], $52::text[])
             AS e(id, wallet_id, operation_type, amount, transfer_id, hold_id, reverses_id,
                  balance_after, reference, metadata)
    ), answered AS (
        UPDATE idempotency_keys k SET outcome = a.outcome::jsonb
        FROM unnest($32::bigint[], $33::text[], $34::text[]) AS a(caller, key, outcome)
        WHERE k.caller = a.caller AND k.key = a.key
    ), released AS (
        DELETE FROM idempotency_keys k
        USING unnest($35::bigint[], $36::text[]) AS r(caller, key)
        WHERE k.caller = r.caller AND k.key = r.key
    ), told AS (
        INSERT INTO events (recorded, position, id, type, wallet_id, other_wallet_id, data,
                            created_at)
        SELECT e.recorded, e.position, e.id, e.type, e.wallet_id, e.other_wallet_id,
               e.data::jsonb, e.created_at
        FROM unnest($37::bigint[], $38::smallint[], $39::uuid[], $40::text[], $41::uuid[],
                    $42::uuid[], $43::text[], $44::timestamptz[])
             AS e(recorded, position, id, type, wallet_id, other_wallet_id, data, created_at)
    )
    SELECT 1
    """


async def lock(
    connection: asyncpg.Connection,
    wallet_ids: Sequence[uuid.UUID],
    operation_ids: int,
    keys: Sequence[tuple[int, str, bytes]],
    ttl: timedelta,
) -> Locked:
    """Lock the wallets, claim each (caller, key, fingerprint), draw `operation_ids` ids."""
    callers, names, fingerprints = _columns(keys, 3)
    row = await connection.fetchrow(
        _LOCK, list(wallet_ids), operation_ids, callers, names, fingerprints, ttl
    )
    wallets = [
        BatchWallet(*columns)
        for columns in zip(
            row["wallet_ids"],
            row["currencies"],
            row["balances"],
            row["helds"],
            row["expiries"],
            strict=True,
        )
    ]
    claimed = set(zip(row["claimed_callers"], row["claimed_keys"], strict=True))
    return Locked(row["now"], list(row["ids"]), wallets, claimed)


async def holds(
    connection: asyncpg.Connection,
    hold_ids: Sequence[uuid.UUID],
    lapse_due: Sequence[uuid.UUID],
) -> list[BatchHold]:
    """The holds `hold_ids`, and those past their expiry on the wallets `lapse_due`."""
    rows = await connection.fetch(_HOLDS, list(hold_ids), list(lapse_due))
    return [BatchHold(*row) for row in rows]


async def references(
    connection: asyncpg.Connection,
    operations: Sequence[tuple[uuid.UUID, str]],
    holds: Sequence[tuple[uuid.UUID, str]],
    transfers: Sequence[str],
) -> dict[tuple[str, uuid.UUID | None, str], str]:
    """Who holds each of these references already: (kind, wallet or None, reference) -> id."""
    rows = await connection.fetch(
        _REFERENCES, *_columns(operations, 2), *_columns(holds, 2), list(transfers)
    )
    return {(row[0], row[1], row[2]): row[3] for row in rows}


async def originals(
    connection: asyncpg.Connection, operation_ids: Sequence[int], transfer_ids: Sequence[uuid.UUID]
) -> list[Original]:
    rows = await connection.fetch(_ORIGINALS, list(operation_ids), list(transfer_ids))
    return [
        Original(
            int(row[0]) if row[3] != "TRANSFER" else uuid.UUID(row[0]),
            *row[1:],
        )
        for row in rows
    ]


async def next_expiries(
    connection: asyncpg.Connection, wallet_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, datetime | None]:
    rows = await connection.fetch(_NEXT_EXPIRIES, list(wallet_ids))
    return {row[0]: row[1] for row in rows}


async def stored_keys(
    connection: asyncpg.Connection, keys: Sequence[tuple[int, str]]
) -> list[StoredKey]:
    """What is stored under keys this transaction did not claim."""
    rows = await connection.fetch(
        _STORED, [caller for caller, _ in keys], [name for _, name in keys]
    )
    return [StoredKey(*row) for row in rows]


async def write(connection: asyncpg.Connection, writes: Writes) -> None:
    try:
        await connection.execute(_WRITE, *_parameters(writes))
    except asyncpg.UniqueViolationError as error:
        if error.constraint_name == "wallets_pkey":
            # A first deposit into the same new wallet committed first in another batch: run
            # this one again, and it will find the wallet and lock it.
            raise StorageConflict("wallet_opened_concurrently") from error
        if error.constraint_name == "transfers_reference":
            # Another batch took the reference first: run again, and the rules refuse it.
            raise StorageConflict("reference_taken_concurrently") from error
        raise


def _parameters(writes: Writes) -> list[list[object]]:
    return [
        *_columns(
            [
                (w.id, w.currency, w.balance_minor, w.held_minor, w.next_expiry)
                for w in writes.opened
            ],
            5,
        ),
        *_columns(
            [(w.id, w.balance_minor, w.held_minor, w.next_expiry) for w in writes.updated], 4
        ),
        *_columns([t[:4] for t in writes.transfers], 4),
        *_columns(
            [
                (
                    h.id,
                    h.wallet_id,
                    h.amount_minor,
                    h.status,
                    h.captured_minor,
                    h.expires_at,
                    h.placed_seq,
                    h.settled_seq,
                )
                for h in writes.placed
            ],
            8,
        ),
        *_columns([(h.id, h.status, h.captured_minor, h.settled_seq) for h in writes.settled], 4),
        *_columns(
            [
                (e.id, e.wallet_id, e.operation_type, e.amount_minor, e.transfer_id, e.hold_id)
                for e in writes.entries
            ],
            6,
        ),
        *_columns(writes.answers, 3),
        *_columns(writes.released, 2),
        *_columns([event_columns(event) for event in writes.events], 8),
        *_columns([t[4:] for t in writes.transfers], 2),
        *_columns([(h.reference, h.metadata) for h in writes.placed], 2),
        *_columns(
            [(e.reverses_id, e.balance_after, e.reference, e.metadata) for e in writes.entries], 4
        ),
    ]


def _columns(rows: Sequence[tuple[object, ...]], width: int) -> list[list[object]]:
    """Rows as `width` parallel lists, the shape `unnest` takes."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]


# Guarded batches (see ledger/engine.py): decided by the rules against the state a worker last
# saw, applied as deltas in one autocommit statement while each wallet lies within the bounds
# the rules computed, so the row locks are held for this one statement.

_STATES = """
    SELECT id, currency, balance_minor, held_minor, holds_expire_at
    FROM wallets WHERE id = ANY($1::uuid[])
    """

# Every wallet of the batch goes through one INSERT ... ON CONFLICT in id order, so the rows are
# locked in the order every writer follows. A wallet that does not exist yet is inserted as the
# rules left it (they decided on a new, empty wallet); one that exists takes the UPDATE path,
# which applies the deltas while it lies within its bounds and its currency is the one decided
# for. If one does not, the statement ends in batch_outside_its_guards() and nothing of it
# lands. Numbers are drawn after the locks, as in a locked batch; a key answered meanwhile ends
# the statement on its unique index.
_GUARDED = """
    WITH batch AS (
        SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::bigint[],
                             $5::timestamptz[], $6::bigint[], $7::bigint[], $8::bigint[],
                             $9::bigint[])
             AS g(id, currency, balance, held, next_expiry, delta_balance, delta_held,
                  available_at_least, balance_at_most)
    ), moved AS (
        INSERT INTO wallets AS w (id, currency, balance_minor, held_minor, holds_expire_at,
                                  created_at, updated_at)
        SELECT id, currency, balance, held, next_expiry, $10, $10 FROM batch ORDER BY id
        ON CONFLICT (id) DO UPDATE
            SET balance_minor = w.balance_minor
                    + (SELECT delta_balance FROM batch WHERE batch.id = w.id),
                held_minor = w.held_minor + (SELECT delta_held FROM batch WHERE batch.id = w.id),
                holds_expire_at = LEAST(w.holds_expire_at, EXCLUDED.holds_expire_at),
                updated_at = $10
            WHERE w.currency = EXCLUDED.currency
              AND w.balance_minor - w.held_minor
                  >= (SELECT available_at_least FROM batch WHERE batch.id = w.id)
              AND w.balance_minor <= (SELECT balance_at_most FROM batch WHERE batch.id = w.id)
              AND (w.holds_expire_at IS NULL OR w.holds_expire_at > $10)
        RETURNING w.id, w.balance_minor, w.xmax = 0 AS inserted
    ), numbers AS (
        SELECT k.ord, nextval('operations_id_seq') AS n
        FROM generate_series(1, $11::int) AS k(ord)
        WHERE (SELECT count(*) FROM moved) >= 0
        ORDER BY k.ord
    ), transferred AS (
        INSERT INTO transfers (id, from_wallet_id, to_wallet_id, amount_minor, created_at)
        SELECT t.id, t.from_id, t.to_id, t.amount, $10
        FROM unnest($12::uuid[], $13::uuid[], $14::uuid[], $15::bigint[])
             AS t(id, from_id, to_id, amount)
        WHERE (SELECT count(*) FROM moved) >= 0
    ), placed AS (
        INSERT INTO holds (id, wallet_id, amount_minor, expires_at, created_at, updated_at,
                           placed_seq)
        SELECT h.id, h.wallet_id, h.amount, h.expires_at, $10, $10, numbers.n
        FROM unnest($16::uuid[], $17::uuid[], $18::bigint[], $19::timestamptz[], $20::int[])
             AS h(id, wallet_id, amount, expires_at, ord)
        JOIN numbers ON numbers.ord = h.ord
    ), landed AS (
        -- Each operation with its number and its wallet's balance right after it: the balance
        -- the statement left, less what the batch's later operations on the wallet moved.
        SELECT e.ord, numbers.n, e.wallet_id, e.operation_type, e.amount, e.transfer_id,
               m.balance_minor + e.after_offset AS balance_after, e.scale
        FROM unnest($21::int[], $22::uuid[], $23::text[], $24::bigint[], $25::uuid[],
                    $41::bigint[], $42::int[])
             AS e(ord, wallet_id, operation_type, amount, transfer_id, after_offset, scale)
        JOIN numbers ON numbers.ord = e.ord
        JOIN moved m ON m.id = e.wallet_id
    ), entries AS (
        INSERT INTO operations (id, wallet_id, operation_type, amount_minor, transfer_id,
                                created_at, balance_after)
        OVERRIDING SYSTEM VALUE
        SELECT n, wallet_id, operation_type, amount, transfer_id, $10, balance_after FROM landed
    ), answered AS (
        INSERT INTO idempotency_keys (caller, key, fingerprint, outcome, created_at, expires_at)
        SELECT a.caller, a.key, a.fingerprint,
               CASE WHEN a.ord IS NULL THEN a.outcome::jsonb
                    ELSE jsonb_set(jsonb_set(a.outcome::jsonb, '{operation,id}', to_jsonb(l.n)),
                                   '{operation,balance_after}',
                                   to_jsonb(minor_to_text(l.balance_after, l.scale)))
               END,
               $10, $10 + $26::interval
        FROM unnest($27::bigint[], $28::text[], $29::bytea[], $30::text[], $31::int[])
             AS a(caller, key, fingerprint, outcome, ord)
        LEFT JOIN landed l ON l.ord = a.ord
    ), told AS (
        INSERT INTO events (recorded, position, id, type, wallet_id, other_wallet_id, data,
                            created_at)
        SELECT decision.n, e.position, e.id, e.type, e.wallet_id, e.other_wallet_id,
               CASE WHEN e.operation_ord IS NULL THEN e.data::jsonb
                    ELSE jsonb_set(jsonb_set(e.data::jsonb, '{id}', to_jsonb(l.n)),
                                   '{balance_after}',
                                   to_jsonb(minor_to_text(l.balance_after, l.scale)))
               END,
               $10
        FROM unnest($33::int[], $34::smallint[], $35::uuid[], $36::text[], $37::uuid[],
                    $38::uuid[], $39::text[], $40::int[])
             AS e(ord, position, id, type, wallet_id, other_wallet_id, data, operation_ord)
        JOIN numbers decision ON decision.ord = e.ord
        LEFT JOIN landed l ON l.ord = e.operation_ord
        WHERE e.type <> 'wallet.created'
           OR e.wallet_id IN (SELECT id FROM moved WHERE inserted)
    )
    SELECT CASE WHEN (SELECT count(*) FROM moved) = $32::int
                THEN ARRAY(SELECT n FROM numbers ORDER BY ord)
                ELSE batch_outside_its_guards()
           END AS numbers,
           ARRAY(SELECT id FROM moved) AS wallet_ids,
           ARRAY(SELECT balance_minor FROM moved) AS balances
    """

OUTSIDE_ITS_GUARDS = "WG001"


class GuardsMissed(Exception):
    """The state was not what a guarded batch was decided for; nothing of it landed."""


@dataclass(frozen=True, slots=True)
class Guard:
    """A wallet's change as deltas, and the bounds within which it was decided; `opened` is
    the row to insert when the wallet does not exist yet (the rules decided on a new one)."""

    wallet_id: uuid.UUID
    currency: str
    delta_balance: int
    delta_held: int
    next_expiry: datetime | None  # the earliest expiry of the holds the batch places
    available_at_least: int
    balance_at_most: int
    opened: BatchWallet | None = None


@dataclass(slots=True)
class GuardedWrites:
    now: datetime
    numbers: int
    guards: list[Guard] = field(default_factory=list)
    transfers: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, int]] = field(default_factory=list)
    # (id, wallet, amount, expires at, number's ordinal)
    placed: list[tuple[uuid.UUID, uuid.UUID, int, datetime, int]] = field(default_factory=list)
    # (number's ordinal, wallet, type, amount, transfer id, balance after it less the wallet's
    # balance after the batch, the currency's minor units)
    entries: list[tuple[int, uuid.UUID, str, int, uuid.UUID | None, int, int]] = field(
        default_factory=list
    )
    # (caller, key, fingerprint, outcome, ordinal of the number to write as its operation id)
    answers: list[tuple[int, str, bytes, str, int | None]] = field(default_factory=list)
    # Each event recorded under its decision's ordinal, with the ordinal of its operation's id.
    events: list[tuple[EventRow, int | None]] = field(default_factory=list)


async def states(
    connection: asyncpg.Connection, wallet_ids: Sequence[uuid.UUID]
) -> list[BatchWallet]:
    rows = await connection.fetch(_STATES, list(wallet_ids))
    return [BatchWallet(*row) for row in rows]


@dataclass(frozen=True, slots=True)
class Landed:
    """What a guarded batch's statement drew and left: its numbers by ordinal, and the balance
    of each wallet it moved."""

    numbers: list[int]
    balances: dict[uuid.UUID, int]


async def write_guarded(
    connection: asyncpg.Connection, writes: GuardedWrites, ttl: timedelta
) -> Landed:
    """What landed; raise GuardsMissed when nothing did."""
    entries = _columns(writes.entries, 7)
    try:
        row = await connection.fetchrow(
            _GUARDED,
            *_columns([_guard_row(guard) for guard in writes.guards], 9),
            writes.now,
            writes.numbers,
            *_columns(writes.transfers, 4),
            *_columns(writes.placed, 5),
            *entries[:5],
            ttl,
            *_columns(writes.answers, 5),
            len(writes.guards),
            *_columns([_guarded_event(event, ordinal) for event, ordinal in writes.events], 8),
            *entries[5:],
        )
    except asyncpg.UniqueViolationError as error:
        raise GuardsMissed(error.constraint_name) from error
    except asyncpg.PostgresError as error:
        if error.sqlstate == OUTSIDE_ITS_GUARDS:
            raise GuardsMissed("outside its guards") from error
        raise
    balances = dict(zip(row["wallet_ids"], row["balances"], strict=True))
    return Landed(list(row["numbers"]), balances)


def _guarded_event(event: EventRow, operation_ordinal: int | None) -> tuple[object, ...]:
    """The event's columns, with the ordinal of its operation's number in place of its time
    (the statement stamps every row with the batch's)."""
    return (*event_columns(event)[:7], operation_ordinal)


def _guard_row(guard: Guard) -> tuple[object, ...]:
    # A wallet that exists takes the UPDATE path: its proposed row only has to be valid.
    balance, held = (
        (0, 0)
        if guard.opened is None
        else (
            guard.opened.balance_minor,
            guard.opened.held_minor,
        )
    )
    return (
        guard.wallet_id,
        guard.currency,
        balance,
        held,
        guard.next_expiry,
        guard.delta_balance,
        guard.delta_held,
        guard.available_at_least,
        guard.balance_at_most,
    )
