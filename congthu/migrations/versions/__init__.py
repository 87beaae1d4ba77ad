"""Alembic revisions, named <package>_<number>_<what>.py."""
