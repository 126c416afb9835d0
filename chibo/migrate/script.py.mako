"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Created: ${create_date}
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}
revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}

#: Tables ("table") and columns ("table.column") this revision adds: a database made
#: without Alembic that has them all is recognised as being at this revision. Leave it
#: empty only if the upgrade is safe to run on a schema that has the change already.
schema_marks: tuple[str, ...] = ()


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}
