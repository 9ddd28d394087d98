"""API keys: a name, scopes, an optional expiry and revocation; the key itself only as a hash.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE api_keys (
            id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name       text NOT NULL,
            key_hash   bytea NOT NULL,
            scopes     text[] NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz,
            revoked_at timestamptz,
            CONSTRAINT api_keys_hash_unique UNIQUE (key_hash),
            CONSTRAINT api_keys_hash_is_sha256 CHECK (octet_length(key_hash) = 32),
            CONSTRAINT api_keys_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
            CONSTRAINT api_keys_scopes_known CHECK (
                cardinality(scopes) > 0
                AND scopes <@ ARRAY['wallets:read', 'wallets:write', 'admin']::text[]
            )
        )
        """
    )
    op.execute(
        "COMMENT ON COLUMN api_keys.key_hash IS 'sha256 of the key; the key is never stored'"
    )


def downgrade() -> None:
    op.execute("DROP TABLE api_keys")
