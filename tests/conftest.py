"""Shared fixtures: a real redis-server, a loopback HTTP server, a settable clock, engines."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import make_url

from ivr.engine.catalog import Catalog
from ivr.engine.loader import load_file, load_text
from ivr.engine.records import MemoryRecorder
from ivr.engine.stores import MemoryStore
from ivr.engine.stores.redis_store import RedisStore
from ivr.engine.turns import Engine
from pci_bridge import BridgeConfig, create_bridge_app
from tests.driver import CallDriver

ROOT = Path(__file__).resolve().parent.parent
PLANS = Path(__file__).resolve().parent / "plans"
EXAMPLES = ROOT / "callplans" / "examples"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the CLI ---------------------------------------------------------------------------------

# Variables that would change what a CLI test sees (tests unset them).
CLI_ENVIRONMENT = (
    "IVR_CONFIG",
    "IVR_STORE_URL",
    "IVR_DATABASE_URL",
    "IVR_PUBLIC_URL",
    "TWILIO_AUTH_TOKEN",
    "SIM_API_TOKEN",
    "PCI_API_KEYS",
    "PCI_API_KEY",
    "COLLECTIONS_API_KEY",
    "BILLING_TOKEN",
    "IVR_SECRET_KEY",
)


# --- bearer keys -----------------------------------------------------------------------------

PCI_KEY = "test-pci-key-0123456789abcdef"
BILLING_KEY = "test-billing-token-0123456789"
COLLECTIONS_KEY = "test-collections-key-0123456789"


class KeyedClient(FlaskClient):
    """A test client that sends the bridge's test key with every request."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {PCI_KEY}"


def keyed_bridge_app(config: BridgeConfig, **wiring: Any) -> Flask:
    """The bridge on its own, accepting PCI_KEY; its test clients send it."""
    app = create_bridge_app(replace(config, api_keys=(PCI_KEY,)), **wiring)
    app.test_client_class = KeyedClient
    return app


@pytest.fixture
def service_keys_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No stray settings from the environment; the test keys for the bridge and billing."""
    for name in CLI_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PCI_API_KEYS", PCI_KEY)
    monkeypatch.setenv("BILLING_TOKEN", BILLING_KEY)
    monkeypatch.setenv("COLLECTIONS_API_KEY", COLLECTIONS_KEY)


@pytest.fixture
def keep_logging() -> Iterator[None]:
    """The CLI installs its own root log handler (on the runner's stderr): put pytest's back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


# --- Redis ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server started for this test session on a free loopback port."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(
            "redis-server is not installed: apt-get install redis-server (.ci/run installs it)"
        )
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("redis-server did not start")
            time.sleep(0.05)
    client.close()
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def redis_client(redis_url: str) -> redis.Redis:
    """A client of the test Redis, its database emptied first."""
    r = redis.Redis.from_url(redis_url)
    r.flushdb()
    return r


@pytest.fixture
def redis_store(redis_url: str) -> Iterator[RedisStore]:
    store = RedisStore.from_url(redis_url)
    store.client.flushdb()
    yield store
    store.client.close()


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Any:
    """Both session stores: tests using it run against memory and a real Redis."""
    if request.param == "memory":
        return MemoryStore()
    return request.getfixturevalue("redis_store")


# --- PostgreSQL ----------------------------------------------------------------------------

POSTGRES_URL = os.environ.get(
    "IVR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def postgres_unavailable(reason: str) -> None:
    """Skip locally, but fail in CI: CI must run the PostgreSQL tests."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required in CI: {reason}")
    pytest.skip(f"PostgreSQL not available: {reason}")


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The PostgreSQL URL (IVR_TEST_POSTGRES_URL), once it is known to answer."""
    try:
        engine = sqlalchemy.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    except (ImportError, sqlalchemy.exc.NoSuchModuleError) as exc:
        postgres_unavailable(
            f"no driver for {make_url(POSTGRES_URL).drivername} ({exc}); "
            "pip install 'psycopg[binary]'"
        )
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("select 1"))
    except sqlalchemy.exc.DBAPIError as exc:
        postgres_unavailable(f"{make_url(POSTGRES_URL).render_as_string()}: {exc.orig}")
    finally:
        engine.dispose()
    return POSTGRES_URL


