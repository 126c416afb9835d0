"""The histories a service's database holds, and Alembic's configuration for each.

A database holds two tracks, each with its own Alembic version table: the kernel's tables
(the log, its head, relay cursors, feed watermarks, the command log; revisions in
`chibo/migrate/kernel/`, version table `alembic_version_kernel`) and the service's own
(revisions in the `migrations` package beside the service's class, e.g.
`services/members/migrations/`, version table `alembic_version_members`). The kernel's
history ships with the kernel and serves every service's database; a service's history
ships with the tables it describes.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic.config import Config
from sqlalchemy import MetaData

from chibo.eventstore.tables import kernel_metadata

#: Where env.py and the template of new revisions live: one copy serves every track.
ENVIRONMENT = Path(__file__).parent
KERNEL_SCRIPTS = ENVIRONMENT / "kernel"
KERNEL_TRACK_NAME = "kernel"
#: The package of revisions beside a service's class.
SCRIPTS_PACKAGE = "migrations"


@dataclass(frozen=True)
class Track:
    """One history: its name, the folder of its revision scripts and the tables at head."""

    name: str
    scripts: Path
    metadatas: tuple[MetaData, ...]

    @property
    def version_table(self) -> str:
        return f"alembic_version_{self.name}"

    @property
    def table_names(self) -> frozenset[str]:
        return frozenset(name for metadata in self.metadatas for name in metadata.tables)

    def includes(self, name: str | None, type_: str, _parents: Any) -> bool:
        """Alembic's `include_name` hook: autogenerate looks at this track's tables only,
        not the other track's, nor either version table."""
        return type_ != "table" or name in self.table_names


def kernel_track() -> Track:
    return Track(KERNEL_TRACK_NAME, KERNEL_SCRIPTS, (kernel_metadata,))


def service_track(service: str, scripts: Path, metadatas: tuple[MetaData, ...]) -> Track:
    if service == KERNEL_TRACK_NAME:
        raise ValueError(f"a service may not be named {KERNEL_TRACK_NAME!r}: the kernel's "
                         "tables keep their history under that name")
    return Track(service, scripts, metadatas)


def alembic_config(track: Track, **attributes: Any) -> Config:
    """Alembic's configuration, in code (no alembic.ini): the shared environment, the
    track's revisions, and `attributes` for env.py (the connection, the track)."""
    config = Config()
    config.set_main_option("script_location", str(ENVIRONMENT))
    config.set_main_option("version_locations", str(track.scripts))
    config.set_main_option("path_separator", "os")
    # Revision files are named by their number: 0002_command_log.py.
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.attributes.update(track=track, **attributes)
    return config


def scripts_for(service_cls: type) -> Path | None:
    """The service's revisions: the `migrations` package beside the module that defines
    its class, or a base class's (so a subclass made in a test migrates as its base
    does). None when there is none: the service's tables are then made by create_all."""
    for cls in service_cls.__mro__:
        module = sys.modules.get(cls.__module__)
        package = getattr(module, "__package__", None)
        if not package:
            continue
        try:
            spec = importlib.util.find_spec(f"{package}.{SCRIPTS_PACKAGE}")
        except ImportError:
            continue
        if spec is not None and spec.submodule_search_locations:
            return Path(next(iter(spec.submodule_search_locations)))
    return None
