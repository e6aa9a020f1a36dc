"""`ivr call` in an interactive terminal (tmux), typed key by key as a person would: each entry
shown once, letters refused, card details hidden on the payment leg, and Ctrl-C or Ctrl-D a
caller hanging up whose call is on record."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IVR = ROOT / ".venv" / "bin" / "ivr"
CARD = "4242424242424242"
PROMPT = "Caller presses:"


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


class Terminal:
    def __init__(self, session: str):
        self.session = session

    def screen(self) -> str:
        return tmux("capture-pane", "-t", self.session, "-p", "-S", "-300")

    def prompts(self) -> int:
        """How many times the caller has been asked (each prompt is one line, answered or not)."""
        return sum(line.strip().startswith(PROMPT) for line in self.screen().splitlines())

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.screen()
            if predicate(text):
                return text
            time.sleep(0.1)
        raise AssertionError(f"timed out; the screen shows:\n{self.screen()}")

    def answer(self, *keys: str) -> None:
        """Type at the next prompt, once the caller has heard it and is asked."""
        asked = self.prompts()
        self.wait_for(lambda text: text.rstrip().endswith(PROMPT) and self.prompts() >= asked)
        tmux("send-keys", "-t", self.session, *keys)

    def type_entries(self, entries: list[str]) -> None:
        for entry in entries:
            before = self.prompts()
            self.wait_for(lambda text: text.rstrip().endswith(PROMPT))
            tmux("send-keys", "-t", self.session, entry, "Enter")
            # the next prompt (or the end of the call) before typing on
            self.wait_for(
                lambda text, n=before: self.prompts() > n or "EXITED" in text,
            )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed (scripts/setup.sh installs it)")
    path = tmp_path / "config.yaml"
    path.write_text(
        f"callplans: {ROOT / 'callplans'}\n"
        f"database: sqlite:///{tmp_path}/calls.sqlite3\n"
        "demo_billing: true\n"
        f"pci: {{database_url: 'sqlite:///{tmp_path}/pci.sqlite3'}}\n"
    )
    return path


@pytest.fixture
def terminal(tmp_path: Path, config: Path) -> Iterator[Callable[..., Terminal]]:
    sessions: list[str] = []

    def start(number: str = "+442071230001", caller: str = "+447700900123") -> Terminal:
        session = f"ivr-{tmp_path.name}-{len(sessions)}"
        command = (
            f"{IVR} call {number} --from {caller} --config {config} "
            f"--at 2026-11-18T10:00:00Z; echo EXITED $?; sleep 120"
        )
        tmux("new-session", "-d", "-s", session, "-x", "220", "-y", "80", command)
        sessions.append(session)
        return Terminal(session)

    yield start
    for session in sessions:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def recorded(config: Path) -> list[dict]:
    out = subprocess.run(
        [str(IVR), "calls", "--config", str(config), "--json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def test_a_payment_typed_in_a_terminal_shows_each_entry_once_and_hides_the_card(
    terminal: Callable[..., Terminal],
) -> None:
    term = terminal()
    term.type_entries(["11#", "1", "2", CARD + "#", "1230", "123", "1", "2"])
    text = term.wait_for(lambda t: "EXITED" in t)
    assert "EXITED 0" in text
    assert "Outcome: PaymentTaken" in text
    assert "Your confirmation code is" in text
    # typed entries are on the screen once: no echo of the prompt's answer by the transcript
    assert text.count("Caller presses: 11#") == 1
    # on the payment leg nothing typed is shown: the card number, expiry and code are masked
    for secret in (CARD, "Caller presses: 1230", "Caller presses: 123\n"):
        assert secret not in text
    assert "Caller presses: ••••••••••••••••#" in text
    assert "Caller presses: ••••\n" in text and "Caller presses: •••\n" in text
    assert text.index("Enter your card number") < text.index("••••••••••••••••#")


def test_letters_are_refused_and_asked_for_again(
    terminal: Callable[..., Terminal], config: Path
) -> None:
    term = terminal()
    term.type_entries(["abc"])
    text = term.wait_for(lambda t: "is not keys" in t)
    assert "'abc' is not keys: a key pad has 0-9, * and #" in text
    term.type_entries(["11#"])
    text = term.wait_for(lambda t: "You owe" in t)
    assert "Caller presses: 11#" in text
    term.answer("C-d")
    text = term.wait_for(lambda t: "EXITED" in t)
    assert "the caller hangs up" in text and "EXITED 0" in text
    (call,) = recorded(config)
    assert call["outcome"] == "Abandoned" and call["end_status"] == "completed"


def test_ctrl_c_after_a_payment_is_a_hang_up_and_the_call_is_on_record(
    terminal: Callable[..., Terminal], config: Path
) -> None:
    term = terminal()
    term.type_entries(["11#", "1", "2", CARD + "#", "1230", "123", "1"])
    term.wait_for(lambda t: "To hear your code again, press 1" in t)
    term.answer("C-c")
    text = term.wait_for(lambda t: "EXITED" in t)
    assert "EXITED 0" in text
    assert "the caller hangs up" in text
    assert "(the caller hung up)" in text  # the summary is printed
    assert "Outcome: PaymentTaken" in text
    (call,) = recorded(config)
    assert call["outcome"] == "PaymentTaken"
    assert [step["applet"] for step in call["path"]][-2:] == ["code_said", "hear_again"]
    assert CARD not in json.dumps(call)
