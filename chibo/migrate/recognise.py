"""Which revision a database made without Alembic is at, from the tables and columns it has.

Each revision names in `schema_marks` the tables ("table") and columns ("table.column")
it adds; the first revision's marks are every table it creates. The newest revision
whose marks are all present is the one to stamp. A revision without marks cannot be told
apart from the one before it, so it is run again, which its upgrade must allow. A
database whose tables do not even have the first revision's marks was not made by any
version of chibo that migrations know, and is refused untouched.
"""

from __future__ import annotations

from alembic.script import Script, ScriptDirectory
from sqlalchemy import Connection, inspect

from chibo.db import SchemaOutdated


def marks_of(script: Script) -> tuple[str, ...]:
    return tuple(getattr(script.module, "schema_marks", ()))


def recognise(connection: Connection, scripts: ScriptDirectory, track: str) -> str:
    """The revision id the schema behind `connection` has reached."""
    inspector = inspect(connection)
    tables = set(inspector.get_table_names())
    columns: dict[str, set[str]] = {}

    def present(mark: str) -> bool:
        table, _, column = mark.partition(".")
        if table not in tables:
            return False
        if not column:
            return True
        if table not in columns:
            columns[table] = {c["name"] for c in inspector.get_columns(table)}
        return column in columns[table]

    first: Script | None = None
    for script in scripts.walk_revisions():  # newest first
        marks = marks_of(script)
        if marks and all(present(mark) for mark in marks):
            return script.revision
        first = script
    if first is None:
        raise LookupError(f"no revisions in {scripts.versions}")
    missing = [mark for mark in marks_of(first) if not present(mark)]
    where = connection.engine.url.render_as_string(hide_password=True)
    raise SchemaOutdated(
        f"Cơ sở dữ liệu {where} có một phần các bảng của {track} nhưng thiếu (has some of "
        f"{track}'s tables but lacks) {', '.join(missing)}: không phiên bản nào của chibo "
        "tạo ra nó (no version of chibo made it). Khôi phục từ bản sao lưu, hoặc với dữ liệu "
        "mẫu, xóa thư mục var/chibo/ (restore it from a backup, or, for the demo's sample "
        "data, delete var/chibo/; see docs/operations.md).")
