"""Two `ivr serve` processes sharing one Redis: a call whose webhooks alternate between them
(as behind a load balancer) runs exactly as it does in one process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import requests
import yaml

from ivr.adapters.records_sql import SqlRecorder
from ivr.app.local_phone import LocalPhone
from ivr.app.settings import Settings
from ivr.engine.stores.redis_store import RedisStore
from ivr.phone.twilio import KeySource, TwilioSimulator
from tests.conftest import PCI_KEY, PLANS, LoopbackServer, free_port

CALL_NUMBER = "+441000000901"  # tests/plans/web_call.yaml
CALLER = "+447700900123"
TOKEN = "0123456789abcdef0123456789abcdef"
PUBLIC = "https://ivr.example.com"  # what a load balancer in front of both would be
START_TIMEOUT = 10.0


class AlternatingTransport:
    """Like HttpTransport, but each request goes to the next server in turn."""

    def __init__(self, bases: list[str], *, timeout: float = 15.0):
        self.bases = [b.rstrip("/") for b in bases]
        self.timeout = timeout
        self.session = requests.Session()
        self.served: list[tuple[str, str, int]] = []  # (server, path, status)

    def post(self, url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        base = self.bases[len(self.served) % len(self.bases)]
        try:
            response = self.session.post(
                base + path, data=params, headers=headers, timeout=self.timeout
            )
        except requests.Timeout:
            self.served.append((base, path, 504))
            return 504, ""
        except requests.ConnectionError:
            self.served.append((base, path, 502))
            return 502, ""
        self.served.append((base, path, response.status_code))
        return response.status_code, response.text

    def absolute(self, url: str, public_base: str | None = None) -> str:
        if urlsplit(url).scheme:
            return url
        return urljoin((public_base or self.bases[0]).rstrip("/") + "/", url.lstrip("/"))

    def close(self) -> None:
        self.session.close()


@dataclass
class Cluster:
    urls: list[str]
    database_url: str
    plans: Path
    logs: list[Path]


@pytest.fixture
def service(http_server: LoopbackServer) -> LoopbackServer:
    http_server.route("POST", "/lookup", body={"balance": "42.50"})
    return http_server


@pytest.fixture
def plans_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "plans"
    folder.mkdir()
    shutil.copy(PLANS / "web_call.yaml", folder / "web_call.yaml")
    return folder


def _ivr_command() -> list[str]:
    script = Path(sys.executable).with_name("ivr")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "ivr.tools.cli"]


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, deadline: float) -> None:
    with requests.Session() as http:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"ivr serve exited with {proc.returncode}:\n{log.read_text()}")
            try:
                if http.get(f"{url}/health", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"ivr serve at {url} did not answer /health within "
                    f"{START_TIMEOUT:.0f} s:\n{log.read_text()}"
                )
            time.sleep(0.05)


@pytest.fixture
def cluster(
    tmp_path: Path,
    redis_store: RedisStore,
    redis_url: str,
    plans_dir: Path,
    service: LoopbackServer,
) -> Iterator[Cluster]:
    """Two `ivr serve` subprocesses on free loopback ports, one Redis, one SQLite file."""
    database_url = f"sqlite:///{tmp_path / 'calls.sqlite3'}"
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "store": redis_url,
                "database": database_url,
                "callplans": str(plans_dir),
                "watch_plans": False,
                "public_url": PUBLIC,
                "log_level": "WARNING",
                "secrets": {"SERVICE_URL": service.url},
            }
        ),
        encoding="utf-8",
    )
    SqlRecorder(database_url).close()  # create the table once, before two processes race
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("IVR_") and k != "TWILIO_AUTH_TOKEN"
    }
    env["TWILIO_AUTH_TOKEN"] = TOKEN
    env["PCI_API_KEYS"] = PCI_KEY  # serving processes sharing Redis need a configured key
    procs: list[tuple[subprocess.Popen[bytes], Path]] = []
    urls: list[str] = []
    try:
        for i in range(2):
            port = free_port()
            log = tmp_path / f"server{i}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    [
                        *_ivr_command(),
                        "serve",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--config",
                        str(config),
                    ],
                    cwd=tmp_path,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            procs.append((proc, log))
            urls.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + START_TIMEOUT
        for url, (proc, log) in zip(urls, procs, strict=True):
            _wait_healthy(url, proc, log, deadline)
        yield Cluster(urls, database_url, plans_dir, [log for _, log in procs])
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc, _ in procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def _single_process_run(
    tmp_path: Path, plans: Path, service: LoopbackServer, keys: list[str]
) -> tuple[list[tuple[str, str, int]], list[tuple[str, str]], str | None]:
    """The same call in one process (memory store): transcript, path and outcome."""
    settings = Settings(
        callplans=plans,
        database_url=f"sqlite:///{tmp_path}/single.sqlite3",
        secrets={"SERVICE_URL": service.url},
        auth_token=TOKEN,
        public_url=PUBLIC,
        watch_plans=False,
    )
    with requests.Session() as http:
        phone = LocalPhone(settings, http=http)
        try:
            report = phone.call(CALL_NUMBER, CALLER, keys)
        finally:
            phone.system.recorder.close()
    transcript = [(e.kind, e.text, e.leg) for e in report.result.events]
    return transcript, report.path, report.outcome


MENU = "Your balance is £42.50. Press 1 for an agent, 2 for a choice, or 3 to finish."
GOODBYE = "Thank you for calling. Goodbye."


@pytest.mark.parametrize(
    "keys, heard",
    [
        (["1"], [MENU, "Connecting you to an agent.", GOODBYE]),
        (["9", "3"], [MENU, MENU, GOODBYE]),
    ],
    ids=["transfer", "retry-then-finish"],
)
def test_call_alternating_between_two_processes(
    tmp_path: Path,
    cluster: Cluster,
    redis_store: RedisStore,
    service: LoopbackServer,
    keys: list[str],
    heard: list[str],
) -> None:
    started = time.monotonic()
    transport = AlternatingTransport(cluster.urls)
    simulator = TwilioSimulator(transport, auth_token=TOKEN, sign_base=PUBLIC)
    try:
        result = simulator.call(CALL_NUMBER, CALLER, KeySource(list(keys)))
    finally:
        transport.close()

    # Every webhook was answered, and the two servers took turns.
    assert [e.text for e in result.events if e.kind == "error"] == []
    assert all(status in (200, 204) for _, _, status in transport.served), transport.served
    assert len(transport.served) >= 4
    servers = [server for server, _, _ in transport.served]
    assert servers[0::2] == [cluster.urls[0]] * len(servers[0::2])
    assert servers[1::2] == [cluster.urls[1]] * len(servers[1::2])
    assert transport.served[-1][1] == "/voice/status"

    assert result.heard() == heard
    for log in cluster.logs:
        assert "Traceback" not in log.read_text(), log.read_text()

    # The call went as it does in one process.
    calls_before = service.count("POST", "/lookup")
    transcript, path, outcome = _single_process_run(tmp_path, cluster.plans, service, keys)
    assert [(e.kind, e.text, e.leg) for e in result.events] == transcript
    assert calls_before == 1, "the web service was not called exactly once"

    # The call record was written once, and the session is gone from Redis.
    # (the servers queue records in Redis; their writer writes them within moments)
    recorder = SqlRecorder(cluster.database_url)
    try:
        deadline = time.monotonic() + 10
        while (record := recorder.find(result.call_sid)) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        recent = recorder.recent(10)
    finally:
        recorder.close()
    assert record is not None, "no call record in the shared database"
    assert [(s.applet, s.outcome) for s in record.path] == path
    assert record.outcome == outcome == "Done"
    assert record.clid == CALLER and record.ddi == CALL_NUMBER
    assert [r.call_sid for r in recent] == [result.call_sid]
    assert redis_store.get(result.call_sid) is None
    assert time.monotonic() - started < 20
