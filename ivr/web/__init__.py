"""The Twilio webhook app: a thin Flask adapter over the engine's turn API."""

from ivr.web.app import create_app

__all__ = ["create_app"]
