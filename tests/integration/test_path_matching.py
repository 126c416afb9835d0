"""Which cells are counted under a unit: their encoded path passes through it, matched
whole on SQLite and PostgreSQL alike. An id with LIKE's wildcards in it (`xa_1`) does
not take in its look-alikes (`xa-1`), nor a prefix (`xa-1`) the ids it starts
(`xa-10`); a non-ASCII id, which JSON writes as \\uXXXX, still matches."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, MetaData, String, Table, Text, insert, select

from chibo.db import create_schema, make_engine
from services.reporting import paths

metadata = MetaData()
cells = Table("cells", metadata, Column("cell_id", String(50), primary_key=True),
              Column("path", Text, nullable=False))

CELLS = {
    "cb-1": ["p", "xa-1", "cb-1"],
    "cb-2": ["p", "xa_1", "cb-2"],
    "cb-3": ["p", "xa-10", "cb-3"],
    "cb-4": ["p", "xã-1", "cb-4"],
    "cb-5": ["p", "xa%1", "cb-5"],
}


@pytest.mark.parametrize(("unit_id", "expected"), [
    ("xa-1", ["cb-1"]), ("xa_1", ["cb-2"]), ("xa-10", ["cb-3"]), ("xã-1", ["cb-4"]),
    ("xa%1", ["cb-5"]), ("p", ["cb-1", "cb-2", "cb-3", "cb-4", "cb-5"]), ("xa", []),
])
def test_a_path_passes_through_a_unit_only_when_it_names_it_whole(any_db_url, unit_id,
                                                                  expected):
    engine = make_engine(any_db_url)
    try:
        create_schema(engine, metadata)
        with engine.begin() as connection:
            connection.execute(insert(cells), [{"cell_id": cell, "path": paths.encode(path)}
                                               for cell, path in CELLS.items()])
            found = connection.execute(select(cells.c.cell_id)
                                       .where(paths.passes_through(cells.c.path, unit_id))
                                       .order_by(cells.c.cell_id)).scalars().all()
    finally:
        engine.dispose()
    assert found == expected
