"""Twilio's delivery reports of text notices (collections.md "Every attempt and its result"):
a text is `sent` when Twilio takes it; its report (`POST /collections/sms/status`, signed as
every Twilio webhook) makes the case's contact `delivered`, or `failed` with Twilio's error
code; an unsigned report changes nothing."""

from __future__ import annotations

from ivr.collections.notices import SmsChannel
from ivr.collections.sms_status import SMS_STATUS_PATH
from tests.collections_world import PUBLIC, Campaign
from tests.test_collections_intake import campaign_csv


def test_delivery_reports_reach_the_cases_and_must_be_signed(campaign: Campaign) -> None:
    collections = campaign.collections
    collections.intake.take(campaign_csv(count=2).encode(), "texts.csv")
    first = collections.cases.for_account("20000001")
    second = collections.cases.for_account("20000002")
    assert first is not None and second is not None
    # the app's own channel: Twilio is asked to report to this deployment's public URL
    client = campaign.app.extensions["ivr"].collections.contacts.sms.client
    sms = SmsChannel(client, "+442071230555", PUBLIC + SMS_STATUS_PATH)
    campaign.rest.unreachable.add(second.phone)
    for case in (first, second):
        sent = sms.send(case.phone, "Example Telecom: a notice")
        assert sent.result == "sent" and sent.detail.startswith("SM")
        collections.cases.record_contact(case.id, 1, "sms", sent.result, sent.detail)
    assert [m.status_callback for m in campaign.rest.messages] == [PUBLIC + SMS_STATUS_PATH] * 2

    forged = campaign.app.test_client().post(
        SMS_STATUS_PATH,
        data={"MessageSid": campaign.rest.messages[0].sid, "MessageStatus": "failed"},
    )
    assert forged.status_code == 403
    assert campaign.rest.report_deliveries(campaign.voice) == 2
    assert campaign.rest.report_deliveries(campaign.voice) == 0  # each once
    [delivered] = collections.cases.contacts(first.id)
    assert (delivered.result, delivered.detail) == ("delivered", campaign.rest.messages[0].sid)
    [lost] = collections.cases.contacts(second.id)
    assert lost.result == "failed"
    assert lost.detail == f"{campaign.rest.messages[1].sid}: undelivered (Twilio error 30003)"


def test_a_report_that_comes_before_its_text_is_recorded_is_applied_after(
    campaign: Campaign,
) -> None:
    collections = campaign.collections
    collections.intake.take(campaign_csv(count=1).encode(), "early.csv")
    case = collections.cases.for_account("20000001")
    assert case is not None
    client = campaign.app.extensions["ivr"].collections.contacts.sms.client
    sent = SmsChannel(client, "+442071230555", PUBLIC + SMS_STATUS_PATH).send(case.phone, "Hi")
    assert campaign.rest.report_deliveries(campaign.voice) == 1  # before the contact is kept
    assert campaign.rest.refused_reports == []
    collections.cases.record_contact(case.id, 1, "sms", sent.result, sent.detail)
    collections.tick()
    [contact] = [k for k in collections.cases.contacts(case.id) if k.channel == "sms"]
    assert contact.result == "delivered"
