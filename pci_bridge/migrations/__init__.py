"""Alembic migrations of this package's tables (foundation/migrations.py runs them)."""
