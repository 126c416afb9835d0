"""Writing a track's next revision with Alembic's autogenerate: the difference between
what the code declares and what the track's revisions make, found against a scratch
SQLite database that the revisions alone brought to head."""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory

from chibo.db import make_engine
from chibo.migrate.run import ALEMBIC_IN_USE, upgrade
from chibo.migrate.tracks import Track, alembic_config


def new_revision(track: Track, message: str) -> Path:
    """Write the next revision of `track` into its scripts folder; returns its path.
    Read it before committing: autogenerate sees tables, columns, indexes and types, not
    renames or data to move, and the revision's `schema_marks` are the author's to fill."""
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{folder}/scratch.db")
        try:
            with engine.begin() as connection:
                upgrade(connection, track)
                config = alembic_config(track, connection=connection)
                if importlib.util.find_spec("ruff") is not None:
                    # Written in the project's style (ruff format, its line length).
                    for key, value in (("hooks", "ruff"), ("ruff.type", "module"),
                                       ("ruff.module", "ruff"),
                                       ("ruff.options", "format REVISION_SCRIPT_FILENAME")):
                        config.set_section_option("post_write_hooks", key, value)
                with ALEMBIC_IN_USE:
                    written = command.revision(config, message=message, autogenerate=True,
                                               rev_id=next_revision_id(track),
                                               version_path=str(track.scripts))
        finally:
            engine.dispose()
    if written is None or isinstance(written, list):
        raise RuntimeError(f"Alembic wrote no single revision for {track.name}")
    return Path(written.path)


def next_revision_id(track: Track) -> str:
    """Revisions are numbered 0001, 0002, … within their track."""
    scripts = ScriptDirectory.from_config(alembic_config(track))
    numbers = [int(script.revision) for script in scripts.walk_revisions()
               if script.revision.isdigit()]
    return f"{max(numbers, default=0) + 1:04d}"
