"""Demo services that stand in for a contact center's back office (kept apart from the engine)."""
