"""Outbound collections calls (collections.md "Contact"): placed through Twilio's REST API with
the `twilio` library (the simulated REST API over HTTP), answered by `collections_outbound`
through the voice webhooks with `AnsweredBy`, settled from the call records: a person who
pays resolves the case and removes the flag, a promise is kept on the case, voicemail hears
no account detail, no answer and busy are recorded."""

from __future__ import annotations

from ivr.collections.cases import CaseState
from ivr.phone.rest import Answer
from tests.collections_world import CALL_US, PUBLIC, TOKEN, Campaign
from tests.test_collections_intake import campaign_csv

PAYS_WITH_CARD_ON_FILE = ("1", "11#", "1", "1", "2")  # me; postcode; pay total; card; done
PROMISES = ("1", "11#", "2", "1012", "11*25#", "1")  # promise 11.25 on 10 December


def test_calls_are_placed_answered_and_settled_into_the_cases(campaign: Campaign) -> None:
    collections = campaign.collections
    collections.intake.take(campaign_csv(count=5).encode(), "calls.csv")
    rest = campaign.rest
    rest.answers("+447700900001", Answer("human", PAYS_WITH_CARD_ON_FILE))
    rest.answers("+447700900002", Answer("human", PROMISES))
    rest.answers("+447700900003", Answer("machine"))
    rest.answers("+447700900004", Answer("busy"))
    # +447700900005 never answers
    collections.tick()
    placed = {c.call.to: c.call for c in rest.pending()}
    assert len(placed) == 5
    first = placed["+447700900001"]
    assert first.url.startswith(f"{PUBLIC}/voice/outbound?campaign=default&case=")
    assert first.status_callback == f"{PUBLIC}/voice/status"
    assert first.machine_detection == "Enable" and first.from_ == CALL_US
    ran = {c.call.to: c for c in rest.run_calls(campaign.voice)}
    assert ran["+447700900004"].result is not None
    paid_call = ran["+447700900001"].result
    assert paid_call is not None
    heard = " ".join(paid_call.heard())
    assert "your account" in heard and "£11.25" in heard and "confirmation code" in heard
    # the voicemail says who called and the number, nothing of the account
    machine = " ".join(e.text for e in ran["+447700900003"].result.events if e.kind == "say")
    assert CALL_US[1:] not in machine  # spoken as digits
    assert "Example Telecom" in machine and "11.25" not in machine and "Customer" not in machine
    collections.tick()  # settles the calls from their records
    cases = {c.account: c for c in collections.cases.cases()}
    assert cases["20000001"].state is CaseState.RESOLVED
    assert not cases["20000001"].flagged
    assert cases["20000002"].state is CaseState.PROMISED
    assert cases["20000003"].state is CaseState.CONTACTING
    results = {
        account: [(k.channel, k.result) for k in collections.cases.contacts(case.id)]
        for account, case in cases.items()
    }
    assert results == {
        "20000001": [("call", "answered")],
        "20000002": [("call", "answered")],
        "20000003": [("call", "voicemail")],
        "20000004": [("call", "busy")],
        "20000005": [("call", "no_answer")],
    }
    flags = campaign.flags()
    assert not flags["20000001"] and flags["20000002"] and flags["20000005"]
    causes = [e.cause for e in collections.cases.events(cases["20000001"].id)]
    assert any(c.startswith("PaymentTaken on call CA") for c in causes)
    assert causes[-2:] == ["paid in full", "collections flag removed in billing"]


def test_an_outbound_call_for_a_case_not_being_contacted_is_ended(campaign: Campaign) -> None:
    client = campaign.app.test_client()
    answer = client.post(
        "/voice/outbound?campaign=default&case=999",
        data={"CallSid": "CA" + "9" * 32, "To": "+447700900001", "From": CALL_US},
    )
    assert answer.status_code == 403  # not signed by Twilio: refused before anything else
    from twilio.request_validator import RequestValidator

    url = f"{PUBLIC}/voice/outbound?campaign=default&case=999"
    form = {"CallSid": "CA" + "9" * 32, "To": "+447700900001", "From": CALL_US}
    signature = RequestValidator(TOKEN).compute_signature(url, form)
    answer = client.post(
        "/voice/outbound?campaign=default&case=999",
        data=form,
        headers={"X-Twilio-Signature": signature},
        base_url=PUBLIC,
    )
    assert answer.status_code == 200
    assert b"<Hangup" in answer.data and b"<Say" not in answer.data
