"""Alembic revisions of the reporting service's own tables; `chibo migrate` applies them
(see chibo/migrate/ and docs/operations.md)."""
