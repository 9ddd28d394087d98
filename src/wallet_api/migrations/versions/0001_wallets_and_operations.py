"""Wallets and their append-only operations, amounts in integer minor units.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE wallets (
            id            uuid PRIMARY KEY,
            balance_minor bigint NOT NULL DEFAULT 0,
            created_at    timestamptz NOT NULL DEFAULT now(),
            updated_at    timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT wallets_balance_not_negative CHECK (balance_minor >= 0),
            CONSTRAINT wallets_balance_within_limit CHECK (balance_minor <= 100000000000000000)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE operations (
            id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            wallet_id      uuid NOT NULL REFERENCES wallets (id),
            operation_type text NOT NULL,
            amount_minor   bigint NOT NULL,
            created_at     timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT operations_type_known CHECK (operation_type IN ('DEPOSIT', 'WITHDRAW')),
            CONSTRAINT operations_amount_positive CHECK (amount_minor > 0)
        )
        """
    )
    op.execute("CREATE INDEX operations_wallet_newest_first ON operations (wallet_id, id DESC)")
    op.execute(
        """
        CREATE FUNCTION operations_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'operations are append-only: % is not allowed', TG_OP;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER operations_append_only BEFORE UPDATE OR DELETE ON operations
        FOR EACH ROW EXECUTE FUNCTION operations_are_append_only()
        """
    )
    op.execute("COMMENT ON COLUMN wallets.balance_minor IS 'balance in minor units (cents)'")
    op.execute("COMMENT ON COLUMN operations.amount_minor IS 'amount in minor units (cents)'")


def downgrade() -> None:
    op.execute("DROP TABLE operations")
    op.execute("DROP FUNCTION operations_are_append_only()")
    op.execute("DROP TABLE wallets")
