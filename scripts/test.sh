#!/usr/bin/env bash
# Set up (see setup.sh) and run every test: lint, types, plan validation, plan scenarios and
# the test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export PYTHONDONTWRITEBYTECODE=1
.venv/bin/ruff check foundation ivr applets pci_bridge demo tests bench
.venv/bin/ruff format --check foundation ivr applets pci_bridge demo tests bench
.venv/bin/mypy foundation ivr applets pci_bridge demo bench
.venv/bin/lint-imports  # the layer contracts in .importlinter (docs/architecture.md)
.venv/bin/ivr validate --strict callplans/
.venv/bin/ivr test callplans/
.venv/bin/python -m pytest "$@"
