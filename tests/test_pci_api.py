"""The PCI bridge's session API (pci_bridge/app.py, sessions.py) against the contract in
pci-bridge.md and docs/pci-bridge-openapi.json, on memory and a real Redis; the card rules of
pci_bridge/cards.py.

Every answer the tests get goes through `Api`, which checks it against the OpenAPI document:
a documented status for that operation, JSON, and the Session or Error schema."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import ANY
from urllib.parse import quote

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import text
from werkzeug.test import TestResponse

from pci_bridge.app import Bridge
from pci_bridge.cards import (
    BRAND_NAMES,
    DEFAULT_ACCEPTED,
    CardProblem,
    brand_of,
    check_code,
    check_expiry,
    check_number,
    luhn_valid,
)
from pci_bridge.config import DEFAULT_POOL, BridgeConfig
from pci_bridge.gateway import TEST_CARDS
from pci_bridge.openapi import document
from pci_bridge.state import MemoryState, RedisState
from tests.conftest import Clock, keyed_bridge_app

ROOT = Path(__file__).resolve().parent.parent
DOC_FILE = ROOT / "docs" / "pci-bridge-openapi.json"
DOC: dict[str, Any] = json.loads(DOC_FILE.read_text())
SCHEMAS = {
    name: Draft202012Validator(
        DOC["components"]["schemas"][name], format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    for name in ("Session", "Error", "NewSession")
}
BRANDS = {"visa", "mastercard", "amex", "discover", "diners", "jcb", "unionpay", "maestro"}
FINAL = {"completed", "failed", "cancelled", "abandoned", "expired"}

GOOD = {"amount": "42.50", "currency": "GBP", "reference": "ACC-1001"}
CALLER = "+447700900123"
OTHER_CALLER = "+447700900456"
POOL_ONE = "+442079460100"


# --- the API through the test client, checked against the document -------------------------


def conforms(response: TestResponse, method: str, template: str) -> Any:
    """The response's JSON, after checking it is what the document says `method template`
    answers: a documented status, application/json, and the Session or Error schema."""
    responses = DOC["paths"][template][method]["responses"]
    status = str(response.status_code)
    where = f"{method.upper()} {template} -> {status}"
    assert status in responses, (
        f"{where}: status not documented (documented: "
        f"{', '.join(responses)}); body {response.get_data()[:200]!r}"
    )
    assert response.mimetype == "application/json", (
        f"{where}: {response.mimetype}, not JSON: {response.get_data()[:200]!r}"
    )
    body = response.get_json()
    schema = responses[status]["content"]["application/json"]["schema"]["$ref"].rsplit("/")[-1]
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in SCHEMAS[schema].iter_errors(body)]
    assert not errors, f"{where}: not a {schema}: {errors}"
    if schema == "Error":
        assert body["error"].strip(), f"{where}: empty error message"
    else:
        for name in ("created_at", "expires_at"):
            assert datetime.fromisoformat(body[name]).tzinfo is not None, f"{where}: {name}"
        result, state = body["result"], body["state"]
        if state not in FINAL:
            assert result is None, f"{where}: a {state} session with a result: {result}"
        elif state != "expired":  # the contract lists no outcome for expiry
            assert result is not None, f"{where}: a {state} session without a result"
        if result and result.get("card"):
            assert result["card"]["brand"] in BRANDS, result["card"]
    return body


@dataclass(frozen=True)
class Reply:
    status_code: int
    json_body: Any


class Api:
    """The bridge's session API through Flask's test client; every answer is checked by
    `conforms` and comes back as a `Reply`."""

    def __init__(self, app: Any):
        self.app = app
        self.client = app.test_client()
        self.bridge: Bridge = app.extensions["pci_bridge"]

    def create(
        self,
        body: Any = None,
        *,
        key: str | None = None,
        raw: bytes | str | None = None,
        content_type: str = "application/json",
        **fields: Any,
    ) -> Reply:
        headers = {"Idempotency-Key": key} if key is not None else {}
        if raw is None:
            raw = json.dumps({**GOOD, **fields} if body is None else body)
        response = self.client.post(
            "/pci/v1/sessions", data=raw, headers=headers, content_type=content_type
        )
        return Reply(response.status_code, conforms(response, "post", "/pci/v1/sessions"))

    def get(self, session_id: str) -> Reply:
        response = self.client.get(f"/pci/v1/sessions/{quote(session_id, safe='')}")
        return Reply(
            response.status_code, conforms(response, "get", "/pci/v1/sessions/{session_id}")
        )

    def by_clid(self, clid: str | None) -> Reply:
        query = {"clid": clid} if clid is not None else {}
        response = self.client.get("/pci/v1/sessions", query_string=query)
        return Reply(response.status_code, conforms(response, "get", "/pci/v1/sessions"))

    def cancel(self, session_id: str) -> Reply:
        response = self.client.post(f"/pci/v1/sessions/{quote(session_id, safe='')}/cancel")
        return Reply(
            response.status_code, conforms(response, "post", "/pci/v1/sessions/{session_id}/cancel")
        )

    def count(self, table: str) -> int:
        with self.bridge.ledger.db.connect() as conn:
            return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()

    def token(self, behaviour: str = "success") -> str:
        return self.bridge.gateway.mint_token(  # type: ignore[attr-defined]
            brand="visa", last4="4242", exp_month=12, exp_year=2030, behaviour=behaviour
        )


@pytest.fixture
def make_api(tmp_path: Path, clock: Clock) -> Iterator[Callable[..., Api]]:
    """Build the bridge app on one SQLite file (the same file each time: a restart)."""
    bridges: list[Bridge] = []

    def build(state: Any = None, **config: Any) -> Api:
        settings = BridgeConfig(database_url=f"sqlite:///{tmp_path}/pci.sqlite3", **config)
        app = keyed_bridge_app(
            settings, clock=clock, state=state if state is not None else MemoryState()
        )
        bridges.append(app.extensions["pci_bridge"])
        return Api(app)

    yield build
    for bridge in bridges:
        bridge.close()


@pytest.fixture
def api(make_api: Callable[..., Api]) -> Api:
    return make_api()


@pytest.fixture
def make_state(request: pytest.FixtureRequest) -> Iterator[Callable[[str], Any]]:
    """Live state by kind: "memory", or "redis" (a real redis-server, flushed once per test)."""
    clients: list[RedisState] = []

    def build(kind: str) -> Any:
        if kind == "memory":
            return MemoryState()
        state = RedisState.from_url(request.getfixturevalue("redis_url"))
        if not clients:
            state.client.flushdb()
        clients.append(state)
        return state

    yield build
    for state in clients:
        state.client.close()


@pytest.fixture(params=["memory", "redis"])
def live_state(request: pytest.FixtureRequest, make_state: Callable[[str], Any]) -> Any:
    """Both live states: tests using it run against memory and a real Redis."""
    return make_state(request.param)


# --- create, read, cancel -----------------------------------------------------------------


def test_create_answers_201_with_every_documented_field(api: Api, clock: Clock) -> None:
    response = api.create(amount="42.5", caller_clid=CALLER)
    assert response.status_code == 201
    body = response.json_body
    required = DOC["components"]["schemas"]["Session"]["required"]
    assert set(required) <= set(body)
    assert body["session_id"]
    assert body["state"] == "created"
    assert body["clid"] == CALLER
    assert body["transfer_number"] in api.bridge.config.transfer_numbers
    assert body["amount"] == "42.50"
    assert body["currency"] == "GBP"
    assert body["reference"] == "ACC-1001"
    assert body["result"] is None
    assert datetime.fromisoformat(body["created_at"]) == clock.now
    assert datetime.fromisoformat(body["expires_at"]) == clock.now + timedelta(
        seconds=api.bridge.config.session_ttl
    )


def test_get_returns_the_same_object(api: Api) -> None:
    created = api.create(description="November bill").json_body
    response = api.get(created["session_id"])
    assert response.status_code == 200
    assert response.json_body == created


def test_by_clid_returns_the_session_presented_with_it(api: Api) -> None:
    created = api.create(caller_clid=CALLER).json_body
    response = api.by_clid(CALLER)
    assert response.status_code == 200
    assert response.json_body == created


def test_by_clid_returns_the_newer_session_of_the_same_caller(api: Api, clock: Clock) -> None:
    older = api.create(caller_clid=CALLER).json_body
    api.cancel(older["session_id"])
    clock.advance(seconds=30)
    newer = api.create(caller_clid=CALLER).json_body
    assert newer["clid"] == CALLER
    assert api.by_clid(CALLER).json_body["session_id"] == newer["session_id"]


def test_by_clid_never_returns_an_older_session_created_in_the_same_instant(api: Api) -> None:
    """Two sessions of one caller in the same clock tick (fast retries, coarse clocks, or two
    bridge hosts sharing a database): the read must still give the newer one, every time."""
    wrong = []
    for round_ in range(10):
        older = api.create(caller_clid=CALLER).json_body
        api.cancel(older["session_id"])
        newer = api.create(caller_clid=CALLER).json_body
        got = api.by_clid(CALLER).json_body
        if got["session_id"] != newer["session_id"]:
            wrong.append((round_, got["session_id"], got["state"]))
        api.cancel(newer["session_id"])
    assert not wrong, f"by-clid returned an older session in {len(wrong)}/10 rounds: {wrong}"


def test_cancel_ends_the_session_with_a_cancelled_result(api: Api) -> None:
    created = api.create().json_body
    response = api.cancel(created["session_id"])
    assert response.status_code == 200
    body = response.json_body
    assert body["session_id"] == created["session_id"]
    assert body["state"] == "cancelled"
    assert body["result"]["outcome"] == "cancelled"
    assert body["result"]["amount"] == "42.50"
    assert body["result"]["currency"] == "GBP"
    assert api.get(created["session_id"]).json_body == body


def test_cancel_twice_is_a_conflict(api: Api) -> None:
    created = api.create().json_body
    api.cancel(created["session_id"])
    again = api.cancel(created["session_id"])
    assert again.status_code == 409
    assert "cancelled" in again.json_body["error"]


def test_unknown_session_is_404(api: Api) -> None:
    assert api.get("ps_000000000000000000000000").status_code == 404
    assert api.cancel("ps_000000000000000000000000").status_code == 404
    assert api.by_clid("+447700900999").status_code == 404


def test_unknown_id_containing_a_slash_answers_json_404(api: Api) -> None:
    """A session id is opaque: one with a `/` in it is still just unknown (a JSON Error)."""
    assert api.get("ps_1/2").status_code == 404
    assert api.cancel("ps_1/2").status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/pci/v1/sessions/"),
        ("POST", "/pci/v1/sessions//cancel"),
        ("GET", "/pci/v1/sessions/ps_1%2F2/cancel"),
        ("DELETE", "/pci/v1/sessions"),
        ("PUT", "/pci/v1/sessions/ps_1"),
        ("GET", "/pci/v1/sessions/ps_1/cancel"),
        ("GET", "/pci/v1/session"),
    ],
)
def test_routing_errors_under_the_api_answer_json(api: Api, method: str, path: str) -> None:
    """A client of a JSON API gets JSON errors, even for a URL or method it got wrong."""
    response = api.client.open(path, method=method)
    assert response.status_code in (404, 405)
    assert response.mimetype == "application/json", response.get_data()[:120]
    assert response.get_json()["error"]


def test_by_clid_without_clid_is_400(api: Api) -> None:
    for clid in (None, ""):
        response = api.by_clid(clid)
        assert response.status_code == 400
        assert response.json_body["field"] == "clid"


# --- Idempotency-Key ------------------------------------------------------------------------


def test_replay_with_the_same_body_returns_the_same_session(api: Api) -> None:
    first = api.create(key="order-1", caller_clid=CALLER)
    again = api.create(key="order-1", caller_clid=CALLER)
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json_body == first.json_body
    assert api.count("pci_sessions") == 1


def test_replay_with_the_same_values_spelled_differently_is_the_same_request(api: Api) -> None:
    first = api.create(key="order-1", amount="42.5").json_body
    again = api.create(key="order-1", amount="42.50")
    assert again.status_code == 200
    assert again.json_body["session_id"] == first["session_id"]


def test_replay_with_a_different_body_is_422(api: Api) -> None:
    api.create(key="order-1")
    response = api.create(key="order-1", amount="43.00")
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json_body["error"]
    assert api.count("pci_sessions") == 1


def test_two_keys_make_two_sessions(api: Api) -> None:
    one = api.create(key="order-1", caller_clid=CALLER)
    two = api.create(key="order-2", caller_clid=CALLER)
    assert (one.status_code, two.status_code) == (201, 201)
    assert one.json_body["session_id"] != two.json_body["session_id"]
    assert one.json_body["clid"] != two.json_body["clid"]
    assert api.count("pci_sessions") == 2


@pytest.mark.parametrize("key", ["", "   ", "k" * 256])
def test_bad_idempotency_key_is_400(api: Api, key: str) -> None:
    response = api.create(key=key)
    assert response.status_code == 400
    assert response.json_body["field"] == "Idempotency-Key"
    assert api.count("pci_sessions") == 0


# --- validation -----------------------------------------------------------------------------


def without(*names: str) -> dict[str, Any]:
    return {k: v for k, v in GOOD.items() if k not in names}


INVALID = [
    pytest.param(without("amount"), "amount", id="amount-missing"),
    pytest.param({**GOOD, "amount": 42.5}, "amount", id="amount-number"),
    pytest.param({**GOOD, "amount": None}, "amount", id="amount-null"),
    pytest.param({**GOOD, "amount": "abc"}, "amount", id="amount-abc"),
    pytest.param({**GOOD, "amount": "1_000"}, "amount", id="amount-underscore"),
    pytest.param({**GOOD, "amount": "4.25E+1"}, "amount", id="amount-exponent"),
    pytest.param({**GOOD, "amount": " 7 "}, "amount", id="amount-spaces"),
    pytest.param({**GOOD, "amount": ""}, "amount", id="amount-empty"),
    pytest.param({**GOOD, "amount": "0"}, "amount", id="amount-zero"),
    pytest.param({**GOOD, "amount": "0.00"}, "amount", id="amount-zero-cents"),
    pytest.param({**GOOD, "amount": "-1"}, "amount", id="amount-negative"),
    pytest.param({**GOOD, "amount": "1.234"}, "amount", id="amount-three-places"),
    pytest.param({**GOOD, "amount": "1000000.01"}, "amount", id="amount-over-limit"),
    pytest.param({**GOOD, "amount": "9" * 400}, "amount", id="amount-huge"),
    pytest.param({**GOOD, "amount": "1e400"}, "amount", id="amount-huge-exponent"),
    pytest.param({**GOOD, "amount": "NaN"}, "amount", id="amount-nan"),
    pytest.param({**GOOD, "amount": "Infinity"}, "amount", id="amount-infinity"),
    pytest.param(without("currency"), "currency", id="currency-missing"),
    pytest.param({**GOOD, "currency": "XYZ"}, "currency", id="currency-unknown"),
    pytest.param({**GOOD, "currency": 826}, "currency", id="currency-number"),
    pytest.param(without("reference"), "reference", id="reference-missing"),
    pytest.param({**GOOD, "reference": ""}, "reference", id="reference-empty"),
    pytest.param({**GOOD, "reference": "   "}, "reference", id="reference-blank"),
    pytest.param({**GOOD, "reference": "R" * 65}, "reference", id="reference-too-long"),
    pytest.param({**GOOD, "reference": 1001}, "reference", id="reference-number"),
    pytest.param({**GOOD, "description": "d" * 201}, "description", id="description-long"),
    pytest.param({**GOOD, "description": 5}, "description", id="description-number"),
    pytest.param({**GOOD, "amout": "42.50"}, "amout", id="unknown-field"),
    pytest.param({**GOOD, "caller_clid": "07700900123"}, "caller_clid", id="clid-national"),
    pytest.param({**GOOD, "caller_clid": "+0447700900"}, "caller_clid", id="clid-leading-0"),
    pytest.param({**GOOD, "caller_clid": "+4477009001231234"}, "caller_clid", id="clid-too-long"),
    pytest.param({**GOOD, "caller_clid": "+44 7700 900123"}, "caller_clid", id="clid-spaces"),
    pytest.param({**GOOD, "caller_clid": "sip:alice@example.com"}, "caller_clid", id="clid-sip"),
    pytest.param({**GOOD, "caller_clid": 447700900123}, "caller_clid", id="clid-number"),
    pytest.param({**GOOD, "caller_clid": False}, "caller_clid", id="clid-false"),
    pytest.param({**GOOD, "caller_clid": 0}, "caller_clid", id="clid-zero"),
    pytest.param({**GOOD, "caller_clid": []}, "caller_clid", id="clid-empty-list"),
    pytest.param({**GOOD, "save_card": "yes"}, "save_card", id="save-card-string"),
    pytest.param({**GOOD, "save_card": 1}, "save_card", id="save-card-number"),
    pytest.param({**GOOD, "card_token": ""}, "card_token", id="card-token-empty"),
    pytest.param({**GOOD, "card_token": "  "}, "card_token", id="card-token-blank"),
    pytest.param({**GOOD, "card_token": 42}, "card_token", id="card-token-number"),
    pytest.param({**GOOD, "max_cards": 0}, "max_cards", id="max-cards-zero"),
    pytest.param({**GOOD, "max_cards": 4}, "max_cards", id="max-cards-over-config"),
    pytest.param({**GOOD, "max_cards": True}, "max_cards", id="max-cards-true"),
    pytest.param({**GOOD, "max_cards": "2"}, "max_cards", id="max-cards-string"),
    pytest.param({**GOOD, "max_cards": 1.5}, "max_cards", id="max-cards-fraction"),
    pytest.param([GOOD], "body", id="body-list"),
    pytest.param("GOOD", "body", id="body-string"),
    pytest.param(None, "body", id="body-null"),
]


@pytest.mark.parametrize(("body", "field"), INVALID)
def test_invalid_request_is_400_naming_the_field(api: Api, body: Any, field: str) -> None:
    response = api.create(raw=json.dumps(body))
    assert response.status_code == 400, response.json_body
    assert response.json_body["field"] == field
    assert len(response.json_body["error"]) > len(field) + 2  # says what is wrong
    assert api.count("pci_sessions") == 0


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        ("amount=42.50&currency=GBP&reference=ACC-1001", "application/x-www-form-urlencoded"),
        ('{"amount": "42.50", ', "application/json"),
        (b"\xff\xfe\x00", "application/json"),
        (json.dumps(GOOD), "text/plain"),
        ("", "application/json"),
    ],
)
def test_non_json_body_is_400(api: Api, raw: Any, content_type: str) -> None:
    response = api.create(raw=raw, content_type=content_type)
    assert response.status_code == 400
    assert response.json_body["field"] == "body"


def test_unknown_field_message_lists_the_allowed_ones(api: Api) -> None:
    error = api.create(body={**GOOD, "amout": "1"}).json_body["error"]
    assert "amount" in error and "caller_clid" in error


def test_valid_optional_fields_are_accepted(api: Api) -> None:
    response = api.create(
        description="d" * 200,
        reference="R" * 64,
        save_card=True,
        currency="gbp",
        amount="1000000",
        max_cards=3,
    )
    assert response.status_code == 201
    assert response.json_body["currency"] == "GBP"
    assert response.json_body["amount"] == "1000000.00"
    assert response.json_body["reference"] == "R" * 64


# --- CLID rules, on memory and Redis -------------------------------------------------------


def test_caller_clid_is_presented_when_free(make_api: Callable[..., Api], live_state: Any) -> None:
    api = make_api(live_state)
    assert api.create(caller_clid=CALLER).json_body["clid"] == CALLER
    assert api.create(caller_clid=OTHER_CALLER).json_body["clid"] == OTHER_CALLER


def test_second_live_session_of_a_caller_gets_a_pool_clid(
    make_api: Callable[..., Api], live_state: Any
) -> None:
    api = make_api(live_state)
    clids = [api.create(caller_clid=CALLER).json_body["clid"] for _ in range(4)]
    assert clids[0] == CALLER
    assert len(set(clids)) == 4, clids
    assert set(clids[1:]) <= set(DEFAULT_POOL)


@pytest.mark.parametrize(
    "withheld", ["anonymous", "Anonymous", "", None, "restricted", "+266696687"]
)
def test_withheld_caller_gets_a_pool_clid(
    make_api: Callable[..., Api], live_state: Any, withheld: str | None
) -> None:
    api = make_api(live_state)
    fields = {"caller_clid": withheld} if withheld is not None else {}
    first = api.create(**fields).json_body["clid"]
    second = api.create(**fields).json_body["clid"]
    assert first in DEFAULT_POOL and second in DEFAULT_POOL
    assert first != second


def test_exhausted_pool_is_409_until_a_session_ends(
    make_api: Callable[..., Api], live_state: Any, clock: Clock
) -> None:
    api = make_api(live_state, clid_pool=(POOL_ONE,))
    first = api.create(caller_clid="anonymous").json_body
    assert first["clid"] == POOL_ONE
    clock.advance(seconds=1)
    full = api.create(caller_clid="anonymous")
    assert full.status_code == 409
    assert "clid" in full.json_body["error"].lower()
    own = api.create(caller_clid=CALLER).json_body  # a free own CLID needs no pool number
    assert own["clid"] == CALLER
    assert api.create(caller_clid=CALLER).status_code == 409  # its second call: pool is full
    assert api.by_clid(POOL_ONE).json_body["session_id"] == first["session_id"]
    assert api.count("pci_sessions") == 2

    api.cancel(first["session_id"])
    clock.advance(seconds=1)
    again = api.create(caller_clid="anonymous")
    assert again.status_code == 201
    assert again.json_body["clid"] == POOL_ONE
    assert api.by_clid(POOL_ONE).json_body["session_id"] == again.json_body["session_id"]


def test_caller_clid_is_free_again_after_the_session_ends(
    make_api: Callable[..., Api], live_state: Any, clock: Clock
) -> None:
    api = make_api(live_state)
    first = api.create(caller_clid=CALLER).json_body
    api.cancel(first["session_id"])
    clock.advance(seconds=1)
    assert api.create(caller_clid=CALLER).json_body["clid"] == CALLER


def test_idempotent_replay_takes_no_second_clid(
    make_api: Callable[..., Api], live_state: Any
) -> None:
    api = make_api(live_state, clid_pool=(POOL_ONE,))
    first = api.create(key="k1", caller_clid="anonymous").json_body
    for _ in range(3):
        assert api.create(key="k1", caller_clid="anonymous").json_body == first
    api.cancel(first["session_id"])
    assert api.create(key="k2", caller_clid="anonymous").json_body["clid"] == POOL_ONE


def test_live_clids_survive_a_restart(
    make_api: Callable[..., Api], make_state: Any, live_state: Any, clock: Clock
) -> None:
    """After a restart, a session created before it is still live: its CLID must not be
    handed to a new session (or the caller transferred for the first would pay the second)."""
    first = make_api(live_state).create(caller_clid=CALLER).json_body
    kind = "memory" if isinstance(live_state, MemoryState) else "redis"
    clock.advance(seconds=5)
    restarted = make_api(make_state(kind))  # a new process: new live state, same database
    assert restarted.get(first["session_id"]).json_body["state"] == "created"
    second = restarted.create(caller_clid=CALLER).json_body
    assert second["clid"] != first["clid"], "two live sessions share a presented CLID"


# --- expiry -------------------------------------------------------------------------------


def test_unused_session_expires(api: Api, clock: Clock) -> None:
    created = api.create(caller_clid=CALLER).json_body
    clock.advance(seconds=api.bridge.config.session_ttl - 1)
    assert api.get(created["session_id"]).json_body["state"] == "created"
    clock.advance(seconds=2)
    expired = api.get(created["session_id"]).json_body
    assert expired["state"] == "expired"
    assert api.by_clid(CALLER).json_body["state"] == "expired"
    assert api.cancel(created["session_id"]).status_code == 409


def test_expiry_is_seen_through_the_clid_read_too(api: Api, clock: Clock) -> None:
    api.create(caller_clid=CALLER)
    clock.advance(seconds=api.bridge.config.session_ttl + 1)
    assert api.by_clid(CALLER).json_body["state"] == "expired"


def test_expired_session_frees_its_clid(
    make_api: Callable[..., Api], live_state: Any, clock: Clock
) -> None:
    """An expired session is not live: its pool CLID is free for the next session, even if
    nobody read the old session in between."""
    api = make_api(live_state, clid_pool=(POOL_ONE,))
    old = api.create(caller_clid="anonymous").json_body
    clock.advance(seconds=api.bridge.config.session_ttl + 1)
    new = api.create(caller_clid="anonymous")
    assert new.status_code == 201, new.json_body
    assert new.json_body["clid"] == POOL_ONE
    assert api.get(old["session_id"]).json_body["state"] == "expired"


# --- stored cards -------------------------------------------------------------------------


def test_stored_card_is_charged_at_once(api: Api) -> None:
    response = api.create(card_token=api.token(), caller_clid=CALLER)
    assert response.status_code == 201
    body = response.json_body
    assert body["state"] == "completed"
    assert body["clid"] is None and body["transfer_number"] is None  # no transfer
    result = body["result"]
    assert result["outcome"] == "success"
    assert re.fullmatch(r"\d{8}", result["confirmation_code"])  # digits: a caller keys it
    assert result["card"] == {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030}
    assert result["gateway"]["name"] == "simulated"
    assert result["gateway"]["reference"]
    assert result["amount"] == "42.50" and result["currency"] == "GBP"
    assert result["attempts"] == 1
    assert api.get(body["session_id"]).json_body == body
    assert api.count("pci_gateway_charges") == 1
    assert api.count("pci_attempts") == 1


def test_unknown_token_is_declined(api: Api) -> None:
    body = api.create(card_token="tok_does_not_exist").json_body
    assert body["state"] == "failed"
    assert body["result"]["outcome"] == "declined"
    assert body["result"]["gateway"]["decline_code"] == "unknown_token"
    assert body["result"]["confirmation_code"] is None


def test_declining_token_reports_the_decline_code(api: Api) -> None:
    body = api.create(card_token=api.token("insufficient_funds")).json_body
    assert body["state"] == "failed"
    result = body["result"]
    assert result["outcome"] == "declined"
    assert result["gateway"]["decline_code"] == "insufficient_funds"
    assert result["gateway"]["message"]
    assert result["confirmation_code"] is None
    assert result["card"]["brand"] == "visa" and result["card"]["last4"] == "4242"


def test_token_with_gateway_error(api: Api) -> None:
    body = api.create(card_token=api.token("processing_error")).json_body
    assert body["state"] == "failed"
    assert body["result"]["outcome"] == "gateway_error"


def test_stored_card_replay_charges_once(api: Api) -> None:
    token = api.token()
    first = api.create(key="pay-1", card_token=token)
    again = api.create(key="pay-1", card_token=token)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json_body == first.json_body
    assert api.count("pci_sessions") == 1
    assert api.count("pci_gateway_charges") == 1
    assert api.count("pci_attempts") == 1
    other = api.create(key="pay-2", card_token=token)  # a new payment is a new charge
    assert other.status_code == 201
    assert other.json_body["session_id"] != first.json_body["session_id"]
    assert api.count("pci_gateway_charges") == 2


def test_completed_result_survives_a_restart(make_api: Callable[..., Api]) -> None:
    first = make_api()
    paid = first.create(card_token=first.token()).json_body
    cancelled = first.cancel(first.create().json_body["session_id"]).json_body
    first.bridge.close()
    second = make_api()
    assert second.get(paid["session_id"]).json_body == paid
    assert second.get(cancelled["session_id"]).json_body == cancelled
    assert second.count("pci_gateway_charges") == 1


# --- the OpenAPI document ---------------------------------------------------------------------


def test_served_document_equals_the_docs_file(api: Api) -> None:
    response = api.client.get("/pci/v1/openapi.json")
    assert response.status_code == 200
    assert response.get_json() == DOC == document()


def type_lists(node: Any, path: str = "") -> list[str]:
    """Where a schema's `type` is a list (JSON Schema / OpenAPI 3.1 only)."""
    found = []
    if isinstance(node, dict):
        if isinstance(node.get("type"), list):
            found.append(path or "/")
        for key, value in node.items():
            found += type_lists(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += type_lists(value, f"{path}/{i}")
    return found


def test_openapi_3_0_document_has_no_type_lists() -> None:
    """OpenAPI 3.0 schemas take one `type` and `nullable: true`; `type: [x, "null"]` is 3.1."""
    if DOC["openapi"].startswith("3.0"):
        assert not type_lists(DOC["components"]), (
            f"openapi {DOC['openapi']} with 3.1-style type lists at {type_lists(DOC)}"
        )


def test_document_is_valid_openapi() -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    spec = (
        validator.OpenAPIV30SpecValidator
        if DOC["openapi"].startswith("3.0")
        else validator.OpenAPIV31SpecValidator
    )
    errors = [f"{list(e.absolute_path)}: {e.message[:160]}" for e in spec(DOC).iter_errors()]
    assert not errors, f"docs/pci-bridge-openapi.json (openapi {DOC['openapi']}): {errors}"


def test_document_schemas_are_valid_json_schema() -> None:
    for name, schema in DOC["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)  # raises SchemaError naming the fault
        assert schema["type"] == "object", name


def test_document_operations_and_request_schema() -> None:
    operations = {(method, path) for path, item in DOC["paths"].items() for method in item}
    assert operations == {
        ("post", "/pci/v1/sessions"),
        ("get", "/pci/v1/sessions"),
        ("get", "/pci/v1/sessions/{session_id}"),
        ("post", "/pci/v1/sessions/{session_id}/cancel"),
        ("get", "/pci/v1/payments"),
        ("get", "/pci/v1/payments/{confirmation_code}"),
        ("get", "/pci/v1/openapi.json"),
    }
    assert DOC["security"] == [{"bearerAuth": []}]
    assert DOC["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": ANY,
    }
    for method, path in operations:
        responses = DOC["paths"][path][method]["responses"]
        if path.endswith("/openapi.json"):
            assert DOC["paths"][path][method]["security"] == [], "the document is public"
        else:
            assert "401" in responses, f"{method} {path}: 401 not documented"
    new = DOC["components"]["schemas"]["NewSession"]
    assert {
        "amount",
        "currency",
        "reference",
        "description",
        "caller_clid",
        "card_token",
        "save_card",
    } <= set(new["properties"])
    assert set(new["required"]) == {"amount", "currency", "reference"}
    assert SCHEMAS["NewSession"].is_valid(GOOD)
    assert not SCHEMAS["NewSession"].is_valid({**GOOD, "amout": "1"})
    brands = DOC["components"]["schemas"]["Session"]["properties"]["result"]["properties"]["card"][
        "properties"
    ]["brand"]["enum"]
    assert set(brands) == BRANDS == set(BRAND_NAMES)


# --- card rules (pci_bridge/cards.py) ---------------------------------------------------------


def luhn_number(prefix: str, length: int) -> str:
    """A Luhn-valid number of `length` digits starting with `prefix`."""
    body = prefix + "0" * (length - len(prefix) - 1)
    for check in "0123456789":
        if luhn_valid(body + check):
            return body + check
    raise AssertionError("unreachable")


ALL_BRANDS = tuple(BRAND_NAMES)

# (prefix, brand) for every row of the card table, at both ends of each range.
PREFIXES = [
    ("4", "visa"),
    ("49", "visa"),
    ("51", "mastercard"),
    ("55", "mastercard"),
    ("2221", "mastercard"),
    ("2500", "mastercard"),
    ("2720", "mastercard"),
    ("34", "amex"),
    ("37", "amex"),
    ("6011", "discover"),
    ("644", "discover"),
    ("649", "discover"),
    ("65", "discover"),
    ("300", "diners"),
    ("305", "diners"),
    ("36", "diners"),
    ("38", "diners"),
    ("39", "diners"),
    ("3528", "jcb"),
    ("3589", "jcb"),
    ("62", "unionpay"),
    ("50", "maestro"),
    ("56", "maestro"),
    ("58", "maestro"),
    ("6", "maestro"),
    ("6010", "maestro"),
    ("643", "maestro"),
    ("6759", "maestro"),
    ("63", "maestro"),
    ("67", "maestro"),
]
NO_BRAND = ["2220", "2721", "306", "35", "3527", "3590", "1", "7", "8", "9", "0", "33"]
LENGTHS = {
    "visa": (13, 16, 19),
    "mastercard": (16,),
    "amex": (15,),
    "discover": (16, 19),
    "diners": (14, 16, 19),
    "jcb": (16, 17, 18, 19),
    "unionpay": (16, 17, 18, 19),
    "maestro": tuple(range(12, 20)),
}
PREFIX_OF = {
    "visa": "4",
    "mastercard": "51",
    "amex": "34",
    "discover": "6011",
    "diners": "36",
    "jcb": "3530",
    "unionpay": "62",
    "maestro": "6759",
}


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("4242424242424242", True),
        ("4242424242424241", False),
        ("79927398713", True),
        ("79927398710", False),
        ("0", True),
        ("", False),
        ("4242 4242 4242 4242", False),
        ("424242424242424a", False),
    ],
)
def test_luhn(number: str, valid: bool) -> None:
    assert luhn_valid(number) is valid


