"""The bridge's Redis key templates, defined once (all under the `pci:` prefix)."""

from __future__ import annotations

# A payment leg's progress (JSON of leg.Leg), one per session.
LEG_KEY = "pci:leg:{session_id}"
# The leg's sealed card fields between prompts (short TTL; deleted once the charge answers).
CARD_KEY = LEG_KEY + ":card"
# The live session a presented CLID belongs to (never two live sessions on one CLID).
CLID_KEY = "pci:clid:{clid}"
# The session a payment leg's CallSid answers for.
CALL_KEY = "pci:call:{call_sid}"
# One webhook (or charge, cancel, sweep) at a time per session, and per incoming call.
SESSION_LOCK = "pci:lock:{session_id}"
CALL_LOCK = "pci:lock:call:{call_sid}"
