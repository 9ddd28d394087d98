"""Finding a reference in every wallet, and the outcome of each `wallet-api verify`.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30

- `operations_with_reference` and `holds_with_reference`: `GET /api/v1/search?reference=`
  looks a reference up across wallets, newest first; the indexes of 0009 lead with the wallet.
  Transfers have theirs already (`transfers_reference`, unique).
- `verify_runs`: what each `wallet-api verify` found, so that the service can show the last one.
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX operations_with_reference ON operations (reference, created_at, id)"
        " WHERE reference IS NOT NULL"
    )
    op.execute(
        "CREATE INDEX holds_with_reference ON holds (reference, created_at, id)"
        " WHERE reference IS NOT NULL"
    )
    op.execute(
        """
        CREATE TABLE verify_runs (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            started_at timestamptz NOT NULL,
            finished_at timestamptz NOT NULL,
            wallets bigint NOT NULL CHECK (wallets >= 0),
            operations bigint NOT NULL CHECK (operations >= 0),
            problems integer NOT NULL CHECK (problems >= 0),
            first_problems jsonb NOT NULL DEFAULT '[]'
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE verify_runs")
    op.execute("DROP INDEX holds_with_reference")
    op.execute("DROP INDEX operations_with_reference")
