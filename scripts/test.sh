#!/usr/bin/env bash
# Set up (see setup.sh) and run every test: lint, types, plan validation, plan scenarios and
# the test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
if ! command -v chromium >/dev/null 2>&1; then  # the console's browser tests (no download)
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  echo "Installing Debian's chromium for the browser tests" >&2
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium >/dev/null
fi
export PYTHONDONTWRITEBYTECODE=1
.venv/bin/ruff check foundation ivr applets pci_bridge demo tests bench
.venv/bin/ruff format --check foundation ivr applets pci_bridge demo tests bench
.venv/bin/mypy foundation ivr applets pci_bridge demo bench
.venv/bin/lint-imports  # the layer contracts in .importlinter (docs/architecture.md)
.venv/bin/ivr validate --strict callplans/
.venv/bin/ivr test callplans/
.venv/bin/python -m pytest "$@"