def test_test_cards_pass_luhn_and_have_their_brands() -> None:
    expected = {"4": "visa", "5": "mastercard", "2": "mastercard", "3": "amex", "6": "discover"}
    for number in TEST_CARDS:
        assert luhn_valid(number), number
        brand = brand_of(number)
        assert brand is not None and brand.name == expected[number[0]], number
    assert not luhn_valid("4242424242424241")


@pytest.mark.parametrize(("prefix", "brand"), PREFIXES)
def test_brand_by_longest_prefix(prefix: str, brand: str) -> None:
    found = brand_of(prefix + "0" * (16 - len(prefix)))
    assert found is not None and found.name == brand


@pytest.mark.parametrize("prefix", NO_BRAND)
def test_no_brand_outside_the_table(prefix: str) -> None:
    assert brand_of(prefix + "0" * (16 - len(prefix))) is None


@pytest.mark.parametrize("brand", ALL_BRANDS)
def test_lengths_per_brand(brand: str) -> None:
    for length in range(10, 22):
        number = luhn_number(PREFIX_OF[brand], length)
        if length in LENGTHS[brand]:
            assert check_number(number, ALL_BRANDS).name == brand, number
        else:
            with pytest.raises(CardProblem) as problem:
                check_number(number, ALL_BRANDS)
            assert problem.value.reason == "invalid_number", number


