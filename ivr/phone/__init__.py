"""Twilio's side of a call, simulated: places calls against the webhooks and follows the TwiML
(the CLI's simulator, plan tests and the console's softphone all ring through it)."""

from ivr.phone.twilio import CallResult, CallState, Event, KeySource, SimClock, TwilioSimulator

__all__ = ["CallResult", "CallState", "Event", "KeySource", "SimClock", "TwilioSimulator"]
