"""Adapters between the engine and the outside: the Flask voice webhooks, TwiML rendering,
the SQL call recorder, text messages, in-process HTTP for mounted services, logging."""