def test_luhn_failure_is_an_invalid_number() -> None:
    with pytest.raises(CardProblem) as problem:
        check_number("4242424242424241", DEFAULT_ACCEPTED)
    assert problem.value.reason == "invalid_number"
    assert "not valid" in problem.value.spoken


@pytest.mark.parametrize(("brand", "code"), [(b, 4 if b == "amex" else 3) for b in ALL_BRANDS])
def test_security_code_length(brand: str, code: int) -> None:
    card = check_number(luhn_number(PREFIX_OF[brand], LENGTHS[brand][0]), ALL_BRANDS)
    assert card.code_length == code
    assert check_code("7" * code, card) == "7" * code
    for wrong in ("7" * (code - 1), "7" * (code + 1), "", "12a" if code == 3 else "123a"):
        with pytest.raises(CardProblem) as problem:
            check_code(wrong, card)
        assert problem.value.reason == "wrong_length"
        assert str(code) in problem.value.spoken


@pytest.mark.parametrize(
    ("entry", "today", "expected"),
    [
        ("1126", date(2026, 11, 20), (11, 2026)),  # this month: valid
        ("1126", date(2026, 11, 30), (11, 2026)),  # through the last day of the month
        ("0127", date(2026, 11, 20), (1, 2027)),
        ("1226", date(2026, 11, 1), (12, 2026)),
        ("1146", date(2026, 11, 20), (11, 2046)),  # exactly 20 years ahead
        ("0227", date(2027, 2, 28), (2, 2027)),
    ],
)
def test_valid_expiry(entry: str, today: date, expected: tuple[int, int]) -> None:
    assert check_expiry(entry, today) == expected


