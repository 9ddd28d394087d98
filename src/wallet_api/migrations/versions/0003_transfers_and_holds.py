"""Transfers between wallets and holds that reserve funds until captured, voided or expired.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # held_minor is the sum of the wallet's ACTIVE holds; holds_expire_at is never later than the
    # earliest expiry among them, so a statement that sees it in the future knows that no hold
    # of the wallet has lapsed, from the wallet row alone.
    op.execute(
        """
        ALTER TABLE wallets
            ADD COLUMN held_minor bigint NOT NULL DEFAULT 0,
            ADD COLUMN holds_expire_at timestamptz,
            ADD CONSTRAINT wallets_held_not_negative CHECK (held_minor >= 0),
            ADD CONSTRAINT wallets_held_within_balance CHECK (held_minor <= balance_minor)
        """
    )
    op.execute(
        """
        CREATE TABLE transfers (
            id             uuid PRIMARY KEY,
            from_wallet_id uuid NOT NULL REFERENCES wallets (id),
            to_wallet_id   uuid NOT NULL REFERENCES wallets (id),
            amount_minor   bigint NOT NULL,
            created_at     timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT transfers_amount_positive CHECK (amount_minor > 0),
            CONSTRAINT transfers_between_two_wallets CHECK (from_wallet_id <> to_wallet_id)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE holds (
            id             uuid PRIMARY KEY,
            wallet_id      uuid NOT NULL REFERENCES wallets (id),
            amount_minor   bigint NOT NULL,
            status         text NOT NULL DEFAULT 'ACTIVE',
            captured_minor bigint,
            expires_at     timestamptz NOT NULL,
            created_at     timestamptz NOT NULL DEFAULT now(),
            updated_at     timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT holds_amount_positive CHECK (amount_minor > 0),
            CONSTRAINT holds_status_known
                CHECK (status IN ('ACTIVE', 'CAPTURED', 'VOIDED', 'EXPIRED')),
            CONSTRAINT holds_capture_within_amount CHECK (
                (status = 'CAPTURED') = (captured_minor IS NOT NULL)
                AND captured_minor BETWEEN 1 AND amount_minor
            )
        )
        """
    )
    op.execute("CREATE INDEX holds_active_by_wallet ON holds (wallet_id) WHERE status = 'ACTIVE'")
    op.execute("CREATE INDEX holds_active_by_expiry ON holds (expires_at) WHERE status = 'ACTIVE'")
    op.execute(
        """
        ALTER TABLE operations
            ADD COLUMN transfer_id uuid REFERENCES transfers (id),
            ADD COLUMN hold_id uuid REFERENCES holds (id),
            DROP CONSTRAINT operations_type_known,
            ADD CONSTRAINT operations_type_known CHECK (operation_type IN (
                'DEPOSIT', 'WITHDRAW', 'TRANSFER_IN', 'TRANSFER_OUT', 'HOLD_CAPTURE'
            ))
        """
    )


def downgrade() -> None:
    op.execute(
        """
        ALTER TABLE operations
            DROP COLUMN transfer_id,
            DROP COLUMN hold_id,
            DROP CONSTRAINT operations_type_known,
            ADD CONSTRAINT operations_type_known CHECK (operation_type IN ('DEPOSIT', 'WITHDRAW'))
        """
    )
    op.execute("DROP TABLE holds")
    op.execute("DROP TABLE transfers")
    op.execute(
        """
        ALTER TABLE wallets
            DROP COLUMN held_minor,
            DROP COLUMN holds_expire_at
        """
    )