@pytest.fixture
def postgresql_url(postgres_server: str) -> Iterator[str]:
    """A URL whose search_path is a fresh schema of this test's own (dropped afterwards)."""
    schema = f"ivr_test_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(postgres_server)
    with admin.begin() as conn:
        conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(postgres_server).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


# --- HTTP ----------------------------------------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Reply = tuple[int, dict[str, str], bytes | str]


@dataclass
class LoopbackServer:
    """A real HTTP server on 127.0.0.1 whose answers a test sets per method and path."""

    url: str = ""
    routes: dict[tuple[str, str], Callable[[Seen], Reply]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def route(
        self,
        method: str,
        path: str,
        status: int = 200,
        body: Any = "",
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        """Answer `method path` with a fixed reply (dict/list bodies are sent as JSON)."""
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            headers = {"Content-Type": "application/json", **(headers or {})}

        def reply(_: Seen) -> Reply:
            if delay:
                time.sleep(delay)
            return status, headers or {}, body

        self.routes[(method.upper(), path)] = reply

    def handle(self, method: str, path: str, fn: Callable[[Seen], Reply]) -> None:
        """Answer `method path` with a function of the request."""
        self.routes[(method.upper(), path)] = fn

    def count(self, method: str | None = None, path: str | None = None) -> int:
        return sum(
            1
            for s in self.seen
            if (method is None or s.method == method)
            and (path is None or s.path.split("?")[0] == path)
        )


@pytest.fixture
def http_server() -> Iterator[LoopbackServer]:
    server_state = LoopbackServer()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            seen = Seen(self.command, self.path, dict(self.headers.items()), body)
            server_state.seen.append(seen)
            fn = server_state.routes.get((self.command, self.path.split("?")[0]))
            status, headers, payload = fn(seen) if fn else (404, {}, "not found")
            data = payload.encode() if isinstance(payload, str) else payload
            try:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    server_state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield server_state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def refused_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    return f"http://127.0.0.1:{free_port()}"


# --- clock and engines ---------------------------------------------------------------------


class Clock:
    """A settable clock (timezone-aware UTC)."""

    def __init__(self, now: datetime | None = None):
        self.now = now or datetime(2026, 11, 20, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: datetime) -> None:
        self.now = now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_engine(clock: Clock) -> Callable[..., Engine]:
    """Build an engine from plan files (paths or names in tests/plans/) or YAML texts."""

    def build(
        *plans: str | Path, store: Any = None, secrets: dict[str, str] | None = None, **kwargs: Any
    ) -> Engine:
        loaded = []
        for i, plan in enumerate(plans):
            if isinstance(plan, Path) or (isinstance(plan, str) and "\n" not in plan):
                path = Path(plan)
                if not path.exists():
                    path = PLANS / plan
                loaded.append(load_file(path)[0])
            else:
                loaded.append(load_text(plan, f"<plan {i}>")[0])
        values = dict(secrets or {})
        return Engine(
            Catalog(loaded),
            store or MemoryStore(),
            clock=kwargs.pop("clock", clock),
            secrets=values.get,
            recorder=kwargs.pop("recorder", MemoryRecorder()),
            **kwargs,
        )

    return build


@pytest.fixture
def call() -> Callable[..., CallDriver]:
    """Start driving a call: `call(engine, plan_id="x")` or `call(engine, called="+44...")`."""
    counter = iter(range(1, 10**6))

    def start(
        engine: Engine,
        *,
        caller: str = "+447700900123",
        called: str = "",
        plan_id: str | None = None,
        call_sid: str | None = None,
    ) -> CallDriver:
        sid = call_sid or f"CA{next(counter):032d}"
        return CallDriver(engine, sid, caller=caller, called=called, plan_id=plan_id)

    return start


@pytest.fixture
def campaign(tmp_path: Path, service_keys_env: None, clock: Clock) -> Iterator[Any]:
    """An outbound collections campaign as served (tests/collections_world.py)."""
    from tests.collections_world import build_campaign

    yield from build_campaign(tmp_path, clock)
