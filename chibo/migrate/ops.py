"""Operations for revisions that replay changes made by hand before migrations existed.

Those changes were published as SQL to run, so a database may have some of them and not
others: each helper does its change only where it is missing. `follow_up` tells whoever
migrates what to do afterwards (printed by `chibo migrate`, logged on start).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

NOTICES = "notices"


def has_table(table: str) -> bool:
    return sa.inspect(op.get_bind()).has_table(table)


def columns(table: str) -> dict[str, sa.types.TypeEngine]:
    """The table's columns as the database has them, by name."""
    return {column["name"]: column["type"]
            for column in sa.inspect(op.get_bind()).get_columns(table)}


def has_index(table: str, name: str) -> bool:
    return any(index["name"] == name for index in sa.inspect(op.get_bind()).get_indexes(table))


def has_unique(table: str, name: str) -> bool:
    return any(unique["name"] == name
               for unique in sa.inspect(op.get_bind()).get_unique_constraints(table))


def add_columns_if_missing(table: str, *new: sa.Column) -> list[str]:
    """Add each column the table lacks; returns the names added."""
    present = columns(table)
    missing = [column for column in new if column.name not in present]
    if missing:
        with op.batch_alter_table(table) as batch:
            for column in missing:
                batch.add_column(column)
    return [column.name for column in missing]


def create_index_if_missing(name: str, table: str, names: Sequence[str], **kw: Any) -> None:
    if not has_index(table, name):
        op.create_index(name, table, list(names), **kw)


def widen_varchar(table: str, column: str, length: int | None) -> None:
    """Make a VARCHAR column at least `length` long (None: TEXT), on PostgreSQL only:
    SQLite does not enforce lengths."""
    if op.get_bind().dialect.name != "postgresql":
        return
    current = columns(table)[column]
    wide_enough = isinstance(current, sa.Text) or (
        length is not None and isinstance(current, sa.String)
        and (current.length is None or current.length >= length))
    if not wide_enough:
        op.alter_column(table, column, existing_type=current,
                        type_=sa.Text() if length is None else sa.String(length))


def follow_up(text: str) -> None:
    """Something to do once the upgrade is done (e.g. rebuild derived tables)."""
    config = op.get_context().config
    if config is None:
        raise RuntimeError("follow_up() runs inside an upgrade that chibo.migrate started")
    config.attributes.setdefault(NOTICES, []).append(text)
