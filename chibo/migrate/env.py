"""Alembic's environment for every chibo database. `chibo.migrate` runs it with the
connection (already inside the migration's locked transaction) and the track handed over
in `config.attributes`; there is no alembic.ini and no offline (--sql) mode."""

from __future__ import annotations

from alembic import context

from chibo.migrate.tracks import Track

config = context.config
track: Track = config.attributes["track"]

context.configure(
    connection=config.attributes["connection"],
    target_metadata=list(track.metadatas),
    version_table=track.version_table,
    include_name=track.includes,
    # SQLite alters a table by copying it: autogenerate writes batch operations.
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
