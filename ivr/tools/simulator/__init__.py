"""The call simulator: Twilio's side of a call (`ivr.phone`) run against a whole system in
this process (`local`) or a running server, and shown in a terminal."""
