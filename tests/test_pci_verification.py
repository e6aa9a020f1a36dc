"""Zero-amount verification sessions: a card keyed on the payment leg is checked by the gateway
and saved as a token with nothing taken (a payment plan whose first payment is not today);
the token then pays later payments as any saved card does."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from tests.test_pci_voice import VISA, PciHarness, card, pci  # noqa: F401 (the fixture)

DECLINED = "4000000000009995"  # insufficient funds


def test_a_zero_amount_session_saves_the_card_and_takes_nothing(
    pci: Callable[..., PciHarness],  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    harness = pci()
    session = harness.create(amount="0", save_card=True)
    assert session["amount"] == "0.00"
    call = harness.pay(session, card())

    call.assert_hung_up_by_bridge()
    said = call.said.lower()
    assert "saving a card" in said and "no money will be taken" in said, call.said
    assert "to save the visa ending 4 2 4 2, press 1" in said, call.said
    assert "no money was taken" in said and "paying" not in said, call.said
    view = harness.view(session["session_id"])
    assert view["state"] == "completed"
    result = view["result"]
    assert result["outcome"] == "success" and result["amount"] == "0.00"
    assert result["card_token"].startswith("tok_") and result["card"]["last4"] == "4242"
    harness.assert_no_card_data(session["session_id"], VISA)
    assert not any(VISA in r.getMessage() for r in caplog.records)

    # the saved card pays a later payment
    later = harness.app.test_client().post(
        "/pci/v1/sessions",
        json={
            "amount": "25.00",
            "currency": "GBP",
            "reference": "ACC-1001/plan-1/1",
            "card_token": result["card_token"],
        },
        headers={"Idempotency-Key": "later-1"},
    )
    assert later.status_code == 201, later.get_json()
    assert later.get_json()["result"]["outcome"] == "success"


def test_a_declined_verification_saves_nothing(pci: Callable[..., PciHarness]) -> None:  # noqa: F811
    harness = pci()
    session = harness.create(amount="0.00", save_card=True, max_cards=1)
    call = harness.pay(session, card(DECLINED))

    call.assert_hung_up_by_bridge()
    assert "declined" in call.said.lower()
    result = harness.view(session["session_id"])["result"]
    assert result["outcome"] == "declined" and not result.get("card_token")


@pytest.mark.parametrize(
    "extra",
    [{}, {"save_card": False}, {"save_card": True, "card_token": "tok_abc"}],
    ids=["no-save-card", "save-card-false", "with-a-token"],
)
def test_zero_is_refused_unless_it_only_saves_a_card(
    pci: Callable[..., PciHarness],  # noqa: F811
    extra: dict[str, object],
) -> None:
    harness = pci()
    body = {"amount": "0.00", "currency": "GBP", "reference": "ACC-1", **extra}
    answer = harness.app.test_client().post("/pci/v1/sessions", json=body)
    assert answer.status_code == 400
    problem = answer.get_json()
    assert "amount" in str(problem) and "save_card" in str(problem), problem
