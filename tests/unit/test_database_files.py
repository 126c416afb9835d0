"""Embedded mode's SQLite files hold personal data: readable by their owner alone."""

import os
import stat

from sqlalchemy import text

from chibo import settings
from chibo.db import make_engine


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def write_something(engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS people (name TEXT)"))
        conn.execute(text("INSERT INTO people VALUES ('Nguyễn Văn An')"))


def test_a_new_database_and_its_wal_files_are_0600_in_a_0700_folder(tmp_path):
    old_umask = os.umask(0o022)  # the usual one, which makes files 0644
    try:
        folder = tmp_path / "var" / "chibo"
        engine = make_engine(f"sqlite:///{folder}/members.db")
        connection = engine.connect()  # held open, so the -wal and -shm files stay
        try:
            write_something(engine)
            assert mode(folder / "members.db") == 0o600
            assert (folder / "members.db-wal").exists()
            assert mode(folder / "members.db-wal") == 0o600
            assert mode(folder / "members.db-shm") == 0o600
            assert mode(folder) == 0o700
            with engine.connect() as conn:
                assert conn.execute(text("SELECT name FROM people")).scalar() == "Nguyễn Văn An"
        finally:
            connection.close()
            engine.dispose()
    finally:
        os.umask(old_umask)


def test_an_existing_world_readable_database_is_made_0600(tmp_path):
    path = tmp_path / "meetings.db"
    engine = make_engine(f"sqlite:///{path}")
    write_something(engine)
    engine.dispose()
    os.chmod(path, 0o644)
    engine = make_engine(f"sqlite:///{path}")
    try:
        assert mode(path) == 0o600
        write_something(engine)
        assert mode(path) == 0o600
    finally:
        engine.dispose()


def test_an_existing_folder_keeps_its_mode(tmp_path):
    """Only a folder chibo makes is set to 0700: a database may live in a shared one."""
    os.chmod(tmp_path, 0o755)
    engine = make_engine(f"sqlite:///{tmp_path}/reporting.db")
    write_something(engine)
    engine.dispose()
    assert mode(tmp_path) == 0o755
    assert mode(tmp_path / "reporting.db") == 0o600


def test_ensure_databases_makes_the_sqlite_folder_0700(tmp_path):
    folder = tmp_path / "data" / "chibo"
    settings.ensure_databases({"DATABASES": {"members": f"sqlite:///{folder}/members.db"}})
    assert mode(folder) == 0o700


def test_in_memory_databases_are_left_alone():
    engine = make_engine("sqlite://")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1
    engine.dispose()
