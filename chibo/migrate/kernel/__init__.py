"""Alembic revisions of the kernel's tables (events, event_head, relay_cursor,
feed_watermarks, command_log), which every service's database holds."""