@pytest.mark.parametrize(
    ("entry", "today", "reason"),
    [
        ("1026", date(2026, 11, 20), "expired"),  # last month
        ("1126", date(2026, 12, 1), "expired"),  # the day after its month
        ("1225", date(2026, 1, 1), "expired"),
        ("0026", date(2026, 11, 20), "invalid_expiry"),
        ("1326", date(2026, 11, 20), "invalid_expiry"),
        ("1246", date(2026, 11, 20), "invalid_expiry"),  # more than 20 years ahead
        ("0150", date(2026, 11, 20), "invalid_expiry"),
        ("126", date(2026, 11, 20), "invalid_expiry"),
        ("12026", date(2026, 11, 20), "invalid_expiry"),
        ("12a6", date(2026, 11, 20), "invalid_expiry"),
        ("", date(2026, 11, 20), "invalid_expiry"),
    ],
)
def test_invalid_expiry(entry: str, today: date, reason: str) -> None:
    with pytest.raises(CardProblem) as problem:
        check_expiry(entry, today)
    assert problem.value.reason == reason


def test_discover_rejected_unless_accepted() -> None:
    assert "discover" not in DEFAULT_ACCEPTED
    with pytest.raises(CardProblem) as problem:
        check_number("6011111111111117", DEFAULT_ACCEPTED)
    assert problem.value.reason == "card_type_not_accepted"
    assert "Discover" in problem.value.spoken
    assert check_number("6011111111111117", (*DEFAULT_ACCEPTED, "discover")).name == "discover"


def test_default_accepted_brands() -> None:
    assert set(DEFAULT_ACCEPTED) == {"visa", "mastercard", "amex"}
    for number, brand in [
        ("4242424242424242", "visa"),
        ("5555555555554444", "mastercard"),
        ("2223003122003222", "mastercard"),
        ("378282246310005", "amex"),
    ]:
        assert check_number(number, DEFAULT_ACCEPTED).name == brand
    for brand in ("diners", "jcb", "unionpay", "maestro"):
        with pytest.raises(CardProblem) as problem:
            check_number(luhn_number(PREFIX_OF[brand], 16), DEFAULT_ACCEPTED)
        assert problem.value.reason == "card_type_not_accepted"
