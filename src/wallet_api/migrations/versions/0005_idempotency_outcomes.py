"""Idempotency keys scoped to their caller, storing the ledger's outcome instead of HTTP bytes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29

The stored answers of the old shape were HTTP bodies; the new shape keeps what the ledger
decided and lets the HTTP layer render it. Keys answered before the upgrade are not carried
over: upgrade with no keyed write in flight, or accept that a retry of such a write within its
24 hours moves money again.
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP TABLE idempotency_keys")
    # caller: the id of the API key that sent the request, 0 when auth is disabled (API key ids
    # start at 1). outcome is NULL only inside the transaction that claimed the key.
    op.execute(
        """
        CREATE TABLE idempotency_keys (
            caller      bigint NOT NULL,
            key         text NOT NULL,
            fingerprint bytea NOT NULL,
            outcome     jsonb,
            created_at  timestamptz NOT NULL DEFAULT now(),
            expires_at  timestamptz NOT NULL,
            PRIMARY KEY (caller, key),
            CONSTRAINT idempotency_keys_caller_known CHECK (caller >= 0),
            CONSTRAINT idempotency_keys_fingerprint_is_sha256 CHECK (octet_length(fingerprint) = 32)
        )
        """
    )
    op.execute("CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at)")


def downgrade() -> None:
    op.execute("DROP TABLE idempotency_keys")
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
