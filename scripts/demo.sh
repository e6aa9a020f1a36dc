#!/usr/bin/env bash
# Set up (see setup.sh) and simulate a whole payment call, embedded in one process: the
# simulator plays Twilio against the webhook app, the PCI bridge and the demo billing service
# (nothing to start by hand). Sam (+447700900123) verifies with postcode digits 11, pays the
# total with a new card (test card 4242 4242 4242 4242) and hears a confirmation code.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/ivr call +442071230001 --from +447700900123 --at 2026-11-18T10:00:00Z \
  --keys "11# 1 2 4242424242424242# 1230 123 1 2" "$@"
