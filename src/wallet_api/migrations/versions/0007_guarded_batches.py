"""A guarded batch refuses to land on a state outside its guards.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29

The engine's guarded batches (docs/design.md) apply a batch decided by the rules as deltas, in
one statement, only while every wallet is within the bounds the rules computed. When one is
not, the statement must change nothing: it calls this function, which ends it with an error
the engine recognises (SQLSTATE WG001), and the batch goes the locked way.
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION batch_outside_its_guards() RETURNS bigint[] LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'a wallet of the batch is outside the bounds it was decided for'
                USING ERRCODE = 'WG001';
        END
        $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION batch_outside_its_guards()")
