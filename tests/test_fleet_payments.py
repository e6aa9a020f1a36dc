"""The README's production shape does not jam itself: gunicorn with two sync workers on Redis,
eight callers paying at the same moment, every one paid. The plans' calls to the PCI bridge and
the billing service mounted in the same app go in-process (ivr/adapters/loopback.py), so a
worker never waits on a worker over HTTP."""

from __future__ import annotations

import base64
import os
import re
import threading
from pathlib import Path

import pytest
import redis
import requests
import yaml

from ivr.app.settings import Destination
from ivr.app.system import with_bridge_numbers
from ivr.phone.transport import HttpTransport
from ivr.phone.twilio import KeySource, TwilioSimulator
from tests.conftest import ROOT, free_port
from tests.test_auth_http import Server

CALLERS = 8
SAM = "+447700900123"
NUMBER = "+442071230001"
# Sam pays £1 ("another amount") with a new card: eight of them fit in what he owes.
KEYS = ["11#", "3", "1#", "1", "2", "4242424242424242#", "1230", "123", "1", "2"]
BILLING = "billing-token-0123456789abcdef"


@pytest.fixture
def fleet(tmp_path: Path, redis_url: str) -> Server:
    redis.Redis.from_url(redis_url).flushdb()
    port = free_port()
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "callplans": str(ROOT / "callplans"),
                "store": redis_url,
                "watch_plans": False,
                "database": f"sqlite:///{tmp_path}/calls.sqlite3",
                "demo_billing": True,
                "self_url": f"http://127.0.0.1:{port}",
                "data": {
                    "BillingUrl": f"http://127.0.0.1:{port}/demo/billing",
                    "PciUrl": f"http://127.0.0.1:{port}/pci/v1",
                },
                "pci": {"database_url": f"sqlite:///{tmp_path}/pci.sqlite3"},
            }
        ),
        encoding="utf-8",
    )
    server = Server("gunicorn", config, tmp_path / "server.log")
    server.port, server.url = port, f"http://127.0.0.1:{port}"
    return server


def test_eight_simultaneous_payment_callers_on_two_sync_workers_are_all_paid(fleet: Server) -> None:
    fleet.start(
        PCI_API_KEYS="fleet-key-0123456789abcdef",
        BILLING_TOKEN=BILLING,
        PCI_WEBHOOK_SECRET="fleet-webhook-secret-0123456789",
        PCI_DATA_KEY=base64.b64encode(os.urandom(32)).decode(),
    )
    try:
        directory = with_bridge_numbers({"+442071230200": Destination()}, ("+442079460001",))
        results: list[tuple[str, list[str]]] = []
        errors: list[BaseException] = []
        start = threading.Barrier(CALLERS)

        def caller() -> None:
            try:
                simulator = TwilioSimulator(HttpTransport(fleet.url), directory=directory)
                start.wait(10)
                result = simulator.call(NUMBER, SAM, KeySource(list(KEYS)))
                results.append((result.ended_by, result.heard()))
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=caller) for _ in range(CALLERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not errors, errors
        assert len(results) == CALLERS
        codes = set()
        for _, heard in results:
            said = " ".join(heard)
            assert "was successful. Your confirmation code is" in said, said
            codes.add(re.search(r"confirmation code is ([A-Z0-9 ]+)\.", said)[1])  # type: ignore[index]
        assert len(codes) == CALLERS  # eight payments, not one payment heard eight times
        log = fleet.log.read_text()
        assert "WORKER TIMEOUT" not in log and "Traceback" not in log, log[-3000:]
        sam = requests.get(
            f"{fleet.url}/demo/billing/accounts/10012345",
            headers={"Authorization": f"Bearer {BILLING}"},
            timeout=10,
        )
        assert sam.status_code == 200
        # both workers share the billing data: every £1 came off what Sam owes
        assert sam.json()["account"]["total_due"] == f"{72.50 - CALLERS:.2f}"
    finally:
        fleet.stop()
