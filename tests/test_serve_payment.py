"""A payment through a real `ivr serve` (engine, PCI bridge and demo billing on one port),
driven over HTTP by `ivr call --url`, as a developer would try it before pointing Twilio at it."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from ivr.tools.cli import main
from tests.conftest import BILLING_KEY, CLI_ENVIRONMENT, ROOT, free_port

IVR = ROOT / ".venv" / "bin" / "ivr"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = tmp_path / "config.yaml"
    config.write_text(
        f"callplans: {ROOT / 'callplans'}\n"
        f"database: sqlite:///{tmp_path}/calls.sqlite3\n"
        "watch_plans: false\n"
        "demo_billing: true\n"
        f"self_url: {base}\n"
        f"data: {{BillingUrl: '{base}/demo/billing', PciUrl: '{base}/pci/v1'}}\n"
        f"pci: {{database_url: 'sqlite:///{tmp_path}/pci.sqlite3'}}\n"
    )
    log = (tmp_path / "serve.log").open("w")
    env = {k: v for k, v in os.environ.items() if k not in CLI_ENVIRONMENT}
    env["BILLING_TOKEN"] = BILLING_KEY  # so the test can read billing; the bridge makes its own
    proc = subprocess.Popen(
        [str(IVR), "serve", "--port", str(port), "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
        env=env,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(f"{base}/health", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"ivr serve did not start:\n{(tmp_path / 'serve.log').read_text()}")
            time.sleep(0.1)
        yield base, config
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_a_payment_against_a_running_server(server: tuple[str, Path]) -> None:
    base, config = server
    keys = "11# 1 2 4242424242424242# 1230 123 1 2"
    result = CliRunner().invoke(
        main,
        [
            "call",
            "+442071230001",
            "--from",
            "+447700900123",
            "--url",
            base,
            "--config",
            str(config),
            "--keys",
            keys,
        ],
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "dials +442079460001 presenting +447700900123" in out  # the bridge's number
    assert "Your payment of £72.50 was successful" in out  # said on the bridge's leg
    assert "To hear your code again, press 1. To finish, 2." in out
    assert "Thank you. Goodbye." in out
    code = out.split("was successful. Your confirmation code is ")[1].split(".")[0]
    url = f"{base}/demo/billing/payments/{code.replace(' ', '')}"
    assert requests.get(url, timeout=5).status_code == 401
    posted = requests.get(url, headers={"Authorization": f"Bearer {BILLING_KEY}"}, timeout=5)
    assert posted.json()["payment"]["amount"] == "72.50"  # the plan posted it to billing
    # the outcome and path come from the server's call record (the config's database)
    assert "Outcome: PaymentTaken" in out
    path = next(line for line in out.splitlines() if line.startswith("Path: "))
    assert path.startswith("Path: language_line (default) → welcome (next) → lookup_by_clid")
    assert path.endswith("hear_again (2) → goodbye_paid (end)")


def test_without_the_servers_database_the_transcript_says_where_it_looked(
    server: tuple[str, Path], tmp_path: Path
) -> None:
    base, _ = server
    other = tmp_path / "other.yaml"
    other.write_text(f"database: sqlite:///{tmp_path}/elsewhere.sqlite3\n")
    result = CliRunner().invoke(
        main,
        ["call", "+442071230001", "--url", base, "--config", str(other), "--keys", "-"],
    )
    assert result.exit_code == 0, result.output
    assert "Outcome:" not in result.output
    assert "(no call record for CA" in result.output
    assert "elsewhere.sqlite3: give --config the server's config" in result.output


def test_at_is_refused_with_url(server: tuple[str, Path]) -> None:
    base, config = server
    result = CliRunner().invoke(
        main, ["call", "+442071230001", "--url", base, "--at", "2026-11-18T10:00:00Z"]
    )
    assert result.exit_code == 2
    assert "--at sets the clock of an in-process call" in result.output
