"""what each revision's stack asks for, stored with it

Revision ID: 0006
Revises: 0005

A space's settings page and every quota check sum what the space's apps ask for;
counting it from each app's stack meant building every stack on the first visit
after a start (seconds with a thousand apps). Older revisions get it on first need.
Create Date: 2026-12-03 15:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("app_revisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("usage", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("app_revisions", schema=None) as batch_op:
        batch_op.drop_column("usage")
