"""The engine: the applet protocol and registry, plan loading and compiling, the routing
machine, sessions and their stores, and the turn API. Sans-IO towards Twilio (a turn returns
actions, never TwiML) and independent of the bridge, the demo and any applet module."""
