"""the client addresses each user signed in from, so an account's lock spares its owner

Revision ID: 0008
Revises: 0007

Ten wrong passwords for an account lock it, but not at the addresses its owner signed
in from in the last 30 days: an attacker elsewhere cannot lock the owner out. Existing
users start with no known address; their next successful sign-in records one.
Create Date: 2026-12-07 17:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cloudos.store.models

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "known_addresses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("signed_in_at", cloudos.store.models.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_known_addresses_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_known_addresses")),
        sa.UniqueConstraint("user_id", "address", name=op.f("uq_known_addresses_user_id")),
    )
    with op.batch_alter_table("known_addresses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_known_addresses_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("known_addresses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_known_addresses_user_id"))
    op.drop_table("known_addresses")
