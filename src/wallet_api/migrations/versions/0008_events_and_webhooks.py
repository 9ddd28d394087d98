"""Events: a transactional outbox put in commit order, where each destination has got to, and
webhook endpoints with their deliveries.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29

An event row is written by the transaction that makes the change, with no `sequence`: a number
drawn there would follow the order transactions began in, not the order they committed in, and a
poller could pass one that commits late. One sequencer at a time (events/relay.py) numbers the
committed rows afterwards; the feed shows numbered rows only. `recorded` is the number of the
engine's decision that wrote the event (drawn under the wallets' locks, so it follows each
wallet's order; POST /wallets draws one from the same sequence) and `position` orders the events
of one decision.
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE events (
            recorded        bigint NOT NULL,
            position        smallint NOT NULL,
            id              uuid NOT NULL,
            sequence        bigint,
            type            text NOT NULL,
            wallet_id       uuid NOT NULL,
            other_wallet_id uuid,
            data            jsonb NOT NULL,
            created_at      timestamptz NOT NULL,
            PRIMARY KEY (recorded, position)
        )
        """
    )
    op.execute("CREATE UNIQUE INDEX events_by_sequence ON events (sequence)")
    op.execute(
        "CREATE INDEX events_to_sequence ON events (recorded, position) WHERE sequence IS NULL"
    )
    op.execute(
        "CREATE INDEX events_by_wallet ON events (wallet_id, sequence) WHERE sequence IS NOT NULL"
    )
    op.execute(
        "CREATE INDEX events_by_other_wallet ON events (other_wallet_id, sequence) "
        "WHERE sequence IS NOT NULL AND other_wallet_id IS NOT NULL"
    )
    op.execute(
        """
        CREATE TABLE event_destinations (
            name       text PRIMARY KEY,
            delivered  bigint NOT NULL DEFAULT 0,
            updated_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        """
        CREATE TABLE webhook_endpoints (
            id            uuid PRIMARY KEY,
            url           text NOT NULL,
            event_types   text[] NOT NULL,
            secret        text NOT NULL,
            status        text NOT NULL DEFAULT 'active'
                          CHECK (status IN ('active', 'failing')),
            delivered     bigint NOT NULL,
            failing_since timestamptz,
            next_attempt_at timestamptz,
            attempts      integer NOT NULL DEFAULT 0,
            created_at    timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        """
        CREATE TABLE webhook_deliveries (
            id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            endpoint_id  uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
            event_id     uuid NOT NULL,
            sequence     bigint NOT NULL,
            attempt      integer NOT NULL,
            attempted_at timestamptz NOT NULL,
            status_code  integer,
            latency_ms   integer NOT NULL,
            error        text,
            succeeded    boolean NOT NULL
        )
        """
    )
    op.execute(
        "CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, id)"
    )
    op.execute("ALTER TABLE api_keys DROP CONSTRAINT api_keys_scopes_known")
    op.execute(
        """
        ALTER TABLE api_keys ADD CONSTRAINT api_keys_scopes_known CHECK (
            cardinality(scopes) > 0
            AND scopes <@ ARRAY['wallets:read', 'wallets:write', 'events:read', 'admin']::text[]
        )
        """
    )


def downgrade() -> None:
    op.execute("ALTER TABLE api_keys DROP CONSTRAINT api_keys_scopes_known")
    op.execute("DELETE FROM api_keys WHERE 'events:read' = ANY(scopes)")
    op.execute(
        """
        ALTER TABLE api_keys ADD CONSTRAINT api_keys_scopes_known CHECK (
            cardinality(scopes) > 0
            AND scopes <@ ARRAY['wallets:read', 'wallets:write', 'admin']::text[]
        )
        """
    )
    op.execute("DROP TABLE webhook_deliveries")
    op.execute("DROP TABLE webhook_endpoints")
    op.execute("DROP TABLE event_destinations")
    op.execute("DROP TABLE events")
