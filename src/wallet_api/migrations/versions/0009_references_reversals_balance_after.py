"""References and metadata on writes, reversals, and each operation's balance after it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29

- `reference` (unique per wallet for deposits and withdrawals and for holds, unique among
  transfers) and `metadata` on operations, transfers and holds. Transfer legs carry their
  transfer's, so a wallet's history finds them by it too.
- `reverses_id`: a REVERSAL operation names the operation it reverses (its sign is the opposite
  of that one's); `transfer_id` on a transfer's reversal names the transfer.
- `balance_after`: the wallet's balance right after the operation, so a statement's running
  balance and the balance as of any instant are one index lookup, whatever the history's length.
  Existing operations get theirs computed here, in id order (the order the ledger wrote them).
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE operations DISABLE TRIGGER operations_append_only")
    op.execute(
        """
        ALTER TABLE operations
            ADD COLUMN reference text,
            ADD COLUMN metadata jsonb,
            ADD COLUMN reverses_id bigint,
            ADD COLUMN balance_after bigint,
            DROP CONSTRAINT operations_type_known,
            ADD CONSTRAINT operations_type_known CHECK (operation_type IN (
                'DEPOSIT', 'WITHDRAW', 'TRANSFER_IN', 'TRANSFER_OUT', 'HOLD_CAPTURE', 'REVERSAL'
            )),
            ADD CONSTRAINT operations_reversal_names_its_original
                CHECK ((operation_type = 'REVERSAL') = (reverses_id IS NOT NULL))
        """
    )
    op.execute(
        """
        UPDATE operations o SET balance_after = running.balance
        FROM (
            SELECT id, sum(CASE WHEN operation_type IN ('DEPOSIT', 'TRANSFER_IN')
                                THEN amount_minor ELSE -amount_minor END)
                       OVER (PARTITION BY wallet_id ORDER BY id) AS balance
            FROM operations
        ) AS running
        WHERE o.id = running.id
        """
    )
    op.execute("ALTER TABLE operations ALTER COLUMN balance_after SET NOT NULL")
    op.execute("ALTER TABLE operations ENABLE TRIGGER operations_append_only")
    op.execute(
        "CREATE UNIQUE INDEX operations_reference_per_wallet ON operations (wallet_id, reference)"
        " WHERE reference IS NOT NULL AND transfer_id IS NULL AND hold_id IS NULL"
        " AND reverses_id IS NULL"
    )
    op.execute(
        "CREATE INDEX operations_by_reference ON operations (wallet_id, reference, id)"
        " WHERE reference IS NOT NULL"
    )
    op.execute("CREATE INDEX operations_by_time ON operations (wallet_id, created_at, id)")
    op.execute(
        "CREATE INDEX operations_reversals ON operations (reverses_id)"
        " WHERE reverses_id IS NOT NULL"
    )
    for table in ("transfers", "holds"):
        op.execute(f"ALTER TABLE {table} ADD COLUMN reference text, ADD COLUMN metadata jsonb")
    op.execute(
        "CREATE UNIQUE INDEX transfers_reference ON transfers (reference)"
        " WHERE reference IS NOT NULL"
    )
    op.execute(
        "CREATE UNIQUE INDEX holds_reference_per_wallet ON holds (wallet_id, reference)"
        " WHERE reference IS NOT NULL"
    )
    op.execute("CREATE INDEX transfers_from_newest ON transfers (from_wallet_id, created_at, id)")
    op.execute("CREATE INDEX transfers_to_newest ON transfers (to_wallet_id, created_at, id)")
    op.execute("CREATE INDEX holds_by_wallet ON holds (wallet_id, created_at, id)")
    # How ledger/amounts.py writes minor units as a decimal (12345, 2 -> '123.45'), for the one
    # statement that learns a balance only as it runs (a guarded batch's balance after); a test
    # checks the two agree.
    op.execute(
        """
        CREATE FUNCTION minor_to_text(minor bigint, digits integer) RETURNS text
        LANGUAGE sql IMMUTABLE STRICT
        RETURN round(minor::numeric / power(10::numeric, digits), digits)::text
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION minor_to_text(bigint, integer)")
    for index in (
        "holds_by_wallet",
        "transfers_to_newest",
        "transfers_from_newest",
        "holds_reference_per_wallet",
        "transfers_reference",
        "operations_reversals",
        "operations_by_time",
        "operations_by_reference",
        "operations_reference_per_wallet",
    ):
        op.execute(f"DROP INDEX {index}")
    for table in ("transfers", "holds"):
        op.execute(f"ALTER TABLE {table} DROP COLUMN reference, DROP COLUMN metadata")
    op.execute("ALTER TABLE operations DISABLE TRIGGER operations_append_only")
    op.execute("DELETE FROM operations WHERE operation_type = 'REVERSAL'")
    op.execute("ALTER TABLE operations ENABLE TRIGGER operations_append_only")
    op.execute(
        """
        ALTER TABLE operations
            DROP CONSTRAINT operations_reversal_names_its_original,
            DROP CONSTRAINT operations_type_known,
            ADD CONSTRAINT operations_type_known CHECK (operation_type IN (
                'DEPOSIT', 'WITHDRAW', 'TRANSFER_IN', 'TRANSFER_OUT', 'HOLD_CAPTURE'
            )),
            DROP COLUMN reference,
            DROP COLUMN metadata,
            DROP COLUMN reverses_id,
            DROP COLUMN balance_after
        """
    )
