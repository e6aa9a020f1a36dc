"""Alembic's entry point for these migrations; the work is in foundation.migrations."""

from foundation.migrations import run_env

run_env()
