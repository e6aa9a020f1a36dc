"""The payments API (pci-bridge.md): ended sessions listed for back-office screens and found by
confirmation code — 8 digits, unique, masked (brand and last four, never a card token),
filtered by status and time, paged by cursor, and every answer as the OpenAPI document says."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from werkzeug.test import TestResponse

from pci_bridge.codes import new_code, spoken
from tests.conftest import Clock
from tests.test_pci_api import DOC, Api
from tests.test_pci_api import make_api as make_api  # the fixture, shared

CALLER = "+447700900123"


def conforms(response: TestResponse, method: str, template: str) -> Any:
    """The JSON body, after checking the status and body are as the OpenAPI document says."""
    responses = DOC["paths"][template][method]["responses"]
    where = f"{method.upper()} {template} -> {response.status_code}"
    assert str(response.status_code) in responses, where
    assert response.mimetype == "application/json", where
    schema = responses[str(response.status_code)]["content"]["application/json"]["schema"]
    validator = Draft202012Validator({**schema, "components": DOC["components"]})
    body = response.get_json()
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
    assert not errors, f"{where}: {errors}"
    return body


@pytest.fixture
def api(make_api: Callable[..., Api]) -> Api:
    return make_api()


def pay(api: Api, behaviour: str = "success", **fields: Any) -> dict[str, Any]:
    body = api.create(card_token=api.token(behaviour), caller_clid=CALLER, **fields).json_body
    assert body["state"] in ("completed", "failed"), body
    return body


def listing(api: Api, **query: str) -> tuple[int, dict[str, Any]]:
    response = api.client.get("/pci/v1/payments", query_string=query)
    return response.status_code, conforms(response, "get", "/pci/v1/payments")


def found(api: Api, code: str) -> tuple[int, dict[str, Any]]:
    response = api.client.get(f"/pci/v1/payments/{code}")
    return response.status_code, conforms(response, "get", "/pci/v1/payments/{confirmation_code}")


def test_codes_are_eight_digits_spoken_in_pairs() -> None:
    codes = {new_code() for _ in range(200)}
    assert all(re.fullmatch(r"\d{8}", c) for c in codes) and len(codes) > 190
    assert spoken("12345678") == "12 34 56 78"


def test_a_payment_is_found_by_its_code_masked_with_its_history(api: Api) -> None:
    paid = pay(api, reference="ACC-1001")
    code = paid["result"]["confirmation_code"]
    status, body = found(api, code)
    assert status == 200
    assert body["session_id"] == paid["session_id"] and body["confirmation_code"] == code
    assert body["outcome"] == "success" and body["state"] == "completed"
    assert body["amount"] == "42.50" and body["reference"] == "ACC-1001"
    assert body["card"] == {"brand": "visa", "last4": "4242"}
    assert "card_token" not in str(body)
    assert [(h["n"], h["outcome"]) for h in body["history"]] == [(1, "success")]
    assert found(api, f"{code[:4]} {code[4:]}")[0] == 200  # as a caller reads it out
    assert found(api, paid["session_id"])[1]["confirmation_code"] == code  # or by its id
    live = api.create(caller_clid=CALLER).json_body  # not ended: not a payment yet
    assert found(api, live["session_id"])[0] == 404
    assert found(api, "00000000" if code != "00000000" else "00000001")[0] == 404
    assert found(api, "12ab5678")[0] == 400


def test_the_list_is_newest_first_filtered_and_paged(api: Api, clock: Clock) -> None:
    made = []
    for n in range(5):
        clock.advance(minutes=1)
        made.append(pay(api, "insufficient_funds" if n == 2 else "success", reference=f"R{n}"))
    status, body = listing(api)
    assert status == 200
    assert [p["reference"] for p in body["payments"]] == ["R4", "R3", "R2", "R1", "R0"]
    assert body["next_cursor"] is None
    # status: a state or an outcome
    assert [p["reference"] for p in listing(api, status="declined")[1]["payments"]] == ["R2"]
    assert len(listing(api, status="completed")[1]["payments"]) == 4
    # q: a code, a reference or the caller
    code = made[1]["result"]["confirmation_code"]
    assert [p["reference"] for p in listing(api, q=code)[1]["payments"]] == ["R1"]
    assert [p["reference"] for p in listing(api, q="R3")[1]["payments"]] == ["R3"]
    assert len(listing(api, q=CALLER)[1]["payments"]) == 5
    # pages
    first = listing(api, limit="2")[1]
    second = listing(api, limit="2", cursor=first["next_cursor"])[1]
    third = listing(api, limit="2", cursor=second["next_cursor"])[1]
    pages = [first, second, third]
    assert [p["reference"] for page in pages for p in page["payments"]] == [
        "R4", "R3", "R2", "R1", "R0",
    ]  # fmt: skip
    assert third["next_cursor"] is None
    # time: a date covers the whole day
    day = clock().date().isoformat()
    assert len(listing(api, **{"from": day, "to": day})[1]["payments"]) == 5
    assert listing(api, to="2000-01-01")[1]["payments"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "paid"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"limit": "500"}, "limit"),
        ({"from": "yesterday"}, "from"),
        ({"cursor": "!!!"}, "cursor"),
        ({"q": "x" * 65}, "q"),
    ],
)
def test_bad_parameters_are_400_naming_them(api: Api, query: dict[str, str], field: str) -> None:
    status, body = listing(api, **query)
    assert status == 400 and body["field"] == field


def test_the_payments_api_needs_a_key(api: Api) -> None:
    client = api.app.test_client()  # a KeyedClient: strip the key
    for path in ("/pci/v1/payments", "/pci/v1/payments/12345678"):
        answer = client.get(path, headers={"Authorization": ""})
        assert answer.status_code == 401


def test_a_repeated_code_is_drawn_again(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    first = pay(api)["result"]["confirmation_code"]
    draws = iter([first, first, "87654321"])
    monkeypatch.setattr("pci_bridge.charging.new_code", lambda: next(draws))
    monkeypatch.setattr("pci_bridge.ledger.new_code", lambda: next(draws))
    second = pay(api)["result"]["confirmation_code"]
    assert second == "87654321" != first
    assert found(api, second)[1]["confirmation_code"] == second


def test_an_older_ledger_gets_the_new_columns_filled(
    make_api: Callable[..., Api], tmp_path: Any
) -> None:
    api = make_api()
    paid = pay(api)
    with api.bridge.ledger.db.begin() as conn:  # as a ledger before revision 0002 held it
        conn.exec_driver_sql(
            "UPDATE pci_sessions SET confirmation_code = NULL, outcome = NULL, ended_ts = NULL"
        )
        conn.exec_driver_sql("UPDATE alembic_version_pci SET version_num = '0001'")
        conn.exec_driver_sql("DROP INDEX ix_pci_sessions_confirmation_code")
        conn.exec_driver_sql("DROP INDEX ix_pci_sessions_outcome")
        conn.exec_driver_sql("DROP INDEX ix_pci_sessions_ended_ts")
        conn.exec_driver_sql("ALTER TABLE pci_sessions DROP COLUMN confirmation_code")
        conn.exec_driver_sql("ALTER TABLE pci_sessions DROP COLUMN outcome")
        conn.exec_driver_sql("ALTER TABLE pci_sessions DROP COLUMN ended_ts")
        conn.exec_driver_sql("ALTER TABLE pci_sessions DROP COLUMN amount_minor")
    api.bridge.close()
    again = make_api()  # opening the ledger upgrades it
    status, body = found(again, paid["result"]["confirmation_code"])
    assert status == 200 and body["session_id"] == paid["session_id"]
    with again.bridge.ledger.db.connect() as conn:
        assert conn.exec_driver_sql("SELECT amount_minor FROM pci_sessions").scalar() == 4250


def test_a_cursor_names_a_time_with_its_zone_and_a_session(api: Api) -> None:
    import base64

    for raw in ("2026-11-30T10:00:00|ps_0123456789abcdef", "2026-11-30T10:00:00+05:00|x"):
        cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
        status, body = listing(api, cursor=cursor)
        assert status == 400 and body["field"] == "cursor", raw
