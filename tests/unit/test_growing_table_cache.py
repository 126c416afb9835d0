"""A value derived from an append-only table is built again only once the table grew."""

from sqlalchemy import BigInteger, Column, MetaData, Table, insert

from chibo.db import GrowingTableCache, make_engine, session_factory

metadata = MetaData()
rows = Table("rows", metadata, Column("position", BigInteger, primary_key=True))


def test_the_value_is_rebuilt_only_after_a_row_is_added(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/cache.db")
    metadata.create_all(engine)
    cache: GrowingTableCache[int] = GrowingTableCache(rows.c.position)
    builds: list[int] = []

    def build(session) -> int:
        builds.append(1)
        return len(session.execute(rows.select()).all())

    factory = session_factory(engine)
    with factory() as session:
        assert cache.get(session, build) == 0 and cache.get(session, build) == 0
    assert len(builds) == 1
    with engine.begin() as conn:
        conn.execute(insert(rows), [{"position": 1}, {"position": 2}])
    with factory() as session:
        assert cache.get(session, build) == 2 and cache.get(session, build) == 2
    assert len(builds) == 2
    engine.dispose()
