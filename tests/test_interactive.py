"""A payment typed key by key in an interactive terminal (tmux), as a person would."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IVR = ROOT / ".venv" / "bin" / "ivr"
KEYS = ["11#", "1", "2", "4242424242424242#", "1230", "123", "1", "2"]
PROMPT = "keys (Enter: no input, h: hang up):"


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def screen(session: str) -> str:
    return tmux("capture-pane", "-t", session, "-p", "-S", "-200")


def wait_for(session: str, predicate, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = screen(session)
        if predicate(text):
            return text
        time.sleep(0.1)
    raise AssertionError(f"timed out; the screen shows:\n{screen(session)}")


def test_payment_typed_in_a_terminal(tmp_path: Path) -> None:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed (scripts/setup.sh installs it)")
    config = tmp_path / "config.yaml"
    config.write_text(
        f"callplans: {ROOT / 'callplans'}\n"
        f"database: sqlite:///{tmp_path}/calls.sqlite3\n"
        "demo_billing: true\n"
        f"pci: {{database_url: 'sqlite:///{tmp_path}/pci.sqlite3'}}\n"
    )
    session = f"ivr-{tmp_path.name}"
    command = (
        f"{IVR} call +442071230001 --from +447700900123 --config {config} "
        f"--at 2026-11-18T10:00:00Z; echo EXITED $?; sleep 60"
    )
    tmux("new-session", "-d", "-s", session, "-x", "220", "-y", "60", command)
    try:
        for typed, keys in enumerate(KEYS):
            # Type only once the caller has heard the prompt and is asked for keys.
            wait_for(session, lambda text, n=typed: text.count(PROMPT) > n)
            tmux("send-keys", "-t", session, keys, "Enter")
        text = wait_for(session, lambda t: "EXITED" in t)
        assert "EXITED 0" in text
        assert "Outcome: PaymentTaken" in text
        assert "Your confirmation code is" in text
        heard_before_typing = text.index("Please enter your card number")
        assert heard_before_typing < text.index("Caller presses: 4242424242424242#")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
