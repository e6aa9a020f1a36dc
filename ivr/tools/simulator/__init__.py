"""The call simulator: Twilio's side of a call, run against the webhook app."""

from ivr.tools.simulator.twilio import CallResult, Event, KeySource, SimClock, TwilioSimulator

__all__ = ["CallResult", "Event", "KeySource", "SimClock", "TwilioSimulator"]
