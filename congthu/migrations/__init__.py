"""Alembic migrations: env.py, one branch per package in versions/, shared helpers."""
