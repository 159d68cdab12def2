"""the host ports each space's apps may publish

Revision ID: 0007
Revises: 0006

Publishing a host port exposes an app on every node, around the router and its TLS:
a cluster admin now allows a range per space ("FROM-TO"); none by default. Spaces
that exist get none, so an app of theirs that publishes a port is refused at its next
change until an admin allows a range (running apps are left as they are).
Create Date: 2026-12-07 13:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("spaces", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ports", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("spaces", schema=None) as batch_op:
        batch_op.drop_column("ports")
