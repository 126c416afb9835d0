"""Schema migrations (Alembic) for every service's database.

`migrate(engine, service, metadatas, scripts)` brings a database to head under a lock
(`chibo.migrate.run`): the kernel's tables by the kernel's revisions
(`chibo/migrate/kernel/`), the service's by the revisions beside its class
(`services/<name>/migrations/`, found by `scripts_for`). Services run it on start, and
`chibo migrate` for every configured database. Alembic is configured in code
(`chibo.migrate.tracks`, `env.py`): there is no alembic.ini.
"""

from chibo.migrate.run import (
    Migration,
    Step,
    current_revision,
    head_revision,
    migrate,
    revisions,
    tracks_of,
    upgrade,
)
from chibo.migrate.tracks import Track, kernel_track, scripts_for, service_track

__all__ = ["Migration", "Step", "Track", "current_revision", "head_revision", "kernel_track",
           "migrate", "revisions", "scripts_for", "service_track", "tracks_of", "upgrade"]
