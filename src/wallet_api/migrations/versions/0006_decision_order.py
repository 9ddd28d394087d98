"""The order of decisions on holds, in the number space of operation ids.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29

An engine batch draws its numbers from the operations' sequence after it has locked its
wallets: one per command, one per operation. An operation's id, and a hold's placed_seq and
settled_seq, therefore follow the order in which the ledger decided on each wallet, and the
whole ledger can be replayed through the rules in that order (tests/test_differential.py).
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE holds
            ADD COLUMN placed_seq bigint,
            ADD COLUMN settled_seq bigint
        """
    )
    op.execute(
        "COMMENT ON COLUMN holds.placed_seq IS 'number of the decision that placed the hold'"
    )
    op.execute(
        "COMMENT ON COLUMN holds.settled_seq IS "
        "'number of the decision that captured, voided or lapsed it'"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE holds DROP COLUMN placed_seq, DROP COLUMN settled_seq")
