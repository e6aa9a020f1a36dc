#!/usr/bin/env bash
# Set up (see setup.sh) and run every test: lint, types, the test suite, plan validation.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
.venv/bin/ruff check ivr applets tests bench
.venv/bin/mypy ivr applets
.venv/bin/ivr validate --strict callplans/
.venv/bin/python -m pytest "$@"
