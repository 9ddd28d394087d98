"""Wallet currencies (fixed at creation) and idempotency keys stored with each money movement.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE wallets
            ADD COLUMN currency text NOT NULL DEFAULT 'USD'
            CONSTRAINT wallets_currency_iso_code CHECK (currency ~ '^[A-Z]{3}$')
        """
    )
    # 1e15 units is 1e15 * 10^decimals minor units: up to 1e18 for a 3-decimal currency, still a
    # bigint. The service enforces each currency's own limit; the database the widest one.
    op.execute("ALTER TABLE wallets DROP CONSTRAINT wallets_balance_within_limit")
    op.execute(
        "ALTER TABLE wallets ADD CONSTRAINT wallets_balance_within_limit"
        " CHECK (balance_minor <= 1000000000000000000)"
    )
    op.execute("COMMENT ON COLUMN wallets.balance_minor IS 'balance in minor units of currency'")
    op.execute("COMMENT ON COLUMN operations.amount_minor IS 'amount in minor units of currency'")
    op.execute(
        """
        CREATE TABLE idempotency_keys (
            key           text PRIMARY KEY,
            fingerprint   bytea NOT NULL,
            status_code   smallint NOT NULL,
            response_body bytea NOT NULL,
            created_at    timestamptz NOT NULL DEFAULT now(),
            expires_at    timestamptz NOT NULL
        )
        """
    )
    op.execute("CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at)")


def downgrade() -> None:
    op.execute("DROP TABLE idempotency_keys")
    op.execute("ALTER TABLE wallets DROP CONSTRAINT wallets_balance_within_limit")
    op.execute(
        "ALTER TABLE wallets ADD CONSTRAINT wallets_balance_within_limit"
        " CHECK (balance_minor <= 100000000000000000)"
    )
    op.execute("ALTER TABLE wallets DROP COLUMN currency")
