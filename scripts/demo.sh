#!/usr/bin/env bash
# Set up (see setup.sh) and simulate a call end to end, embedded in one process: the simulator
# plays Twilio against the webhook app, nothing to start by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/ivr call +442071230100 --from +447700900123 --keys "0" \
  --at 2026-11-18T10:00:00Z "$@"
